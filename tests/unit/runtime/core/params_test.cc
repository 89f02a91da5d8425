// MT_* parameter registry: parsing, environment validation, the generated table and its doc.
#include "runtime/core/params.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace mt::params {
namespace {

TEST(Params, ParsersAcceptWhatTheySayAndRejectTheRest) {
  EXPECT_EQ(*ParseInt("12"), 12);
  EXPECT_FALSE(ParseInt("twelve").ok());
  EXPECT_DOUBLE_EQ(*ParseDouble("0.5"), 0.5);
  EXPECT_FALSE(ParseDouble("half").ok());
  for (const char* t : {"1", "true", "YES", "on"}) EXPECT_TRUE(*ParseBool(t)) << t;
  for (const char* f : {"0", "false", "No", "off"}) EXPECT_FALSE(*ParseBool(f)) << f;
  EXPECT_FALSE(ParseBool("maybe").ok());
}

TEST(Params, ValidateEnvironmentNamesTheBadVariableAndValue) {
  ASSERT_EQ(setenv("MT_RANK", "three", 1), 0);
  absl::Status st = ValidateEnvironment();
  unsetenv("MT_RANK");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "MT_RANK: expected int (found \"three\")");
  EXPECT_TRUE(ValidateEnvironment().ok());
}

TEST(Params, UnknownVariablesAreReported) {
  ASSERT_EQ(setenv("MT_LOG_LEVLE", "debug", 1), 0);
  auto unknown = UnknownVariables();
  unsetenv("MT_LOG_LEVLE");
  EXPECT_NE(std::find(unknown.begin(), unknown.end(), "MT_LOG_LEVLE"), unknown.end());
}

TEST(Params, TableListsEveryParameterWithTypeAndDefault) {
  std::string table = MarkdownTable();
  for (const Info& info : All()) {
    EXPECT_NE(table.find(std::string(info.name)), std::string::npos) << info.name;
    EXPECT_FALSE(info.doc.empty()) << info.name;
  }
  EXPECT_NE(table.find("| `MT_LOG_LEVEL` | string | `info` |"), std::string::npos);
  EXPECT_NE(table.find("| `MT_RANK` | int | `-1` |"), std::string::npos);
}

TEST(Params, DocsFileMatchesTheRegistry) {
  std::ifstream in(std::string(MT_SOURCE_DIR) + "/docs/parameters.md");
  ASSERT_TRUE(in) << "docs/parameters.md missing: run scripts/gen-docs.sh";
  std::stringstream buf;
  buf << in.rdbuf();
  EXPECT_EQ(buf.str(), MarkdownDocument())
      << "docs/parameters.md is out of date: run scripts/gen-docs.sh";
}

TEST(Params, AccessorsReturnDefaultsWhenUnset) {
  // This binary never sets MT_LOG_TIMESTAMPS before first use.
  EXPECT_TRUE(LogTimestamps());
}

}  // namespace
}  // namespace mt::params
