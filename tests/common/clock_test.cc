#include "common/clock.h"

#include "gtest/gtest.h"

namespace kvasir {
namespace {

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock;
  absl::Time t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(absl::Milliseconds(250));
  EXPECT_EQ(clock.Now() - t0, absl::Milliseconds(250));
  clock.Set(t0);
  EXPECT_EQ(clock.Now(), t0);
}

}  // namespace
}  // namespace kvasir
