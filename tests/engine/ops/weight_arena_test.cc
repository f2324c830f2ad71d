#include "engine/ops/weight_arena.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::ops {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;

uintptr_t Address(const uint8_t* p) { return reinterpret_cast<uintptr_t>(p); }

// Requests fill a chunk in order, 64-byte aligned, and keep their bytes; a
// request larger than a chunk gets one of its own and the next small one
// continues in the chunk before it; the counters add up.
TEST(WeightArenaTest, CarvesAlignedDisjointRangesFromHugePageChunks) {
  ASSERT_OK_AND_ASSIGN(auto arena,
                       WeightArena::Create({.chunk_bytes = 4 * kMiB}));
  EXPECT_EQ(arena->allocated_bytes(), 0);
  EXPECT_EQ(arena->reserved_bytes(), 0);

  ASSERT_OK_AND_ASSIGN(uint8_t * a, arena->Allocate(100, "a"));
  ASSERT_OK_AND_ASSIGN(uint8_t * b, arena->Allocate(3000, "b"));
  EXPECT_EQ(Address(a) % (2 * kMiB), 0u);   // a chunk's start
  EXPECT_EQ(Address(b), Address(a) + 128);  // 100 rounded up to 64
  EXPECT_EQ(arena->allocated_bytes(), 128 + 3008);
  EXPECT_EQ(arena->reserved_bytes(), 4 * kMiB);

  ASSERT_OK_AND_ASSIGN(uint8_t * big, arena->Allocate(5 * kMiB + 1, "big"));
  EXPECT_EQ(Address(big) % (2 * kMiB), 0u);
  EXPECT_EQ(arena->reserved_bytes(), 4 * kMiB + 6 * kMiB);
  ASSERT_OK_AND_ASSIGN(uint8_t * c, arena->Allocate(64, "c"));
  EXPECT_EQ(Address(c), Address(b) + 3008);

  // The rest of the first chunk, exactly, still fits in it; then a new one.
  const int64_t rest = 4 * kMiB - 128 - 3008 - 64;
  ASSERT_OK_AND_ASSIGN(uint8_t * d, arena->Allocate(rest, "d"));
  EXPECT_EQ(Address(d), Address(c) + 64);
  ASSERT_OK_AND_ASSIGN(uint8_t * e, arena->Allocate(1, "e"));
  EXPECT_EQ(Address(e) % (2 * kMiB), 0u);
  EXPECT_EQ(arena->reserved_bytes(), 4 * kMiB + 6 * kMiB + 4 * kMiB);
  EXPECT_EQ(arena->allocated_bytes(), 4 * kMiB + (5 * kMiB + 64) + 64);

  // Every range holds what was written to it (ASan checks the bounds).
  struct Range {
    uint8_t* p;
    int64_t n;
  };
  const std::vector<Range> ranges = {{a, 100}, {b, 3000}, {big, 5 * kMiB + 1},
                                     {c, 64},  {d, rest}, {e, 1}};
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::memset(ranges[i].p, static_cast<int>(i + 1), ranges[i].n);
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    EXPECT_EQ(r.p[0], i + 1) << i;
    EXPECT_EQ(r.p[r.n - 1], i + 1) << i;
  }
}

TEST(WeightArenaTest, AllocateOnHugePagesStartsOnA2MiBBoundary) {
  for (int64_t bytes : {int64_t{1}, 3 * kMiB + 5}) {
    uint8_t* p = static_cast<uint8_t*>(AllocateOnHugePages(bytes));
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(Address(p) % (2 * kMiB), 0u) << bytes;
    std::memset(p, 7, bytes);
    EXPECT_EQ(p[bytes - 1], 7);
    std::free(p);
  }
  EXPECT_EQ(AllocateOnHugePages(0), nullptr);
  EXPECT_EQ(AllocateOnHugePages(-1), nullptr);
}

TEST(WeightArenaTest, BadSizesAreClearErrors) {
  EXPECT_THAT(WeightArena::Create({.chunk_bytes = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("chunk_bytes = 0 <= 0")));
  ASSERT_OK_AND_ASSIGN(auto arena, WeightArena::Create({}));
  EXPECT_THAT(arena->Allocate(0, "layers.0.wo"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers.0.wo asks for 0 bytes")));
  EXPECT_THAT(arena->Allocate(-5, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("-5 bytes (must be > 0)")));
  EXPECT_EQ(arena->reserved_bytes(), 0);
}

}  // namespace
}  // namespace kvasir::engine::ops
