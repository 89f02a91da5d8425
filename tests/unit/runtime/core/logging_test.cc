// Logging: level/subsystem parsing and filtering, and the host:pid:rank line prefix.
#include "runtime/core/logging.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace mt::log {
namespace {

TEST(Logging, ParseLevel) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel(" WARN "), Level::kWarn);
  EXPECT_FALSE(ParseLevel("loud").ok());
}

TEST(Logging, ParseSubsysMask) {
  EXPECT_EQ(*ParseSubsysMask("ALL"), ~0u);
  EXPECT_EQ(*ParseSubsysMask("comm,COLL"),
            static_cast<uint32_t>(Subsys::kComm) | static_cast<uint32_t>(Subsys::kColl));
  uint32_t all_but_data = *ParseSubsysMask("^DATA");
  EXPECT_EQ(all_but_data & static_cast<uint32_t>(Subsys::kData), 0u);
  EXPECT_NE(all_but_data & static_cast<uint32_t>(Subsys::kCkpt), 0u);
  EXPECT_FALSE(ParseSubsysMask("COMM,NOPE").ok());
}

class LoggingCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    SetSinkForTesting([this](std::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override {
    SetSinkForTesting(nullptr);
    Configure(Config{});
    SetRank(-1);
  }
  std::vector<std::string> lines_;
};

TEST_F(LoggingCapture, LineCarriesHostPidRankLevelAndSubsystem) {
  Configure(Config{Level::kInfo, ~0u, /*timestamps=*/false});
  SetRank(3);
  MT_LOG(kInfo, kComm, "ring of {} ranks", 4);
  ASSERT_EQ(lines_.size(), 1u);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::string expected =
      std::string(host) + ":" + std::to_string(getpid()) + ":3 INFO COMM ring of 4 ranks\n";
  EXPECT_EQ(lines_[0], expected);
}

TEST_F(LoggingCapture, FiltersByLevelAndSubsystem) {
  Configure(Config{Level::kWarn, static_cast<uint32_t>(Subsys::kCkpt), false});
  MT_LOG(kInfo, kCkpt, "below level");
  MT_LOG(kError, kData, "other subsystem");
  MT_LOG(kError, kCkpt, "shown");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("ERROR CKPT shown"), std::string::npos);
}

TEST_F(LoggingCapture, UnknownRankShowsDashAndTimestampIsUtc) {
  Configure(Config{Level::kInfo, ~0u, true});
  SetRank(-1);
  MT_LOG(kInfo, kInit, "hello");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].front(), '[');
  EXPECT_NE(lines_[0].find("Z] "), std::string::npos);
  EXPECT_NE(lines_[0].find(":- INFO INIT hello"), std::string::npos);
}

TEST_F(LoggingCapture, DisabledLinesAreNotFormatted) {
  Configure(Config{Level::kError, ~0u, false});
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  MT_LOG(kDebug, kTrain, "{}", count());
  EXPECT_EQ(evaluated, 0);
  EXPECT_TRUE(lines_.empty());
}

}  // namespace
}  // namespace mt::log
