// AsyncKv: parked Get/Wait complete on Set/Add/CompareSet, expire at their deadline, and
// generation namespaces can be dropped.
#include "launcher/coordinator/kv.h"

#include <gtest/gtest.h>

namespace mt::coord {
namespace {

const SteadyTime kFar = SteadyTime::max();

TEST(AsyncKv, GetParksUntilSet) {
  AsyncKv kv;
  std::optional<absl::StatusOr<std::string>> got;
  kv.Get("a", kFar, [&](absl::StatusOr<std::string> v) { got = v; });
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(kv.parked(), 1u);
  kv.Set("a", "1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(**got, "1");
  EXPECT_EQ(kv.parked(), 0u);
}

TEST(AsyncKv, WaitNeedsEveryKey) {
  AsyncKv kv;
  int calls = 0;
  absl::Status result = absl::UnknownError("not called");
  kv.Set("x", "present");
  kv.Wait({"x", "y", "z"}, kFar, [&](absl::Status s) {
    ++calls;
    result = s;
  });
  kv.Set("y", "1");
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(kv.Add("z", 5).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(result.ok());
}

TEST(AsyncKv, ExpireNamesMissingKeys) {
  AsyncKv kv;
  const SteadyTime t0 = std::chrono::steady_clock::now();
  absl::Status result;
  kv.Wait({"p", "q"}, t0 + std::chrono::seconds(1), [&](absl::Status s) { result = s; });
  kv.Set("p", "1");
  kv.Expire(t0);
  EXPECT_TRUE(result.ok());  // untouched: not yet expired
  kv.Expire(t0 + std::chrono::seconds(2));
  EXPECT_EQ(result.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(result.message().find("q"), std::string::npos);
  EXPECT_EQ(result.message().find("p,"), std::string::npos);
  kv.Set("q", "late");  // a completion never runs twice
}

TEST(AsyncKv, AddAndCompareSet) {
  AsyncKv kv;
  EXPECT_EQ(*kv.Add("n", 2), 2);
  EXPECT_EQ(*kv.Add("n", -5), -3);
  kv.Set("s", "text");
  EXPECT_EQ(kv.Add("s", 1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(kv.CompareSet("c", "", "first"), "first");
  EXPECT_EQ(kv.CompareSet("c", "wrong", "second"), "first");
  EXPECT_EQ(kv.CompareSet("c", "first", "second"), "second");
}

TEST(AsyncKv, DropPrefixAndFailAll) {
  AsyncKv kv;
  kv.Set("g1/a", "1");
  kv.Set("g2/a", "2");
  kv.DropPrefix("g1/");
  absl::StatusOr<std::string> old = absl::UnknownError("");
  kv.Get("g1/a", kFar, [&](absl::StatusOr<std::string> v) { old = v; });
  kv.FailAll(absl::UnavailableError("bye"));
  EXPECT_EQ(old.status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<std::string> kept = absl::UnknownError("");
  kv.Get("g2/a", kFar, [&](absl::StatusOr<std::string> v) { kept = v; });
  EXPECT_EQ(*kept, "2");
}

}  // namespace
}  // namespace mt::coord
