#include "engine/ops/machine_limits.h"

#include <cmath>

#include "gtest/gtest.h"

namespace kvasir::engine::ops {
namespace {

// The figures are machine-dependent; what must hold anywhere is that each
// measurement ran (a kernel that returns no work or no time gives 0 or
// inf) and that the physics is sane: no machine reads a buffer bigger than
// its caches at 10 TB/s or does 100 TFLOP/s on two CPU threads.
TEST(MachineLimitsTest, MeasuresFiniteNonZeroLimits) {
  const MachineLimits m = MeasureMachineLimits(
      {.threads = 2, .bandwidth_bytes = int64_t{64} << 20, .repetitions = 2});
  EXPECT_EQ(m.threads, 2);
  ASSERT_EQ(m.read_readings.size(), 1u);
  EXPECT_EQ(m.read_readings[0], m.read_gbps);
  for (double v : {m.read_gbps, m.f32_gflops, m.int8_gops}) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(v, 0.1);
  }
  EXPECT_LT(m.read_gbps, 10'000);
  EXPECT_LT(m.f32_gflops, 100'000);
  EXPECT_LT(m.int8_gops, 400'000);
  EXPECT_FALSE(m.fma_isa.empty());
  EXPECT_FALSE(m.int8_isa.empty());
  // bf16 only where the CPU has AVX512_BF16, and then measured.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) {
    EXPECT_EQ(m.bf16_isa, "avx512bf16");
    EXPECT_TRUE(std::isfinite(m.bf16_gflops));
    EXPECT_GT(m.bf16_gflops, 0.1);
    EXPECT_LT(m.bf16_gflops, 200'000);
  } else {
    EXPECT_EQ(m.bf16_isa, "none");
    EXPECT_EQ(m.bf16_gflops, 0);
  }
}

}  // namespace
}  // namespace kvasir::engine::ops
