#include "engine/ops/quant/quant_linear.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/model/gguf_dequant.h"
#include "engine/ops/bf16.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/weight_arena.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/ops/quant_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::quant {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Runs y = x · Wᵀ for `parts` on `isa` and checks it against the reference:
// within 1e-4 of the magnitude of the quantized math, and within the
// activation quantization's error bound of the exact f32 product.
void CheckForward(Isa isa, absl::Span<const QuantLinear::Part> parts, int64_t k,
                  int m, std::mt19937& rng) {
  // The dot kernels at every m (the batched path has its own tests).
  ASSERT_OK_AND_ASSIGN(
      auto ctx, QuantContext::Create({.isa = isa, .batched = Batched::kOff}));
  ASSERT_OK_AND_ASSIGN(auto linear,
                       QuantLinear::Create({.name = "test", .max_rows = 17},
                                           ctx.get(), parts, k));
  const std::vector<float> x = RandomX(m * k, rng);
  std::vector<float> y(static_cast<size_t>(m * linear->out_features()), NAN);
  ASSERT_OK(linear->Forward(*ctx, x.data(), m, y.data()));
  const Reference ref =
      ComputeReference(parts, k, x, m, linear->ActBlock(*ctx, m));
  for (size_t o = 0; o < y.size(); ++o) {
    ASSERT_TRUE(std::isfinite(y[o])) << o;
    const double tol = 1e-4 * ref.mag[o] + 1e-30;
    ASSERT_NEAR(y[o], ref.y[o], tol) << "output " << o;
    ASSERT_NEAR(y[o], ref.y_exact[o], ref.bound[o] + tol) << "output " << o;
  }
}

TEST(QuantLinearTest, EveryTypeEveryIsaMatchesTheReference) {
  std::mt19937 rng(7);
  for (Isa isa : SupportedIsas()) {
    for (uint32_t type : kQuantTypes) {
      const int64_t block = GetBlockInfo(type)->block_size;
      // 1 block: no full step of the kernels that pair blocks (one K-quant
      // super-block); 3 blocks: a multiple of the block but not of the SIMD
      // width (and an odd count for the kernels that pair blocks of 32); 5:
      // past the 4-block steps of the Q8_0 decode kernel, with an odd tail;
      // then 8.
      for (int64_t k : {block, 3 * block, 5 * block, 8 * block}) {
        for (int m : {1, 2, 3, 4, 5, 17}) {
          SCOPED_TRACE(absl::StrCat(IsaName(isa), " ", TypeName(type), " k=", k,
                                    " m=", m));
          const std::vector<uint8_t> w = RandomWeights(type, 37, k, rng);
          const QuantLinear::Part part{
              .type = type, .data = w.data(), .rows = 37};
          CheckForward(isa, {part}, k, m, rng);
        }
      }
    }
  }
}

TEST(QuantLinearTest, DenseTypesEveryIsa) {
  std::mt19937 rng(8);
  for (Isa isa : SupportedIsas()) {
    for (uint32_t type : {kF32, kF16, kBF16}) {
      for (int64_t k : {7, 96, 100}) {  // tails of the 8- and 16-wide loops
        for (int m : {1, 2, 3, 4, 5, 17}) {
          SCOPED_TRACE(absl::StrCat(IsaName(isa), " ", TypeName(type), " k=", k,
                                    " m=", m));
          const std::vector<uint8_t> w = RandomWeights(type, 19, k, rng);
          const QuantLinear::Part part{
              .type = type, .data = w.data(), .rows = 19};
          CheckForward(isa, {part}, k, m, rng);
        }
      }
    }
  }
}

TEST(QuantLinearTest, MixedPartsInOneLinear) {
  std::mt19937 rng(9);
  const int64_t k = 512;
  const std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 5, k, rng);
  const std::vector<uint8_t> q6k = RandomWeights(kQ6_K, 20, k, rng);
  const std::vector<uint8_t> f32 = RandomWeights(kF32, 3, k, rng);
  const std::vector<uint8_t> q8 = RandomWeights(kQ8_0, 9, k, rng);
  const QuantLinear::Part parts[] = {
      {.type = kQ4_K, .data = q4k.data(), .rows = 5},
      {.type = kQ6_K, .data = q6k.data(), .rows = 20},
      {.type = kF32, .data = f32.data(), .rows = 3},
      {.type = kQ8_0, .data = q8.data(), .rows = 9},
  };
  for (Isa isa : SupportedIsas()) {
    for (int m : {1, 2, 3, 4, 5, 17}) {
      SCOPED_TRACE(absl::StrCat(IsaName(isa), " m=", m));
      CheckForward(isa, parts, k, m, rng);
    }
  }
}

// With an arena, Create copies the parts there: the caller's bytes may
// change or go afterwards, and the products are those of a linear that
// reads the same bytes in place, bit for bit.
TEST(QuantLinearTest, ArenaHoldsACopyOfTheParts) {
  std::mt19937 rng(12);
  const int64_t k = 512;
  std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 6, k, rng);
  std::vector<uint8_t> q8 = RandomWeights(kQ8_0, 10, k, rng);
  const std::vector<uint8_t> q4k_kept = q4k, q8_kept = q8;
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({}));
  ASSERT_OK_AND_ASSIGN(auto arena, ops::WeightArena::Create({}));
  ASSERT_OK_AND_ASSIGN(
      auto copied,
      QuantLinear::Create(
          {.name = "copied", .max_rows = 17, .arena = arena.get()}, ctx.get(),
          {{.type = kQ4_K, .data = q4k.data(), .rows = 6},
           {.type = kQ8_0, .data = q8.data(), .rows = 10}},
          k));
  EXPECT_EQ(arena->allocated_bytes(),
            6 * RowBytes(kQ4_K, k) + 10 * RowBytes(kQ8_0, k));
  std::fill(q4k.begin(), q4k.end(), 0);
  q8.clear();
  q8.shrink_to_fit();
  ASSERT_OK_AND_ASSIGN(
      auto in_place,
      QuantLinear::Create({.name = "in place", .max_rows = 17}, ctx.get(),
                          {{.type = kQ4_K, .data = q4k_kept.data(), .rows = 6},
                           {.type = kQ8_0, .data = q8_kept.data(), .rows = 10}},
                          k));
  for (int m : {1, 4, 17}) {
    const std::vector<float> x = RandomX(m * k, rng);
    std::vector<float> a(static_cast<size_t>(m * 16)), b(a.size());
    ASSERT_OK(copied->Forward(*ctx, x.data(), m, a.data()));
    ASSERT_OK(in_place->Forward(*ctx, x.data(), m, b.data()));
    EXPECT_EQ(a, b) << "m = " << m;
    EXPECT_NE(a, std::vector<float>(a.size(), 0.0f));
  }
}

// The SIMD kernels compute what the scalar ones do, up to float rounding
// (1e-5 of the magnitude: they only sum in another order).
TEST(QuantLinearTest, SimdAgreesWithScalar) {
  std::mt19937 rng(10);
  const int64_t k = 1024;
  // m <= 4: the decode kernels (many rows per call); 5: the tiled ones.
  for (int m : {1, 2, 4, 5}) {
    ASSERT_OK_AND_ASSIGN(auto scalar_ctx,
                         QuantContext::Create({.isa = Isa::kScalar}));
    for (uint32_t type : kQuantTypes) {
      const std::vector<uint8_t> w = RandomWeights(type, 24, k, rng);
      const QuantLinear::Part part{.type = type, .data = w.data(), .rows = 24};
      const std::vector<float> x = RandomX(m * k, rng);
      const Reference ref = ComputeReference({part}, k, x, m);
      ASSERT_OK_AND_ASSIGN(auto scalar_linear,
                           QuantLinear::Create({.name = "s", .max_rows = m},
                                               scalar_ctx.get(), {part}, k));
      std::vector<float> want(m * 24);
      ASSERT_OK(scalar_linear->Forward(*scalar_ctx, x.data(), m, want.data()));
      for (Isa isa : SupportedIsas()) {
        if (isa == Isa::kScalar) continue;
        SCOPED_TRACE(absl::StrCat(IsaName(isa), " ", TypeName(type), " m=", m));
        ASSERT_OK_AND_ASSIGN(
            auto ctx,
            QuantContext::Create({.isa = isa, .batched = Batched::kOff}));
        ASSERT_OK_AND_ASSIGN(auto linear,
                             QuantLinear::Create({.name = "v", .max_rows = m},
                                                 ctx.get(), {part}, k));
        std::vector<float> got(m * 24);
        ASSERT_OK(linear->Forward(*ctx, x.data(), m, got.data()));
        if (const int64_t block = linear->ActBlock(*ctx, m); block != 32) {
          // Q4_K on the SIMD decode kernels: other activations than the
          // scalar kernels', so against the math on those.
          const Reference super = ComputeReference({part}, k, x, m, block);
          for (size_t o = 0; o < got.size(); ++o) {
            ASSERT_NEAR(got[o], super.y[o], 1e-5 * super.mag[o] + 1e-30) << o;
          }
          continue;
        }
        for (size_t o = 0; o < got.size(); ++o) {
          ASSERT_NEAR(got[o], want[o], 1e-5 * ref.mag[o] + 1e-30) << o;
        }
      }
    }
  }
}

// Q4_K-only and Q6_K-only linears decode (m <= 4) on AVX-512 and AVX2 with
// one activation scale per 256 values (their own
// kernels, which the tests above check against the math on those
// activations); anything else, or more rows, keeps 32.
TEST(QuantLinearTest, KQuantOnlyLinearsDecodeOnSuperBlockActivations) {
  std::mt19937 rng(12);
  const int64_t k = 512;
  const std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 8, k, rng);
  const std::vector<uint8_t> q6k = RandomWeights(kQ6_K, 8, k, rng);
  const QuantLinear::Part q4k_part{
      .type = kQ4_K, .data = q4k.data(), .rows = 8};
  const QuantLinear::Part q6k_part{
      .type = kQ6_K, .data = q6k.data(), .rows = 8};
  for (Isa isa : SupportedIsas()) {
    SCOPED_TRACE(IsaName(isa));
    ASSERT_OK_AND_ASSIGN(
        auto ctx, QuantContext::Create({.isa = isa, .batched = Batched::kOff}));
    ASSERT_OK_AND_ASSIGN(
        auto only,
        QuantLinear::Create({.name = "q4k"}, ctx.get(), {q4k_part}, k));
    ASSERT_OK_AND_ASSIGN(
        auto q6k_only,
        QuantLinear::Create({.name = "q6k"}, ctx.get(), {q6k_part}, k));
    ASSERT_OK_AND_ASSIGN(auto mixed,
                         QuantLinear::Create({.name = "mixed"}, ctx.get(),
                                             {q4k_part, q6k_part}, k));
    const int64_t want = isa == Isa::kScalar ? 32 : 256;
    for (int m : {1, 4}) {
      EXPECT_EQ(only->ActBlock(*ctx, m), want) << m;
      EXPECT_EQ(q6k_only->ActBlock(*ctx, m), want) << m;
      EXPECT_EQ(mixed->ActBlock(*ctx, m), 32) << m;
    }
    EXPECT_EQ(only->ActBlock(*ctx, 5), 32);
    EXPECT_EQ(q6k_only->ActBlock(*ctx, 5), 32);
  }
}

TEST(QuantLinearTest, Geometry) {
  std::mt19937 rng(11);
  const std::vector<uint8_t> a = RandomWeights(kQ4_K, 3, 256, rng);
  const std::vector<uint8_t> b = RandomWeights(kF16, 2, 256, rng);
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({}));
  EXPECT_NE(ctx->isa(), Isa::kAuto);
  const QuantLinear::Part parts[] = {{kQ4_K, a.data(), 3}, {kF16, b.data(), 2}};
  ASSERT_OK_AND_ASSIGN(
      auto linear, QuantLinear::Create({.name = "g"}, ctx.get(), parts, 256));
  EXPECT_EQ(linear->in_features(), 256);
  EXPECT_EQ(linear->out_features(), 5);
  EXPECT_EQ(linear->weight_bytes(), 3 * 144 + 2 * 512);
  EXPECT_EQ(linear->parts().size(), 2u);
}

TEST(QuantLinearTest, Errors) {
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({}));
  std::vector<uint8_t> w(4096);
  const QuantLinear::Part q2k{.type = kQ2_K, .data = w.data(), .rows = 1};
  EXPECT_THAT(QuantLinear::Create({.name = "l.q2"}, ctx.get(), {q2k}, 256),
              StatusIs(absl::StatusCode::kUnimplemented,
                       AllOf(HasSubstr("Q2_K"), HasSubstr("l.q2"))));
  const QuantLinear::Part q40{.type = kQ4_0, .data = w.data(), .rows = 1};
  EXPECT_THAT(QuantLinear::Create({.name = "l.k"}, ctx.get(), {q40}, 100),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("in_features = 100"), HasSubstr("32"))));
  EXPECT_THAT(QuantLinear::Create({.name = "l.z"}, ctx.get(), {q40}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("in_features = 0")));
  EXPECT_THAT(
      QuantLinear::Create({.name = "l.none"}, ctx.get(), {}, 32),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no parts")));
  const QuantLinear::Part null_part{.type = kQ4_0, .data = nullptr, .rows = 1};
  EXPECT_THAT(
      QuantLinear::Create({.name = "l.n"}, ctx.get(), {null_part}, 32),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("part 0")));
  const QuantLinear::Part empty{.type = kQ4_0, .data = w.data(), .rows = 0};
  EXPECT_THAT(
      QuantLinear::Create({.name = "l.e"}, ctx.get(), {empty}, 32),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("part 0")));
  EXPECT_THAT(
      QuantLinear::Create({.name = "l.r", .max_rows = 0}, ctx.get(), {q40}, 32),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_rows = 0")));

  ASSERT_OK_AND_ASSIGN(auto linear,
                       QuantLinear::Create({.name = "l.m", .max_rows = 4},
                                           ctx.get(), {q40}, 32));
  std::vector<float> x(5 * 32, 0.5f), y(5);
  EXPECT_THAT(linear->Forward(*ctx, x.data(), 0, y.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("m = 0"), HasSubstr("l.m"))));
  EXPECT_THAT(linear->Forward(*ctx, x.data(), 5, y.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("m = 5"), HasSubstr("max_rows = 4"))));
  EXPECT_THAT(linear->Forward(*ctx, x.data(), 4, y.data()), IsOk());
}

TEST(QuantLinearTest, IsaNamesAndDetection) {
  EXPECT_EQ(IsaName(Isa::kAvx512Vnni), "avx512-vnni");
  EXPECT_EQ(IsaName(Isa::kAvx2), "avx2");
  EXPECT_EQ(IsaName(Isa::kScalar), "scalar");
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
  EXPECT_TRUE(IsaSupported(DetectIsa()));
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({}));
  EXPECT_EQ(ctx->isa(), DetectIsa());
}

// Forward never allocates: a context that Create did not reserve for is
// refused instead of grown.
TEST(QuantLinearTest, ForwardWithAnUnreservedContextFails) {
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({}));
  ASSERT_OK_AND_ASSIGN(auto other, QuantContext::Create({}));
  std::vector<uint8_t> w(18 * 2, 0);
  const QuantLinear::Part part{.type = kQ4_0, .data = w.data(), .rows = 1};
  ASSERT_OK_AND_ASSIGN(
      auto linear, QuantLinear::Create({.name = "l.c"}, ctx.get(), {part}, 64));
  std::vector<float> x(64, 1.0f), y(1);
  EXPECT_THAT(
      linear->Forward(*other, x.data(), 1, y.data()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("l.c")));
  EXPECT_THAT(linear->Forward(*ctx, x.data(), 1, y.data()), IsOk());
}

// ---- The batched (AMX) path ---------------------------------------------

// Runs `parts` on a context forced to AMX from m = 1 and checks y against
// the exact f32 product: weights and activations are rounded to bf16
// (relative error 2^-9 each), so |y - y_exact| <= 2^-7 * Σ|w·x|.
void CheckAmx(absl::Span<const QuantLinear::Part> parts, int64_t k, int m,
              std::mt19937& rng, int max_rows = 70) {
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({.batched = Batched::kAmx,
                                                       .batched_min_rows = 1}));
  ASSERT_OK_AND_ASSIGN(
      auto linear, QuantLinear::Create({.name = "amx", .max_rows = max_rows},
                                       ctx.get(), parts, k));
  const std::vector<float> x = RandomX(m * k, rng);
  std::vector<float> y(static_cast<size_t>(m * linear->out_features()), NAN);
  ASSERT_OK(linear->Forward(*ctx, x.data(), m, y.data()));
  const Reference ref =
      ComputeReference(parts, k, x, m, linear->ActBlock(*ctx, m));
  for (size_t o = 0; o < y.size(); ++o) {
    ASSERT_TRUE(std::isfinite(y[o])) << o;
    ASSERT_NEAR(y[o], ref.y_exact[o], 0x1p-7 * ref.mag[o] + 1e-30)
        << "output " << o << " (row " << o / linear->out_features() << ")";
  }
}

constexpr uint32_t kAmxTypes[] = {kQ4_0, kQ8_0, kQ4_K, kQ6_K};

TEST(QuantLinearAmxTest, EveryCoveredTypeMatchesTheF32Product) {
  if (!AmxSupported()) GTEST_SKIP() << "this CPU or OS has no AMX";
  std::mt19937 rng(21);
  for (uint32_t type : kAmxTypes) {
    EXPECT_TRUE(BatchedCovers(type)) << TypeName(type);
    const int64_t block = GetBlockInfo(type)->block_size;
    for (int64_t k :
         {int64_t{block == 32 ? 96 : 256}, 3 * std::max<int64_t>(block, 64)}) {
      // 37 rows: two whole panels of 16 and a tail of 5.
      const std::vector<uint8_t> w = RandomWeights(type, 37, k, rng);
      const QuantLinear::Part part{.type = type, .data = w.data(), .rows = 37};
      // Tails of a 16-row tile and of a group of 4 tiles (64 rows).
      for (int m : {1, 2, 7, 15, 16, 17, 31, 33, 48, 63, 64, 65, 70}) {
        SCOPED_TRACE(absl::StrCat(TypeName(type), " k=", k, " m=", m));
        CheckAmx({part}, k, m, rng);
      }
    }
  }
}

// A Q4_K_M fused projection (Q4_K and Q6_K parts, tails inside the parts)
// and a Q8_0 part, with m past several groups of tiles.
TEST(QuantLinearAmxTest, FusedPartsAndLargeBatches) {
  if (!AmxSupported()) GTEST_SKIP() << "this CPU or OS has no AMX";
  std::mt19937 rng(22);
  const int64_t k = 1024;
  const std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 40, k, rng);
  const std::vector<uint8_t> q6k = RandomWeights(kQ6_K, 21, k, rng);
  const std::vector<uint8_t> q8 = RandomWeights(kQ8_0, 9, k, rng);
  const QuantLinear::Part parts[] = {
      {.type = kQ4_K, .data = q4k.data(), .rows = 40},
      {.type = kQ6_K, .data = q6k.data(), .rows = 21},
      {.type = kQ8_0, .data = q8.data(), .rows = 9},
  };
  for (int m : {3, 19, 64, 129, 200}) {
    SCOPED_TRACE(absl::StrCat("m=", m));
    CheckAmx(parts, k, m, rng, 200);
  }
}

// The same linear and context at different m (the packed tail rows of one
// call are stale in the next) and the dot kernels below the threshold.
TEST(QuantLinearAmxTest, ThresholdAndRepeatedCalls) {
  if (!AmxSupported()) GTEST_SKIP() << "this CPU or OS has no AMX";
  std::mt19937 rng(23);
  const int64_t k = 512;
  const std::vector<uint8_t> w = RandomWeights(kQ4_K, 24, k, rng);
  const QuantLinear::Part part{.type = kQ4_K, .data = w.data(), .rows = 24};
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({}));
  EXPECT_TRUE(ctx->amx());
  EXPECT_EQ(ctx->batched_min_rows(), QuantContext::kDefaultBatchedMinRows);
  ASSERT_OK_AND_ASSIGN(
      auto linear,
      QuantLinear::Create({.name = "t", .max_rows = 40}, ctx.get(), {part}, k));
  for (int m : {40, 1, 33, 7, 8, 17}) {
    SCOPED_TRACE(absl::StrCat("m=", m));
    const std::vector<float> x = RandomX(m * k, rng);
    std::vector<float> y(static_cast<size_t>(m * 24), NAN);
    ASSERT_OK(linear->Forward(*ctx, x.data(), m, y.data()));
    const Reference ref = ComputeReference({part}, k, x, m);
    for (size_t o = 0; o < y.size(); ++o) {
      ASSERT_NEAR(y[o], ref.y_exact[o], 0x1p-7 * ref.mag[o] + 1e-30) << o;
    }
  }
}

// A part the AMX path does not cover (F32) keeps the whole linear on the
// dot kernels at every m.
TEST(QuantLinearAmxTest, UncoveredPartUsesTheDotKernels) {
  if (!AmxSupported()) GTEST_SKIP() << "this CPU or OS has no AMX";
  EXPECT_FALSE(BatchedCovers(kF32));
  std::mt19937 rng(24);
  const int64_t k = 256;
  const std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 5, k, rng);
  const std::vector<uint8_t> f32 = RandomWeights(kF32, 3, k, rng);
  const QuantLinear::Part parts[] = {
      {.type = kQ4_K, .data = q4k.data(), .rows = 5},
      {.type = kF32, .data = f32.data(), .rows = 3},
  };
  ASSERT_OK_AND_ASSIGN(auto ctx, QuantContext::Create({.batched = Batched::kAmx,
                                                       .batched_min_rows = 1}));
  ASSERT_OK_AND_ASSIGN(
      auto linear,
      QuantLinear::Create({.name = "u", .max_rows = 17}, ctx.get(), parts, k));
  const int m = 17;
  const std::vector<float> x = RandomX(m * k, rng);
  std::vector<float> y(static_cast<size_t>(m * 8), NAN);
  ASSERT_OK(linear->Forward(*ctx, x.data(), m, y.data()));
  const Reference ref =
      ComputeReference(parts, k, x, m, linear->ActBlock(*ctx, m));
  for (size_t o = 0; o < y.size(); ++o) {
    // The int8 activations' reference, as CheckForward.
    ASSERT_NEAR(y[o], ref.y[o], 1e-4 * ref.mag[o] + 1e-30) << o;
  }
}

TEST(QuantLinearAmxTest, OptionsAndNames) {
  EXPECT_EQ(BatchedName(Batched::kAuto), "auto");
  EXPECT_EQ(BatchedName(Batched::kOff), "off");
  EXPECT_EQ(BatchedName(Batched::kAmx), "amx");
  ASSERT_OK_AND_ASSIGN(auto off,
                       QuantContext::Create({.batched = Batched::kOff}));
  EXPECT_FALSE(off->amx());
  // The AVX2 and scalar kernels never go to AMX on their own.
  ASSERT_OK_AND_ASSIGN(auto scalar,
                       QuantContext::Create({.isa = Isa::kScalar}));
  EXPECT_FALSE(scalar->amx());
  auto amx = QuantContext::Create({.batched = Batched::kAmx});
  if (AmxSupported()) {
    ASSERT_OK(amx.status());
    EXPECT_TRUE((*amx)->amx());
  } else {
    EXPECT_THAT(amx.status(),
                StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("AMX")));
  }
}

}  // namespace
}  // namespace kvasir::engine::quant
