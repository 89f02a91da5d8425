// String helpers.
#include "runtime/core/text.h"

#include "gtest/gtest.h"

namespace mt::text {
namespace {

TEST(Text, TrimSplitCase) {
  EXPECT_EQ(Trim("  a b \n"), "a b");
  EXPECT_EQ(Trim(""), "");
  auto parts = Split(" COMM, ,coll ,", ',');
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], "COMM");
  EXPECT_EQ(parts[1], "coll");
  EXPECT_EQ(Lower("AbC"), "abc");
  EXPECT_EQ(Upper("AbC"), "ABC");
}

TEST(Text, ToIntIsStrict) {
  EXPECT_EQ(ToInt("42"), 42);
  EXPECT_EQ(ToInt(" -7 "), -7);
  EXPECT_EQ(ToInt("+3"), 3);
  EXPECT_FALSE(ToInt("4.0"));
  EXPECT_FALSE(ToInt("12abc"));
  EXPECT_FALSE(ToInt(""));
  EXPECT_FALSE(ToInt("99999999999999999999"));  // overflow
}

TEST(Text, ToDoubleIsStrictAndFinite) {
  EXPECT_DOUBLE_EQ(*ToDouble("3e-4"), 3e-4);
  EXPECT_DOUBLE_EQ(*ToDouble("2"), 2.0);
  EXPECT_FALSE(ToDouble("inf"));
  EXPECT_FALSE(ToDouble("nan"));
  EXPECT_FALSE(ToDouble("1.5x"));
}

}  // namespace
}  // namespace mt::text
