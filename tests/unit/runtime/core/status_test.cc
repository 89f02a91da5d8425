// Status macros and error-domain helpers.
#include "runtime/core/status.h"

#include <fcntl.h>

#include "gtest/gtest.h"

namespace mt {
namespace {

absl::Status FailIfNegative(int v) {
  if (v < 0) return absl::InvalidArgumentError("negative");
  return absl::OkStatus();
}

absl::StatusOr<int> Double(int v) {
  if (v < 0) return absl::OutOfRangeError("cannot double a negative");
  return 2 * v;
}

// Counts how far execution got, to prove the macros return early.
absl::Status Chain(int v, int* reached) {
  MT_RETURN_IF_ERROR(FailIfNegative(v));
  *reached = 1;
  MT_ASSIGN_OR_RETURN(int doubled, Double(v - 10));
  *reached = doubled;
  return absl::OkStatus();
}

TEST(StatusMacros, ReturnIfErrorStopsAtFirstFailure) {
  int reached = 0;
  absl::Status st = Chain(-1, &reached);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reached, 0);
}

TEST(StatusMacros, AssignOrReturnPropagatesAndAssigns) {
  int reached = 0;
  EXPECT_EQ(Chain(5, &reached).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(reached, 1);
  EXPECT_TRUE(Chain(12, &reached).ok());
  EXPECT_EQ(reached, 4);
}

TEST(StatusHelpers, AnnotateKeepsCodeAndPrefixesContext) {
  absl::Status st = Annotate(absl::NotFoundError("no such shard"), "loading versions/3");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "loading versions/3: no such shard");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

absl::Status OpenMissing() {
  MT_ERRNO_CHECK(::open("/nonexistent/meshtrain", O_RDONLY), "/nonexistent/meshtrain");
  return absl::OkStatus();
}

TEST(StatusHelpers, ErrnoCheckNamesCallSubjectAndReason) {
  absl::Status st = OpenMissing();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(st.message().find("/nonexistent/meshtrain"), absl::string_view::npos);
  EXPECT_NE(st.message().find("No such file"), absl::string_view::npos);
}

// A fake foreign domain: rc 0 is success.
bool FakeOk(int rc) { return rc == 0; }
const char* FakeText(int rc) { return rc == 7 ? "device on fire" : "unknown"; }
absl::Status CallFake(int rc) {
  MT_DOMAIN_CHECK_("FAKE", rc, FakeOk, FakeText, absl::StatusCode::kInternal);
  return absl::OkStatus();
}

TEST(StatusHelpers, DomainCheckFormatsCodeTextAndExpression) {
  EXPECT_TRUE(CallFake(0).ok());
  absl::Status st = CallFake(7);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(st.message(), "FAKE error 7 (device on fire) in rc");
}

TEST(StatusHelpers, CheckAbortsOnBrokenInvariant) {
  EXPECT_DEATH({ MT_CHECK(1 + 1 == 3); }, "invariant violated: MT_CHECK\\(1 \\+ 1 == 3\\)");
}

}  // namespace
}  // namespace mt
