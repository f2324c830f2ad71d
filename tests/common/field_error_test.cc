#include "common/field_error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvasir {
namespace {

TEST(FieldErrorTest, NamesTheFieldInTheMessageAndThePayload) {
  const absl::Status s = FieldError("stopping.stop[1]", "is empty");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "stopping.stop[1]: is empty");
  EXPECT_EQ(FieldOf(s), "stopping.stop[1]");
  EXPECT_EQ(FieldOf(absl::InvalidArgumentError("x: y")), std::nullopt);
}

TEST(FieldErrorTest, RenameKeepsTheRestAndOtherPayloads) {
  absl::Status s = FieldError("prompt[3]", "7 is outside the vocabulary");
  s.SetPayload("type.example/other", absl::Cord("kept"));
  const absl::Status r = RenameField(s, "token_ids.ids[3]");
  EXPECT_EQ(r.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.message(), "token_ids.ids[3]: 7 is outside the vocabulary");
  EXPECT_EQ(FieldOf(r), "token_ids.ids[3]");
  EXPECT_EQ(r.GetPayload("type.example/other").value_or(absl::Cord()), "kept");
  // Not a field error: unchanged.
  const absl::Status other = absl::NotFoundError("no tenant");
  EXPECT_EQ(RenameField(other, "x"), other);
}

}  // namespace
}  // namespace kvasir
