#include "common/units.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseByteSizeTest, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseByteSize("512MiB", "f"), int64_t{512} << 20);
  EXPECT_EQ(*ParseByteSize("2GiB", "f"), int64_t{2} << 30);
  EXPECT_EQ(*ParseByteSize("1.5 KiB", "f"), 1536);
  EXPECT_EQ(*ParseByteSize("3MB", "f"), 3000000);
  EXPECT_EQ(*ParseByteSize("4096", "f"), 4096);
  EXPECT_EQ(*ParseByteSize("0", "f"), 0);
  EXPECT_EQ(*ParseByteSize("7B", "f"), 7);
  EXPECT_EQ(*ParseByteSize("64M", "f"), int64_t{64} << 20);
}

TEST(ParseByteSizeTest, RejectsBadInputNamingTheField) {
  EXPECT_THAT(
      ParseByteSize("12 XB", "kv_cache.capacity"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("kv_cache.capacity: '12 XB' has unknown unit 'XB'")));
  EXPECT_THAT(ParseByteSize("lots", "tenants[0].limit"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[0].limit")));
  EXPECT_THAT(ParseByteSize("-5MiB", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x: '-5MiB' is negative")));
  EXPECT_THAT(ParseByteSize("9000000TiB", "kv_cache.capacity"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kv_cache.capacity: '9000000TiB' is too "
                                 "large (at most 4194304TiB)")));
  EXPECT_THAT(
      ParseByteSize("1.5", "x"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("fraction")));
  EXPECT_THAT(ParseByteSize("1.2.3MiB", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x")));
}

TEST(FormatByteSizeTest, PicksTheLargestUnit) {
  EXPECT_EQ(FormatByteSize(100), "100B");
  EXPECT_EQ(FormatByteSize(1536), "1.5KiB");
  EXPECT_EQ(FormatByteSize(int64_t{256} << 20), "256MiB");
}

}  // namespace
}  // namespace kvasir
