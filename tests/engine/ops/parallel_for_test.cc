// ops::ParallelFor: every index once; a region of its own only when asked
// and not inside a team already (a nested region, even of one thread, was
// ~2.4 us each in the decode step: parallel_for.h).
#include "engine/ops/parallel_for.h"

#include <omp.h>

#include <atomic>
#include <cstdint>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace kvasir::engine::ops {
namespace {

TEST(ParallelForTest, RunsEveryIndexOnceInARegionWhenAsked) {
  constexpr int64_t kBegin = 5, kEnd = 1000;
  std::vector<std::atomic<int>> hits(kEnd);
  std::atomic<int> outside_region{0};
  ParallelFor(kBegin, kEnd, true, [&](int64_t i) {
    hits[i].fetch_add(1);
    if (omp_get_level() != 1) outside_region.fetch_add(1);
  });
  for (int64_t i = 0; i < kEnd; ++i) {
    EXPECT_EQ(hits[i].load(), i < kBegin ? 0 : 1) << i;
  }
  EXPECT_EQ(outside_region.load(), 0);
}

TEST(ParallelForTest, RunsInOrderOnTheCallerWhenNotAsked) {
  std::vector<int64_t> order;
  ParallelFor(0, 10, false, [&](int64_t i) {
    order.push_back(i);
    EXPECT_EQ(omp_get_level(), 0);  // no region of its own
  });
  std::vector<int64_t> expected(10);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(order, expected);
}

// Inside a team each thread's call runs inline on that thread: no nested
// region (omp_get_level() stays 1; a nested one, active or not, makes it 2).
TEST(ParallelForTest, InsideATeamEachCallRunsInlineOnItsThread) {
  constexpr int kThreads = 2;
  constexpr int64_t kN = 100;
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::atomic<int> nested{0};
#pragma omp parallel num_threads(kThreads)
  {
    const int t = omp_get_thread_num();
    ParallelFor(0, kN, true, [&](int64_t i) {
      seen[t].push_back(i);
      if (omp_get_level() != 1 || omp_get_thread_num() != t) {
        nested.fetch_add(1);
      }
    });
  }
  std::vector<int64_t> expected(kN);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(nested.load(), 0);
  // Every thread the team had ran the whole loop itself.
  for (int t = 0; t < kThreads; ++t) {
    if (!seen[t].empty()) {
      EXPECT_EQ(seen[t], expected) << t;
    }
  }
  EXPECT_EQ(seen[0], expected);
}

}  // namespace
}  // namespace kvasir::engine::ops
