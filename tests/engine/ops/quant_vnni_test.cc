// QuantLinear's batched path on panels (quant_vnni.h), forced with
// Batched::kVnni, against the double-precision reference of the int8
// activations (the dot kernels' arithmetic): the AVX-512 VNNI panels where
// the CPU has them, and the AVX2 panels (quant_panel_avx2.cc) on every
// CPU with AVX2.
#include "engine/ops/quant/quant_vnni.h"

#include <omp.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_linear.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/ops/quant_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::quant {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

// The types the panels of `isa` cover.
std::vector<uint32_t> PanelTypes(Isa isa) {
  if (isa == Isa::kAvx2) return {kQ8_0, kQ4_K, kQ6_K};
  return {kQ4_0, kQ8_0, kQ4_K, kQ6_K};
}

// The values per activation scale for m rows: 256 when the panels take
// them and every part is a K-quant (quant_vnni.h), or below the panels
// when every part is Q6_K (the AVX-512 decode kernel, quant_linear.h), else
// 32.
int64_t ActBlock(const QuantContext& ctx,
                 absl::Span<const QuantLinear::Part> parts, int m) {
  bool q6k_only = true;
  for (const QuantLinear::Part& p : parts) {
    if (p.type != kQ4_K && p.type != kQ6_K) return 32;
    q6k_only = q6k_only && p.type == kQ6_K;
  }
  if (m >= ctx.batched_min_rows()) return 256;
  return q6k_only && m <= 4 ? 256 : 32;
}

// y of `linear` for m rows of x, checked against the reference: within
// 1e-4 of the magnitude of the quantized math (as the dot kernels), and
// within the activation quantization's bound of the exact f32 product.
void CheckRows(QuantContext& ctx, const QuantLinear& linear,
               absl::Span<const QuantLinear::Part> parts, int m,
               std::mt19937& rng) {
  const int64_t k = linear.in_features();
  const std::vector<float> x = RandomX(m * k, rng);
  std::vector<float> y(static_cast<size_t>(m * linear.out_features()), NAN);
  ASSERT_OK(linear.Forward(ctx, x.data(), m, y.data()));
  const Reference ref =
      ComputeReference(parts, k, x, m, ActBlock(ctx, parts, m));
  for (size_t o = 0; o < y.size(); ++o) {
    ASSERT_TRUE(std::isfinite(y[o])) << o;
    const double tol = 1e-4 * ref.mag[o] + 1e-30;
    ASSERT_NEAR(y[o], ref.y[o], tol)
        << "output " << o << " (row " << o / linear.out_features() << ")";
    ASSERT_NEAR(y[o], ref.y_exact[o], ref.bound[o] + tol) << "output " << o;
  }
}

void CheckVnni(Isa isa, absl::Span<const QuantLinear::Part> parts, int64_t k,
               int m, std::mt19937& rng, int max_rows = 40) {
  ASSERT_OK_AND_ASSIGN(
      auto ctx,
      QuantContext::Create(
          {.isa = isa, .batched = Batched::kVnni, .batched_min_rows = 1}));
  ASSERT_TRUE(ctx->vnni());
  ASSERT_OK_AND_ASSIGN(
      auto linear, QuantLinear::Create({.name = "vnni", .max_rows = max_rows},
                                       ctx.get(), parts, k));
  CheckRows(*ctx, *linear, parts, m, rng);
}

bool HaveVnni() { return IsaSupported(Isa::kAvx512Vnni); }

// The panels of one instruction set; skipped where the CPU lacks it (every
// x86-64 CI machine has AVX2, so the AVX2 panels always run).
class QuantPanelTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam())) {
      GTEST_SKIP() << "this CPU has no " << IsaName(GetParam());
    }
  }
  Isa isa() const { return GetParam(); }
};

// A Q4_K part of 133 rows and a Q6_K part of 70, k values each: parts
// longer than one 64-row task, each ending in a short panel.
struct LongParts {
  LongParts(int64_t k, std::mt19937& rng)
      : q4k(RandomWeights(kQ4_K, 133, k, rng)),
        q6k(RandomWeights(kQ6_K, 70, k, rng)),
        parts{{{.type = kQ4_K, .data = q4k.data(), .rows = 133},
               {.type = kQ6_K, .data = q6k.data(), .rows = 70}}} {}
  std::vector<uint8_t> q4k, q6k;
  std::array<QuantLinear::Part, 2> parts;
};

TEST_P(QuantPanelTest, EveryCoveredTypeMatchesTheReference) {
  std::mt19937 rng(31);
  for (uint32_t type : PanelTypes(isa())) {
    EXPECT_TRUE(BatchedCovers(type)) << TypeName(type);
    const int64_t block = GetBlockInfo(type)->block_size;
    // k: an odd number of blocks of 32 (or super-blocks of 256).
    for (int64_t k : {block == 32 ? int64_t{96} : int64_t{256}, 3 * block,
                      block == 32 ? int64_t{544} : int64_t{1280}}) {
      // 37 rows: two chunks of 16 (four panels of 8) and a tail of 5.
      const std::vector<uint8_t> w = RandomWeights(type, 37, k, rng);
      const QuantLinear::Part part{.type = type, .data = w.data(), .rows = 37};
      // Tiles of 8 rows (2 dwords per lane) and of 16, and their tails.
      for (int m : {1, 3, 5, 8, 9, 13, 16, 17, 24, 32, 33, 40}) {
        SCOPED_TRACE(absl::StrCat(TypeName(type), " k=", k, " m=", m));
        CheckVnni(isa(), {part}, k, m, rng);
      }
    }
  }
}

// A Q4_K_M fused projection (Q4_K and Q6_K parts, tails inside the parts)
// and a Q8_0 part, with m past several tiles.
TEST_P(QuantPanelTest, FusedPartsAndLargeBatches) {
  std::mt19937 rng(32);
  const int64_t k = 1024;
  const std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 40, k, rng);
  const std::vector<uint8_t> q6k = RandomWeights(kQ6_K, 21, k, rng);
  const std::vector<uint8_t> q8 = RandomWeights(kQ8_0, 9, k, rng);
  const QuantLinear::Part parts[] = {
      {.type = kQ4_K, .data = q4k.data(), .rows = 40},
      {.type = kQ6_K, .data = q6k.data(), .rows = 21},
      {.type = kQ8_0, .data = q8.data(), .rows = 9},
  };
  for (int m : {5, 19, 64, 129}) {
    SCOPED_TRACE(absl::StrCat("m=", m));
    CheckVnni(isa(), parts, k, m, rng, 129);
  }
}

// The largest integer sums the tiles can meet: every weight at its largest
// code (Q4_K nibbles 15 with scales and mins 63, Q6_K 63 with scale 127 or
// -128, Q8_0 127 and -128) against activations all at +127 or all at -127
// (the AVX2 tiles add 16 products in an int16 lane, bounded at 30,480, and
// Q8_0's pairs at 32,512): no saturation, no wrap.
TEST_P(QuantPanelTest, ExtremeCodesDoNotOverflow) {
  const int64_t k = 512;
  constexpr int kRows = 8, kM = 16;
  for (uint32_t type : PanelTypes(isa())) {
    const int64_t row_bytes = RowBytes(type, k);
    std::vector<uint8_t> w(static_cast<size_t>(kRows * row_bytes), 0xFF);
    const int64_t block = GetBlockInfo(type)->block_size;
    const int64_t block_bytes = row_bytes / (k / block);
    for (int64_t b = 0; b < kRows * k / block; ++b) {
      uint8_t* p = w.data() + b * block_bytes;
      const bool second = b % 2 == 1;  // the other sign, where there is one
      if (type == kQ4_K) {
        PutHalf(p, 1.0f);
        PutHalf(p + 2, second ? 0.0f : 1.0f);  // d_min
      } else if (type == kQ6_K) {
        PutHalf(p + 208, 1.0f);
        std::memset(p + 192, second ? 0x80 : 0x7F, 16);  // scales -128 / 127
      } else if (type == kQ8_0) {
        PutHalf(p, 1.0f);
        std::memset(p + 2, second ? 0x80 : 0x7F, 32);  // -128 / 127
      } else {
        PutHalf(p, 1.0f);  // Q4_0: nibbles 15 (value 7)
      }
    }
    const QuantLinear::Part part{.type = type, .data = w.data(), .rows = kRows};
    ASSERT_OK_AND_ASSIGN(
        auto ctx,
        QuantContext::Create(
            {.isa = isa(), .batched = Batched::kVnni, .batched_min_rows = 1}));
    ASSERT_OK_AND_ASSIGN(auto linear,
                         QuantLinear::Create({.name = "max", .max_rows = kM},
                                             ctx.get(), {part}, k));
    for (float sign : {1.0f, -1.0f}) {
      SCOPED_TRACE(absl::StrCat(TypeName(type), " x = ", sign));
      // Rows of equal values: each quantizes to 127 (or -127) everywhere.
      const std::vector<float> x(static_cast<size_t>(kM * k), sign);
      std::vector<float> y(static_cast<size_t>(kM * kRows), NAN);
      ASSERT_OK(linear->Forward(*ctx, x.data(), kM, y.data()));
      const Reference ref =
          ComputeReference({part}, k, x, kM, linear->ActBlock(*ctx, kM));
      for (size_t o = 0; o < y.size(); ++o) {
        ASSERT_NEAR(y[o], ref.y[o], 1e-5 * ref.mag[o] + 1e-30) << o;
      }
    }
  }
}

// Parts longer than one task (64 rows: 8 panels, each prefetching the next)
// split into several, with a short panel at the end of the last; m takes
// full tiles (packed by gathers), a tail tile and two pairs of Q6_K tiles.
TEST_P(QuantPanelTest, PartsLongerThanATask) {
  std::mt19937 rng(35);
  const int64_t k = 512;
  const LongParts w(k, rng);
  const absl::Span<const QuantLinear::Part> parts = w.parts;
  for (int m : {16, 32, 50, 64}) {
    SCOPED_TRACE(absl::StrCat("m=", m));
    CheckVnni(isa(), parts, k, m, rng, 64);
  }
}

// Rows past one group of tiles (QuantLinear::VnniTask): at k = 8192 a tile
// of packed activations is 192 KiB, so a panel takes two tiles per call;
// m = 72 and 77 end in a group of one short tile (8 rows: 2 dwords per
// lane; 13 rows), and every task's last panel prefetches its first again.
TEST_P(QuantPanelTest, RowsPastOneGroupOfTiles) {
  std::mt19937 rng(36);
  const int64_t k = 8192;
  ASSERT_EQ(internal::VnniGroupTiles(k), 2);
  const LongParts w(k, rng);
  const absl::Span<const QuantLinear::Part> parts = w.parts;
  for (int m : {33, 72, 77}) {
    SCOPED_TRACE(absl::StrCat("m=", m));
    CheckVnni(isa(), parts, k, m, rng, 77);
  }
}

// The default threshold, and one linear and context at different m (the
// packed tail lanes and the decoded panels of one call are stale in the
// next), crossing between the dot kernels and the panels.
TEST_P(QuantPanelTest, ThresholdAndRepeatedCalls) {
  std::mt19937 rng(33);
  const int64_t k = 512;
  const std::vector<uint8_t> w = RandomWeights(kQ6_K, 27, k, rng);
  const QuantLinear::Part part{.type = kQ6_K, .data = w.data(), .rows = 27};
  ASSERT_OK_AND_ASSIGN(
      auto ctx,
      QuantContext::Create({.isa = isa(), .batched = Batched::kVnni}));
  EXPECT_TRUE(ctx->vnni());
  EXPECT_FALSE(ctx->amx());
  EXPECT_EQ(ctx->batched_min_rows(), QuantContext::kDefaultVnniMinRows);
  ASSERT_OK_AND_ASSIGN(
      auto linear,
      QuantLinear::Create({.name = "t", .max_rows = 40}, ctx.get(), {part}, k));
  for (int m : {40, 1, 33, 7, 4, 5, 17, 8}) {
    SCOPED_TRACE(absl::StrCat("m=", m));
    CheckRows(*ctx, *linear, {part}, m, rng);
  }
}

// A part the panels do not cover (Q5_K, F32) keeps the whole linear on the
// dot kernels at every m.
TEST_P(QuantPanelTest, UncoveredPartUsesTheDotKernels) {
  EXPECT_FALSE(BatchedCovers(kQ5_K));
  std::mt19937 rng(34);
  const int64_t k = 256;
  const std::vector<uint8_t> q4k = RandomWeights(kQ4_K, 5, k, rng);
  const std::vector<uint8_t> q5k = RandomWeights(kQ5_K, 3, k, rng);
  const std::vector<uint8_t> f32 = RandomWeights(kF32, 2, k, rng);
  const QuantLinear::Part parts[] = {
      {.type = kQ4_K, .data = q4k.data(), .rows = 5},
      {.type = kQ5_K, .data = q5k.data(), .rows = 3},
      {.type = kF32, .data = f32.data(), .rows = 2},
  };
  ASSERT_OK_AND_ASSIGN(
      auto ctx,
      QuantContext::Create(
          {.isa = isa(), .batched = Batched::kVnni, .batched_min_rows = 1}));
  ASSERT_OK_AND_ASSIGN(
      auto linear,
      QuantLinear::Create({.name = "u", .max_rows = 17}, ctx.get(), parts, k));
  CheckRows(*ctx, *linear, parts, 17, rng);
}

// The team split of a batched decode step: PrepareDecode on one thread,
// ArmDecodeSlice then DecodeSlice by each thread of a team (as 1 thread and
// as this machine's count, in a parallel region and one after the other,
// where the first slice claims every VNNI task and every byte range of the
// dot kernels) gives Forward's bits; DecodesInTeam says where.
TEST_P(QuantPanelTest, TeamSlicesMatchForwardBitForBit) {
  std::mt19937 rng(36);
  const int64_t k = 512;
  const LongParts w(k, rng);
  const absl::Span<const QuantLinear::Part> parts = w.parts;
  ASSERT_OK_AND_ASSIGN(
      auto ctx,
      QuantContext::Create({.isa = isa(), .batched = Batched::kVnni}));
  constexpr int kMaxRows = 80;
  ASSERT_OK_AND_ASSIGN(
      auto linear, QuantLinear::Create({.name = "team", .max_rows = kMaxRows},
                                       ctx.get(), parts, k));
  const int64_t out = linear->out_features();
  // Below the panels (the dot kernels' team split), at their threshold, a
  // tail tile, full tiles, and the team's largest batch.
  for (int m : {3, 8, 13, 32, 50, QuantLinear::kVnniTeamMaxRows}) {
    const std::vector<float> x = RandomX(m * k, rng);
    std::vector<float> want(static_cast<size_t>(m * out));
    ASSERT_OK(linear->Forward(*ctx, x.data(), m, want.data()));
    for (const auto& [threads, parallel] :
         {std::pair{1, false}, std::pair{omp_get_max_threads(), false},
          std::pair{omp_get_max_threads(), true}}) {
      SCOPED_TRACE(absl::StrCat("m=", m, " threads=", threads,
                                parallel ? " in a region" : " in turn"));
      ASSERT_TRUE(linear->DecodesInTeam(*ctx, m, threads));
      std::vector<float> y(want.size(), NAN);
      linear->PrepareDecode(*ctx, x.data(), m);
      if (parallel) {
#pragma omp parallel num_threads(threads)
        {
          linear->ArmDecodeSlice(*ctx, m, omp_get_thread_num(),
                                 omp_get_num_threads());
#pragma omp barrier
          linear->DecodeSlice(*ctx, x.data(), m, y.data(), omp_get_thread_num(),
                              omp_get_num_threads());
        }
      } else {
        for (int t = 0; t < threads; ++t) {
          linear->ArmDecodeSlice(*ctx, m, t, threads);
        }
        for (int t = 0; t < threads; ++t) {
          linear->DecodeSlice(*ctx, x.data(), m, y.data(), t, threads);
        }
      }
      for (size_t o = 0; o < y.size(); ++o) {
        ASSERT_EQ(std::memcmp(&y[o], &want[o], sizeof(float)), 0)
            << "output " << o << ": " << y[o] << " vs " << want[o];
      }
    }
  }
  // Between the dot kernels' 4 rows and the panels' 8, past the team's
  // largest batch (Forward's dynamic schedule), past max_rows, and more
  // threads than the context has scratches for.
  EXPECT_FALSE(linear->DecodesInTeam(*ctx, 5, 2));
  EXPECT_FALSE(
      linear->DecodesInTeam(*ctx, QuantLinear::kVnniTeamMaxRows + 1, 2));
  EXPECT_FALSE(linear->DecodesInTeam(*ctx, kMaxRows + 1, 2));
  EXPECT_FALSE(linear->DecodesInTeam(*ctx, 32, 1 << 20));
}

INSTANTIATE_TEST_SUITE_P(Isas, QuantPanelTest,
                         ::testing::Values(Isa::kAvx512Vnni, Isa::kAvx2),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return info.param == Isa::kAvx2 ? "avx2" : "vnni";
                         });

TEST(QuantLinearVnniTest, OptionsAndNames) {
  EXPECT_EQ(BatchedName(Batched::kVnni), "vnni");
  // The panels are AVX-512 VNNI or AVX2 code: the scalar Isa cannot force
  // them.
  EXPECT_THAT(
      QuantContext::Create({.isa = Isa::kScalar, .batched = Batched::kVnni})
          .status(),
      StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("vnni")));
  ASSERT_OK_AND_ASSIGN(auto scalar,
                       QuantContext::Create({.isa = Isa::kScalar}));
  EXPECT_FALSE(scalar->vnni());
  ASSERT_OK_AND_ASSIGN(auto off,
                       QuantContext::Create({.batched = Batched::kOff}));
  EXPECT_FALSE(off->vnni());
  if (IsaSupported(Isa::kAvx2)) {
    ASSERT_OK_AND_ASSIGN(auto avx2, QuantContext::Create({.isa = Isa::kAvx2}));
    EXPECT_TRUE(avx2->vnni());
    EXPECT_FALSE(avx2->amx());
  }
  if (!HaveVnni()) return;
  // kAuto: AMX where the CPU and OS allow it, else the VNNI panels.
  ASSERT_OK_AND_ASSIGN(auto automatic, QuantContext::Create({}));
  EXPECT_EQ(automatic->vnni(), !AmxSupported());
  EXPECT_EQ(automatic->amx(), AmxSupported());
  ASSERT_OK_AND_ASSIGN(
      auto forced, QuantContext::Create(
                       {.batched = Batched::kVnni, .batched_min_rows = 12}));
  EXPECT_TRUE(forced->vnni());
  EXPECT_EQ(forced->batched_min_rows(), 12);
}

}  // namespace
}  // namespace kvasir::engine::quant
