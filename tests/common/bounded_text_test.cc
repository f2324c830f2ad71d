#include "common/bounded_text.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvasir {
namespace {

TEST(BoundedTextTest, QuotedKeepsShortValuesAndCutsLongOnes) {
  EXPECT_EQ(Quoted("abc"), "'abc'");
  EXPECT_EQ(Quoted(std::string(kMaxQuotedBytes, 'x')),
            absl::StrCat("'", std::string(kMaxQuotedBytes, 'x'), "'"));
  const std::string long_value(5000, 'y');
  EXPECT_EQ(Quoted(long_value),
            absl::StrCat("'", std::string(128, 'y'), "...' (5000 bytes)"));
}

TEST(BoundedTextTest, QuotedNeverCutsInsideAUtf8Character) {
  // "é" is 2 bytes: a cut at 3 bytes would split the second one.
  EXPECT_EQ(Quoted("éééé", 3), "'é...' (8 bytes)");
}

TEST(BoundedTextTest, JoinBoundedNamesTheFirstItemsAndCountsTheRest) {
  std::vector<std::string> items;
  for (int i = 0; i < 1000; ++i) items.push_back(absl::StrCat("t", i));
  EXPECT_EQ(JoinBounded(items, ", "), "t0, t1, t2, t3, t4 ... and 995 more");
  EXPECT_EQ(JoinBounded({"a", "b"}, " + "), "a + b");
  EXPECT_EQ(JoinBounded({}, ", "), "");
  // Items themselves are bounded too.
  const std::string item = JoinBounded({std::string(100000, 'z')}, ", ");
  EXPECT_LT(item.size(), 200u);
}

TEST(BoundedTextTest, LogDetailSurvivesWithMessage) {
  const absl::Status s =
      WithLogDetail(FieldError("f", "too many"), "every offender");
  EXPECT_EQ(LogDetailOf(s), "every offender");
  const absl::Status reworded = WithMessage(s, "context: f: too many");
  EXPECT_EQ(reworded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reworded.message(), "context: f: too many");
  EXPECT_EQ(LogDetailOf(reworded), "every offender");
  EXPECT_EQ(FieldOf(reworded), "f");
  EXPECT_FALSE(LogDetailOf(absl::InvalidArgumentError("x")).has_value());
  EXPECT_TRUE(WithLogDetail(absl::OkStatus(), "d").ok());
}

}  // namespace
}  // namespace kvasir
