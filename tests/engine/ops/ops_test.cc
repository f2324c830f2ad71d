#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/ops/bf16.h"
#include "engine/ops/dense_gemv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/fast_math.h"
#include "engine/ops/linear.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/rope.h"
#include "engine/ops/spin_barrier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::ops {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f,
                          float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

float RoundBf16(float x) { return Bf16ToFloat(FloatToBf16(x)); }

float RoundF16(float x) {
  constexpr uint32_t kF16 = 1;  // ggml's type id
  uint16_t h;
  quant::QuantizeRow(kF16, &x, 1, &h);
  float back;
  quant::DequantizeRow(kF16, &h, 1, &back);
  return back;
}

// y[m, n] = x[m, k] . w[n, k]^T in double, on the inputs as a Linear of
// `dtype` sees them: bf16 rounds x and w, f16 rounds w (x stays f32).
std::vector<double> NaiveMatmul(const std::vector<float>& x,
                                const std::vector<float>& w, int m, int n,
                                int k, WeightsDtype dtype) {
  const bool bf16 = dtype == WeightsDtype::kBF16;
  const bool f16 = dtype == WeightsDtype::kF16;
  std::vector<double> y(static_cast<size_t>(m) * n);
  for (int r = 0; r < m; ++r) {
    for (int c = 0; c < n; ++c) {
      double s = 0;
      for (int i = 0; i < k; ++i) {
        float a = x[r * k + i], b = w[c * k + i];
        if (bf16) a = RoundBf16(a), b = RoundBf16(b);
        if (f16) b = RoundF16(b);
        s += double{a} * b;
      }
      y[r * n + c] = s;
    }
  }
  return y;
}

class LinearTest : public ::testing::TestWithParam<WeightsDtype> {};

TEST_P(LinearTest, MatchesNaiveMatmulForEveryRowCount) {
  const WeightsDtype dtype = GetParam();
  if (!Linear::IsSupported(dtype)) {
    // Hardware: oneDNN 2.6 needs AVX-512 for bf16; Create then returns
    // Unimplemented naming the matmul.
    GTEST_SKIP() << "no " << WeightsDtypeName(GetParam())
                 << " matmul on this CPU (oneDNN's bf16 needs AVX-512)";
  }
  // min_parallel_macs 0: oneDNN's multi-threaded kernels even at this size.
  ASSERT_OK_AND_ASSIGN(auto ctx,
                       MatmulContext::Create({.min_parallel_macs = 0}));
  constexpr int kIn = 96, kRowsA = 40, kRowsB = 24, kOut = kRowsA + kRowsB;
  const std::vector<float> w = Random(size_t{kOut} * kIn, 1);
  // Two stacked parts, as the fused projections are given.
  const Linear::WeightPart parts[] = {{w.data(), kRowsA},
                                      {w.data() + kRowsA * kIn, kRowsB}};
  Linear::Options options{
      .name = "test", .weights_dtype = dtype, .max_rows = 70};
  ASSERT_OK_AND_ASSIGN(auto linear,
                       Linear::Create(options, ctx.get(), parts, kIn));
  EXPECT_EQ(linear->in_features(), kIn);
  EXPECT_EQ(linear->out_features(), kOut);
  EXPECT_GE(linear->weight_bytes(),
            int64_t{kOut} * kIn * (dtype == WeightsDtype::kF32 ? 4 : 2));
  // (m = 70 past kMaxGemvRows: oneDNN, or for f16 the GEMV twice.)
  for (int m : {1, 2, 7, 16, 33, 70}) {
    const std::vector<float> x = Random(static_cast<size_t>(m) * kIn, 100 + m);
    std::vector<float> y(static_cast<size_t>(m) * kOut, std::nanf(""));
    ASSERT_THAT(linear->Forward(*ctx, x.data(), m, y.data()), IsOk());
    const std::vector<double> want = NaiveMatmul(x, w, m, kOut, kIn, dtype);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], want[i], 1e-4 * std::max(1.0, std::abs(want[i])))
          << "m=" << m << " i=" << i;
    }
  }
}

TEST_P(LinearTest, RowsDoNotDependOnTheOtherRows) {
  if (!Linear::IsSupported(GetParam())) {
    GTEST_SKIP() << "no " << WeightsDtypeName(GetParam())
                 << " matmul on this CPU (oneDNN's bf16 needs AVX-512)";
  }
  ASSERT_OK_AND_ASSIGN(auto ctx, MatmulContext::Create());
  constexpr int kIn = 64, kOut = 48;
  const std::vector<float> w = Random(size_t{kOut} * kIn, 2);
  const Linear::WeightPart part{w.data(), kOut};
  ASSERT_OK_AND_ASSIGN(
      auto linear,
      Linear::Create({.name = "t", .weights_dtype = GetParam(), .max_rows = 64},
                     ctx.get(), {&part, 1}, kIn));
  const std::vector<float> x = Random(size_t{37} * kIn, 3);
  std::vector<float> all(size_t{37} * kOut);
  ASSERT_THAT(linear->Forward(*ctx, x.data(), 37, all.data()), IsOk());
  std::vector<float> one(kOut);
  for (int r : {0, 17, 36}) {
    ASSERT_THAT(linear->Forward(*ctx, x.data() + r * kIn, 1, one.data()),
                IsOk());
    for (int c = 0; c < kOut; ++c) {
      EXPECT_NEAR(one[c], all[r * kOut + c], 1e-6) << "row " << r;
    }
  }
}

// Decode (m <= kMaxGemvRows) runs Kvasir's GEMV over oneDNN's blocked
// weights: the same products as the naive matmul for m = 1..5, 13 (row
// groups of 5, 4 and 4 on AVX-512; three of 4 and one of 1 on AVX2),
// kMaxGemvRows (AVX-512: 11 groups of 6 and 5) and one more (oneDNN again;
// f16: the GEMV twice), odd k (a partial k block; 120: bf16 steps of 16,
// then 8), n past a whole n block, stacked parts, on AVX-512 and on the
// forced AVX2 path (f32, f16); without AVX-512, the rows of every dtype.
TEST_P(LinearTest, DecodeGemvMatchesNaiveMatmul) {
  const WeightsDtype dtype = GetParam();
  const GemvWeights type = dtype == WeightsDtype::kBF16  ? GemvWeights::kBF16
                           : dtype == WeightsDtype::kF16 ? GemvWeights::kF16
                                                         : GemvWeights::kF32;
  if (!Linear::IsSupported(dtype)) {
    GTEST_SKIP() << "no " << WeightsDtypeName(GetParam())
                 << " matmul on this CPU (oneDNN's bf16 needs AVX-512)";
  }
  ASSERT_OK_AND_ASSIGN(auto ctx, MatmulContext::Create());
  for (bool avx2 : {false, true}) {
    const GemvIsa isa = avx2 ? GemvIsa::kAvx2 : GemvIsa::kAvx512;
    for (int k : {7, 101, 120, 256}) {
      constexpr int kRowsA = 70, kRowsB = 80, kOut = kRowsA + kRowsB;
      const std::vector<float> w = Random(size_t{kOut} * k, 5 + k);
      const Linear::WeightPart parts[] = {{w.data(), kRowsA},
                                          {w.data() + kRowsA * k, kRowsB}};
      ASSERT_OK_AND_ASSIGN(auto linear,
                           Linear::Create({.name = "t",
                                           .weights_dtype = dtype,
                                           .max_rows = kMaxGemvRows + 1,
                                           .force_avx2_gemv = avx2},
                                          ctx.get(), parts, k));
      // AVX-512: the GEMV over oneDNN's blocked layout where it has the
      // instructions, f16 always; without AVX-512 every dtype (rows layout).
      const bool avx512 = GemvSupported(GemvIsa::kAvx512, GemvWeights::kF32);
      EXPECT_EQ(linear->has_decode_gemv(), !avx512 ||
                                               type == GemvWeights::kF16 ||
                                               GemvSupported(isa, type))
          << "k=" << k << " avx2=" << avx2;
      if (type == GemvWeights::kF16 && avx2) {
        EXPECT_THAT(linear->impl_name(), HasSubstr("avx2"));
      }
      for (int m : {1, 2, 3, 4, 5, 13, kMaxGemvRows, kMaxGemvRows + 1}) {
        SCOPED_TRACE(absl::StrCat("avx2=", avx2, " k=", k, " m=", m));
        const std::vector<float> x = Random(static_cast<size_t>(m) * k, m);
        std::vector<float> y(static_cast<size_t>(m) * kOut, std::nanf(""));
        ASSERT_THAT(linear->Forward(*ctx, x.data(), m, y.data()), IsOk());
        const std::vector<double> want = NaiveMatmul(x, w, m, kOut, k, dtype);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], want[i], 1e-4 * std::max(1.0, std::abs(want[i])))
              << "i=" << i;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, LinearTest,
                         ::testing::Values(WeightsDtype::kF32,
                                           WeightsDtype::kBF16,
                                           WeightsDtype::kF16),
                         [](const auto& info) {
                           return std::string(WeightsDtypeName(info.param));
                         });

// An f16 Linear takes a file's F16 rows as they are stored, beside f32 rows
// (rounded): the same weights, bit for bit, as from their f32 values; other
// Linears refuse f16 parts.
TEST(LinearTest, F16PartsAreTakenAsStored) {
  if (!Linear::IsSupported(WeightsDtype::kF16)) {
    GTEST_SKIP() << "no F16C on this CPU";
  }
  ASSERT_OK_AND_ASSIGN(auto ctx, MatmulContext::Create());
  constexpr int kIn = 48, kRowsA = 70, kRowsB = 10, kOut = kRowsA + kRowsB;
  std::vector<float> w = Random(size_t{kOut} * kIn, 9);
  for (float& v : w) v = RoundF16(v);
  std::vector<uint16_t> a16(size_t{kRowsA} * kIn);
  quant::QuantizeRow(1, w.data(), kRowsA * kIn, a16.data());  // F16
  const float* b = w.data() + kRowsA * kIn;
  const Linear::WeightPart mixed[] = {{.rows = kRowsA, .f16 = a16.data()},
                                      {.data = b, .rows = kRowsB}};
  const Linear::WeightPart f32[] = {{w.data(), kRowsA}, {b, kRowsB}};
  const Linear::Options options{
      .name = "t", .weights_dtype = WeightsDtype::kF16, .max_rows = 8};
  ASSERT_OK_AND_ASSIGN(auto from16,
                       Linear::Create(options, ctx.get(), mixed, kIn));
  ASSERT_OK_AND_ASSIGN(auto from32,
                       Linear::Create(options, ctx.get(), f32, kIn));
  const std::vector<float> x = Random(size_t{3} * kIn, 10);
  std::vector<float> y16(size_t{3} * kOut), y32(size_t{3} * kOut);
  ASSERT_THAT(from16->Forward(*ctx, x.data(), 3, y16.data()), IsOk());
  ASSERT_THAT(from32->Forward(*ctx, x.data(), 3, y32.data()), IsOk());
  EXPECT_EQ(y16, y32);
  EXPECT_THAT(
      Linear::Create({.name = "f32", .max_rows = 8}, ctx.get(), mixed, kIn),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("only an f16 Linear takes")));
}

// With the cursors armed, a thread whose team mate never comes claims the
// mate's column blocks too: one GemvSlice call computes all of y, the bits
// of Forward.
TEST(LinearTest, GemvSliceClaimsTheBlocksOfALateThread) {
  ASSERT_OK_AND_ASSIGN(auto ctx, MatmulContext::Create());
  if (ctx->gemv_cursor_count() < 2) GTEST_SKIP() << "one OpenMP thread";
  constexpr int kIn = 40, kOut = 300, kM = 3;  // 5 column blocks of 64
  const std::vector<float> w = Random(size_t{kOut} * kIn, 11);
  const Linear::WeightPart part{w.data(), kOut};
  ASSERT_OK_AND_ASSIGN(auto linear, Linear::Create({.name = "t", .max_rows = 8},
                                                   ctx.get(), {&part, 1}, kIn));
  if (!linear->GemvInTeam(*ctx, kM)) GTEST_SKIP() << "no decode GEMV here";
  const std::vector<float> x = Random(size_t{kM} * kIn, 12);
  std::vector<float> want(size_t{kM} * kOut);
  ASSERT_THAT(linear->Forward(*ctx, x.data(), kM, want.data()), IsOk());
  for (int alone : {0, 1}) {
    std::vector<float> y(size_t{kM} * kOut, std::nanf(""));
    linear->PrepareGemv(*ctx, x.data(), kM);
    linear->ArmGemvSlice(*ctx, 0, 2);
    linear->ArmGemvSlice(*ctx, 1, 2);
    linear->GemvSlice(*ctx, x.data(), kM, y.data(), alone, 2);
    EXPECT_EQ(y, want) << "thread " << alone << " alone";
  }
}

TEST(LinearTest, KeepsABoundedCacheOfPrimitives) {
  ASSERT_OK_AND_ASSIGN(auto ctx,
                       MatmulContext::Create({.primitive_cache_size = 3}));
  constexpr int kIn = 16, kOut = 8;
  const std::vector<float> w = Random(size_t{kOut} * kIn, 4);
  const Linear::WeightPart part{w.data(), kOut};
  // oneDNN for every M (the GEMV would take them all and need none).
  ASSERT_OK_AND_ASSIGN(
      auto linear,
      Linear::Create({.name = "t", .max_rows = 8, .decode_gemv = false},
                     ctx.get(), {&part, 1}, kIn));
  EXPECT_EQ(ctx->cached_primitives(), 1);  // M = 1, made at Create
  for (int m : {2, 3, 4, 5, 1, 2, 8, 6, 7, 1}) {
    const std::vector<float> x = Random(static_cast<size_t>(m) * kIn, m);
    std::vector<float> y(static_cast<size_t>(m) * kOut);
    ASSERT_THAT(linear->Forward(*ctx, x.data(), m, y.data()), IsOk());
    const std::vector<double> want =
        NaiveMatmul(x, w, m, kOut, kIn, WeightsDtype::kF32);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-4);
    EXPECT_LE(ctx->cached_primitives(), 3);
  }
  EXPECT_EQ(ctx->cached_primitives(), 3);
}

TEST(LinearTest, LinearsOfOneShapeShareTheirPrimitives) {
  ASSERT_OK_AND_ASSIGN(auto ctx, MatmulContext::Create());
  constexpr int kIn = 32, kOut = 24, kOtherOut = 40;
  // Three "layers" of one shape with different weights, and one other shape.
  std::vector<std::vector<float>> weights;
  std::vector<std::unique_ptr<Linear>> layers;
  for (int l = 0; l < 3; ++l) {
    weights.push_back(Random(size_t{kOut} * kIn, 20 + l));
    const Linear::WeightPart part{weights.back().data(), kOut};
    ASSERT_OK_AND_ASSIGN(
        auto linear, Linear::Create({.name = absl::StrCat("layers.", l, ".w"),
                                     .max_rows = 16,
                                     .decode_gemv = false},
                                    ctx.get(), {&part, 1}, kIn));
    layers.push_back(std::move(linear));
  }
  const std::vector<float> w_other = Random(size_t{kOtherOut} * kIn, 30);
  const Linear::WeightPart other_part{w_other.data(), kOtherOut};
  ASSERT_OK_AND_ASSIGN(
      auto other,
      Linear::Create({.name = "other", .max_rows = 16, .decode_gemv = false},
                     ctx.get(), {&other_part, 1}, kIn));
  // One M = 1 primitive per shape, not per Linear.
  EXPECT_EQ(ctx->num_shapes(), 2);
  EXPECT_EQ(ctx->cached_primitives(), 2);

  // Each layer computes with its own weights through the shared primitive,
  // in any order.
  for (int m : {5, 1, 5, 9}) {
    const std::vector<float> x = Random(static_cast<size_t>(m) * kIn, 40 + m);
    for (int l : {2, 0, 1}) {
      std::vector<float> y(static_cast<size_t>(m) * kOut, std::nanf(""));
      ASSERT_THAT(layers[l]->Forward(*ctx, x.data(), m, y.data()), IsOk());
      const std::vector<double> want =
          NaiveMatmul(x, weights[l], m, kOut, kIn, WeightsDtype::kF32);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], want[i], 1e-4) << "layer " << l << " m=" << m;
      }
    }
  }
  // M = 1, 5, 9 of the layers' shape; M = 1 of the other.
  EXPECT_EQ(ctx->cached_primitives(), 4);
  std::vector<float> x(size_t{5} * kIn, 0.5f), y(size_t{5} * kOtherOut);
  ASSERT_THAT(other->Forward(*ctx, x.data(), 5, y.data()), IsOk());
  EXPECT_EQ(ctx->cached_primitives(), 5);
  EXPECT_EQ(ctx->num_shapes(), 2);

  // A Linear runs only with the context it was laid out for.
  ASSERT_OK_AND_ASSIGN(auto stranger, MatmulContext::Create());
  EXPECT_THAT(layers[0]->Forward(*stranger, x.data(), 1, y.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers.0.w: matmul with another context")));
  EXPECT_THAT(MatmulContext::Create({.primitive_cache_size = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("primitive_cache_size 0")));
}

TEST(LinearTest, RejectsBadShapesAndRowCounts) {
  ASSERT_OK_AND_ASSIGN(auto ctx, MatmulContext::Create());
  const std::vector<float> w = Random(64, 5);
  const Linear::WeightPart part{w.data(), 8};
  EXPECT_THAT(Linear::Create({.name = "layers.0.wo"}, ctx.get(), {}, 8),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers.0.wo: no weight rows")));
  EXPECT_THAT(
      Linear::Create({.name = "w"}, ctx.get(), {&part, 1}, 0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("in_features 0")));
  const Linear::WeightPart empty{w.data(), 0};
  EXPECT_THAT(Linear::Create({.name = "w"}, ctx.get(), {&empty, 1}, 8),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("weight part 0 is empty")));
  EXPECT_THAT(
      Linear::Create({.name = "w", .max_rows = 0}, ctx.get(), {&part, 1}, 8),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_rows 0")));
  ASSERT_OK_AND_ASSIGN(auto linear, Linear::Create({.name = "w", .max_rows = 4},
                                                   ctx.get(), {&part, 1}, 8));
  std::vector<float> x(5 * 8), y(5 * 8);
  EXPECT_THAT(linear->Forward(*ctx, x.data(), 5, y.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("w: 5 rows; the matmul takes 1 to 4")));
  EXPECT_THAT(
      linear->Forward(*ctx, x.data(), 0, y.data()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 rows")));
}

TEST(WeightsDtypeTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseWeightsDtype("f32", "f"), WeightsDtype::kF32);
  EXPECT_EQ(*ParseWeightsDtype("bf16", "f"), WeightsDtype::kBF16);
  EXPECT_THAT(ParseWeightsDtype("fp8", "model.weights_dtype"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.weights_dtype: 'fp8'")));
}

TEST(Bf16Test, RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between bf16 1.0 and 1.0078125: ties to even.
  EXPECT_EQ(RoundBf16(1.0f + 0x1p-8f), 1.0f);
  // 1 + 3 * 2^-8 lies halfway between 1.0078125 and 1.015625: to even.
  EXPECT_EQ(RoundBf16(1.0f + 3 * 0x1p-8f), 1.015625f);
  // Just above half way rounds up.
  EXPECT_EQ(RoundBf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0078125f);
  EXPECT_EQ(RoundBf16(-2.5f), -2.5f);
  EXPECT_EQ(RoundBf16(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(RoundBf16(std::nanf(""))));
  // The largest finite float rounds up to infinity, as in IEEE.
  EXPECT_TRUE(std::isinf(RoundBf16(std::numeric_limits<float>::max())));

  const std::vector<float> x = Random(1000, 6, -100.0f, 100.0f);
  std::vector<uint16_t> b(x.size());
  std::vector<float> back(x.size());
  FloatToBf16Row(x.data(), static_cast<int64_t>(x.size()), b.data());
  Bf16ToFloatRow(b.data(), static_cast<int64_t>(b.size()), back.data());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(b[i], FloatToBf16(x[i]));
    EXPECT_EQ(back[i], RoundBf16(x[i]));
    EXPECT_LE(std::abs(back[i] - x[i]), std::abs(x[i]) * 0x1p-8f);
  }
}

TEST(FastExpTest, IsAccurateAndSaturates) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(double{x});
    worst = std::max(worst, std::abs(FastExp(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(FastExp(0.0f), 1.0f);
  EXPECT_EQ(FastExp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(FastExp(-1000.0f), 0.0f);
  EXPECT_TRUE(std::isinf(FastExp(1000.0f)));
  EXPECT_NEAR(Silu(2.0f), 2.0 / (1.0 + std::exp(-2.0)), 1e-6);
  EXPECT_EQ(Silu(-200.0f), -0.0f);
}

TEST(ElementwiseTest, RmsNormMatchesDefinition) {
  constexpr int kRows = 300, kDim = 130;  // enough rows to go parallel
  const std::vector<float> x = Random(size_t{kRows} * kDim, 7, -3.0f, 3.0f);
  const std::vector<float> w = Random(kDim, 8, 0.5f, 1.5f);
  std::vector<float> y(x.size());
  RmsNorm(x.data(), w.data(), kRows, kDim, 1e-5f, y.data());
  for (int r = 0; r < kRows; ++r) {
    double ss = 0;
    for (int i = 0; i < kDim; ++i)
      ss += double{x[r * kDim + i]} * x[r * kDim + i];
    const double inv = 1.0 / std::sqrt(ss / kDim + 1e-5);
    for (int i = 0; i < kDim; ++i) {
      ASSERT_NEAR(y[r * kDim + i], x[r * kDim + i] * inv * w[i], 1e-5);
    }
  }
  // In place gives the same.
  std::vector<float> z = x;
  RmsNorm(z.data(), w.data(), kRows, kDim, 1e-5f, z.data());
  EXPECT_EQ(z, y);
}

TEST(ElementwiseTest, SwiGluAddAndEmbedding) {
  constexpr int kRows = 5, kF = 37;
  const std::vector<float> gu = Random(size_t{kRows} * 2 * kF, 9, -6.0f, 6.0f);
  std::vector<float> out(size_t{kRows} * kF);
  SwiGlu(gu.data(), kRows, kF, out.data());
  for (int r = 0; r < kRows; ++r) {
    for (int i = 0; i < kF; ++i) {
      const double g = gu[r * 2 * kF + i], u = gu[r * 2 * kF + kF + i];
      ASSERT_NEAR(out[r * kF + i], g / (1.0 + std::exp(-g)) * u, 1e-5);
    }
  }

  std::vector<float> a = Random(100000, 10), b = Random(100000, 11);
  std::vector<float> sum = a;
  AddInPlace(sum.data(), b.data(), static_cast<int64_t>(sum.size()));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(sum[i], a[i] + b[i]);

  const std::vector<float> table = Random(10 * 4, 12);
  const std::vector<int32_t> ids = {3, 0, 9, 3};
  std::vector<float> e(ids.size() * 4);
  EmbeddingLookup(table.data(), 4, ids, e.data());
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(e[r * 4 + i], table[ids[r] * 4 + i]);
  }
}

TEST(RopeTest, RotatesAdjacentPairsByPositionAngles) {
  constexpr int kHeadDim = 8, kHeads = 3, kStride = 30;  // padded rows
  // Positions 0, 1 and 7 come from the table, 1000 is past it.
  ASSERT_OK_AND_ASSIGN(auto rope, Rope::Create({.head_dim = kHeadDim,
                                                .theta = 500.0f,
                                                .max_rows = 4,
                                                .max_positions = 100}));
  const std::vector<int32_t> positions = {0, 1, 7, 1000};
  rope->SetPositions(positions);
  const std::vector<float> x = Random(4 * kStride, 13);
  std::vector<float> y = x;
  rope->Apply(y.data(), 4, kHeads, kStride);
  for (int r = 0; r < 4; ++r) {
    for (int h = 0; h < kHeads; ++h) {
      for (int i = 0; i < kHeadDim / 2; ++i) {
        const double a = positions[r] * std::pow(500.0, -2.0 * i / kHeadDim);
        const int o = r * kStride + h * kHeadDim + 2 * i;
        const double x0 = x[o], x1 = x[o + 1];
        EXPECT_NEAR(y[o], x0 * std::cos(a) - x1 * std::sin(a), 1e-5);
        EXPECT_NEAR(y[o + 1], x0 * std::sin(a) + x1 * std::cos(a), 1e-5);
      }
    }
    // Padding after the heads is left alone.
    for (int i = kHeads * kHeadDim; i < kStride; ++i) {
      EXPECT_EQ(y[r * kStride + i], x[r * kStride + i]);
    }
  }
  // Position 0 is the identity.
  for (int i = 0; i < kHeads * kHeadDim; ++i) EXPECT_EQ(y[i], x[i]);
}

TEST(RopeTest, NeoxPairsFreqFactorsAndLinearScaling) {
  constexpr int kHeadDim = 8, kHalf = kHeadDim / 2;
  const std::vector<float> factors = {1.0f, 2.0f, 8.0f, 0.5f};
  ASSERT_OK_AND_ASSIGN(auto rope, Rope::Create({.head_dim = kHeadDim,
                                                .theta = 500.0f,
                                                .freq_scale = 0.25f,
                                                .neox = true,
                                                .freq_factors = factors,
                                                .max_rows = 2,
                                                .max_positions = 16}));
  const std::vector<int32_t> positions = {3, 40};  // in and past the table
  rope->SetPositions(positions);
  const std::vector<float> x = Random(2 * kHeadDim, 15);
  std::vector<float> y = x;
  rope->Apply(y.data(), 2, 1, kHeadDim);
  for (int r = 0; r < 2; ++r) {
    for (int i = 0; i < kHalf; ++i) {
      // Pair (i, i + half), angle scaled and divided by its factor.
      const double a = 0.25 * positions[r] *
                       std::pow(500.0, -2.0 * i / kHeadDim) / factors[i];
      const int o = r * kHeadDim + i;
      const double x0 = x[o], x1 = x[o + kHalf];
      EXPECT_NEAR(y[o], x0 * std::cos(a) - x1 * std::sin(a), 1e-5);
      EXPECT_NEAR(y[o + kHalf], x0 * std::sin(a) + x1 * std::cos(a), 1e-5);
    }
  }
  EXPECT_THAT(Rope::Create({.head_dim = 8, .freq_factors = {1.0f, 2.0f}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("freq_factors has 2 values")));
  EXPECT_THAT(
      Rope::Create({.head_dim = 8, .freq_scale = 0.0f}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("freq_scale 0")));
}

TEST(RopeTest, TabulatedAnglesEqualComputedOnes) {
  constexpr int kHeadDim = 64, kHeads = 2, kStride = kHeads * kHeadDim;
  ASSERT_OK_AND_ASSIGN(
      auto computed,
      Rope::Create({.head_dim = kHeadDim, .max_rows = 8, .max_positions = 0}));
  ASSERT_OK_AND_ASSIGN(auto tabulated, Rope::Create({.head_dim = kHeadDim,
                                                     .max_rows = 8,
                                                     .max_positions = 2048}));
  // Inside the table, its last row, and past it.
  const std::vector<int32_t> positions = {0, 1, 7, 1000, 2047, 2048, 5000, 3};
  computed->SetPositions(positions);
  tabulated->SetPositions(positions);
  const std::vector<float> x = Random(positions.size() * kStride, 14);
  std::vector<float> a = x, b = x;
  computed->Apply(a.data(), 8, kHeads, kStride);
  tabulated->Apply(b.data(), 8, kHeads, kStride);
  EXPECT_EQ(a, b);  // bit for bit
  EXPECT_NE(a, x);
  // Positions set later replace earlier ones (no stale rows).
  const std::vector<int32_t> later = {5, 4, 3, 2, 1, 0, 9, 8};
  computed->SetPositions(later);
  tabulated->SetPositions(later);
  a = x, b = x;
  computed->Apply(a.data(), 8, kHeads, kStride);
  tabulated->Apply(b.data(), 8, kHeads, kStride);
  EXPECT_EQ(a, b);
}

TEST(RopeTest, RejectsOddHeadDimAndBadTheta) {
  EXPECT_THAT(Rope::Create({.head_dim = 7}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("head_dim 7 must be even")));
  EXPECT_THAT(
      Rope::Create({.head_dim = 8, .theta = 0.0f}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("theta 0")));
  EXPECT_THAT(Rope::Create({.head_dim = 8, .max_positions = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_positions -1")));
}

// Every thread writes its slot of a round, waits, and reads every other
// thread's slot of that round: the barrier orders them. Some rounds make
// one thread late by a millisecond, so the others run out of spins and
// sleep on the futex (and must be woken).
TEST(SpinBarrierTest, OrdersEveryRoundAndWakesSleepers) {
  constexpr int kThreads = 3, kRounds = 2000;
  SpinBarrier barrier;
  std::vector<int> slots(kThreads * kRounds, -1);
  std::atomic<int> bad{0};
#pragma omp parallel num_threads(kThreads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    for (int r = 0; r < kRounds; ++r) {
      if (r % 500 == 7 && t == r % n) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      slots[r * kThreads + t] = r;
      barrier.Wait(n);
      for (int u = 0; u < n; ++u) {
        if (slots[r * kThreads + u] != r) bad.fetch_add(1);
      }
    }
  }
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace kvasir::engine::ops
