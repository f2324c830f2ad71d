#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/ops/bf16.h"
#include "engine/ops/kv_int8.h"
#include "engine/ops/paged_attention.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::ops {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using kvcache::KvDtype;
using ::testing::HasSubstr;

// An int8 element's error bound, in units of its row's scale: half a step,
// plus float rounding of the scale and of x * 127 / max (each a relative
// 2^-24, times |q| <= 127).
constexpr double kHalfStep = 0.5 + 127 * 0x1p-22;

struct Heads {
  int n_heads;
  int n_kv_heads;
  int head_dim;
};

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// One sequence of the test: `start` cached positions, `n` new ones.
struct SeqSpec {
  int start;
  int n;
};

bool CpuRuns(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kAvx512Bf16:
      return CpuRuns(AttentionIsa::kAvx512) &&
             __builtin_cpu_supports("avx512bf16");
    case AttentionIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case AttentionIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

// Block sizes 4 (partial key chunks), 16 (one chunk per block) and 40
// (two full chunks and a partial one per block); every kernel (the vector
// ones only run head sizes that are multiples of 16, the others fall back
// to the portable code).
class PagedAttentionTest : public ::testing::TestWithParam<
                               std::tuple<Heads, KvDtype, int, AttentionIsa>> {
 protected:
  static constexpr int kLayers = 2;

  void SetUp() override {
    std::tie(heads_, dtype_, block_size_, isa_) = GetParam();
    if (!CpuRuns(isa_)) {
      GTEST_SKIP() << "this CPU cannot run " << AttentionIsaName(isa_);
    }
    layout_ = {.n_layers = kLayers,
               .n_kv_heads = heads_.n_kv_heads,
               .head_dim = heads_.head_dim,
               .block_size = block_size_,
               .dtype = dtype_};
  }

  std::unique_ptr<PagedAttention> Make(int threads) {
    auto a = PagedAttention::Create({.n_heads = heads_.n_heads,
                                     .layout = layout_,
                                     .max_rows = 1024,  // history writes
                                     .max_seqs = 8,
                                     .num_threads = threads,
                                     .min_parallel_macs = 0,
                                     .isa = isa_});
    EXPECT_THAT(a, IsOk());
    if (!a.ok()) return nullptr;
    const AttentionIsa want =
        heads_.head_dim % 16 == 0 ? isa_ : AttentionIsa::kPortable;
    EXPECT_EQ((*a)->isa(), want);
    return std::move(a).value();
  }

  // Writes the history and new tokens of `specs` into a fresh arena,
  // attends with 2 threads and checks against a dense reference, against
  // 1 thread (bit for bit) and the one-Prepare-per-step contract.
  void RunCase(const std::vector<SeqSpec>& specs);

  Heads heads_;
  KvDtype dtype_;
  int block_size_ = 4;
  AttentionIsa isa_ = AttentionIsa::kAuto;
  kvcache::KvLayout layout_;
  std::unique_ptr<kvcache::KvArena> kv_;
};

TEST_P(PagedAttentionTest, MatchesDenseCausalAttention) {
  // Decodes, chunked prefills that start mid-block, a fresh prefill longer
  // than a 16-key chunk. MHA decodes go several KV heads to a range
  // (RangeTask::heads): with 12 KV heads, all 12 on 1 thread, and 6 on 2
  // threads (7 sequences do not share out evenly over 2), which RunCase
  // compares bit for bit.
  RunCase({{0, 9}, {13, 1}, {5, 6}, {30, 3}, {3, 1}, {0, 21}, {17, 1}});
}

// Few (sequence, KV head) pairs and long contexts: the flash-decoding split
// over key ranges (MQA/GQA: one or two sequences), with decodes and short
// prefill chunks that cross blocks.
TEST_P(PagedAttentionTest, SplitLongContexts) {
  RunCase({{700, 1}});
  RunCase({{431, 3}, {200, 1}});
  RunCase({{127, 2}, {64, 1}, {300, 1}});
}

void PagedAttentionTest::RunCase(const std::vector<SeqSpec>& specs) {
  const int kBlockSize = block_size_;
  int kBlocks = 0;
  for (const SeqSpec& s : specs) {
    kBlocks += (s.start + s.n + kBlockSize - 1) / kBlockSize;
  }
  kBlocks += 3;
  {
    auto arena =
        kvcache::KvArena::Create(layout_, layout_.BlockBytes() * kBlocks);
    ASSERT_THAT(arena, IsOk());
    kv_ = std::make_unique<kvcache::KvArena>(std::move(arena).value());
  }
  const int h = heads_.n_heads, hkv = heads_.n_kv_heads, hd = heads_.head_dim;
  const int group = h / hkv;
  const int kv_width = hkv * hd;
  std::mt19937 rng(42);

  // Blocks scattered over the arena.
  std::vector<int32_t> ids(kBlocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<std::vector<int32_t>> tables;
  size_t next = 0;
  for (const SeqSpec& s : specs) {
    const int n_blocks = (s.start + s.n + kBlockSize - 1) / kBlockSize;
    tables.emplace_back(ids.begin() + next, ids.begin() + next + n_blocks);
    next += n_blocks;
  }

  // K/V of every position of every sequence, and the new tokens' queries.
  std::vector<std::vector<float>> k_all, v_all;
  for (const SeqSpec& s : specs) {
    k_all.push_back(Random(size_t(s.start + s.n) * kv_width, rng));
    v_all.push_back(Random(size_t(s.start + s.n) * kv_width, rng));
  }

  std::unique_ptr<PagedAttention> attention = Make(2);
  ASSERT_NE(attention, nullptr);
  // History: earlier positions written by earlier calls, into layer 1; the
  // same blocks' layer 0 gets unrelated values that must not leak in.
  {
    std::vector<PagedAttention::Sequence> hist;
    std::vector<float> k_rows, v_rows;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].start == 0) continue;
      hist.push_back({.row = static_cast<int32_t>(k_rows.size() / kv_width),
                      .n_new = specs[i].start,
                      .start_pos = 0,
                      .block_table = tables[i].data()});
      k_rows.insert(k_rows.end(), k_all[i].begin(),
                    k_all[i].begin() + specs[i].start * kv_width);
      v_rows.insert(v_rows.end(), v_all[i].begin(),
                    v_all[i].begin() + specs[i].start * kv_width);
    }
    ASSERT_THAT(attention->WriteKv(1, hist, k_rows.data(), v_rows.data(),
                                   kv_width, *kv_),
                IsOk());
    const std::vector<float> noise = Random(k_rows.size(), rng, 50.0f);
    ASSERT_THAT(
        attention->WriteKv(0, hist, noise.data(), noise.data(), kv_width, *kv_),
        IsOk());
  }

  // This call: new tokens' K/V (row stride padded) and queries.
  std::vector<PagedAttention::Sequence> seqs;
  int rows = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    seqs.push_back({.row = rows,
                    .n_new = specs[i].n,
                    .start_pos = specs[i].start,
                    .block_table = tables[i].data()});
    rows += specs[i].n;
  }
  const int64_t kv_stride = kv_width + 3;
  std::vector<float> k_new(size_t(rows) * kv_stride), v_new(k_new.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    for (int j = 0; j < specs[i].n; ++j) {
      const float* ks = k_all[i].data() + (specs[i].start + j) * kv_width;
      const float* vs = v_all[i].data() + (specs[i].start + j) * kv_width;
      std::copy(ks, ks + kv_width,
                k_new.data() + (seqs[i].row + j) * kv_stride);
      std::copy(vs, vs + kv_width,
                v_new.data() + (seqs[i].row + j) * kv_stride);
    }
  }
  const int64_t q_stride = h * hd + 5;
  const std::vector<float> q = Random(size_t(rows) * q_stride, rng, 2.0f);
  ASSERT_THAT(
      attention->WriteKv(1, seqs, k_new.data(), v_new.data(), kv_stride, *kv_),
      IsOk());
  std::vector<float> out(size_t(rows) * h * hd, std::nanf(""));
  ASSERT_THAT(attention->Attend(1, seqs, q.data(), q_stride, *kv_, out.data()),
              IsOk());

  // Element e of KV head g's K (kv = 0) or V (kv = 1) row at position p of
  // sequence i, as the cache holds it (int8: the row times its scale).
  auto cached = [&](size_t i, int kv, int p, int g, int e) -> double {
    const int32_t blk = tables[i][p / kBlockSize];
    const int slot = p % kBlockSize;
    const int off = slot * hd + e;
    switch (dtype_) {
      case KvDtype::kF32:
        return kv_->head<float>(blk, 1, kv, g)[off];
      case KvDtype::kBF16:
        return Bf16ToFloat(kv_->head<uint16_t>(blk, 1, kv, g)[off]);
      case KvDtype::kInt8:
        return static_cast<double>(kv_->head<int8_t>(blk, 1, kv, g)[off]) *
               kv_->scales(blk, 1, kv, g)[slot];
    }
    return 0;
  };
  // The scale of that row (int8), or 0.
  auto row_scale = [&](size_t i, int kv, int p, int g) -> double {
    if (dtype_ != KvDtype::kInt8) return 0;
    return kv_->scales(tables[i][p / kBlockSize], 1, kv, g)[p % kBlockSize];
  };

  // The cache holds what was written, where kv_layout.h says: f32 and bf16
  // exactly (bf16 rounded to nearest even); int8 with scale max|row| / 127
  // and every element within scale / 2 of the written value. What it holds
  // is copied out (stored[i][kv], laid out as k_all; scales[i][kv] per
  // position and KV head) once here, since the references below read each
  // element once per query head and row, which under ASan is most of the
  // test's time when done through the arena.
  std::vector<std::array<std::vector<double>, 2>> stored(specs.size());
  std::vector<std::array<std::vector<double>, 2>> scales(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const int len = specs[i].start + specs[i].n;
    for (int kv = 0; kv < 2; ++kv) {
      stored[i][kv].resize(size_t(len) * kv_width);
      scales[i][kv].resize(size_t(len) * hkv);
    }
    for (int p = 0; p < len; ++p) {
      for (int kv = 0; kv < 2; ++kv) {
        const std::vector<float>& all = kv == 0 ? k_all[i] : v_all[i];
        for (int g = 0; g < hkv; ++g) {
          const float* row = all.data() + p * kv_width + g * hd;
          scales[i][kv][p * hkv + g] = row_scale(i, kv, p, g);
          if (dtype_ == KvDtype::kInt8) {
            float amax = 0;
            for (int e = 0; e < hd; ++e)
              amax = std::max(amax, std::abs(row[e]));
            ASSERT_EQ(row_scale(i, kv, p, g), amax / 127.0f)
                << "seq " << i << " pos " << p;
          }
          for (int e = 0; e < hd; ++e) {
            const double got = cached(i, kv, p, g, e);
            stored[i][kv][p * kv_width + g * hd + e] = got;
            if (dtype_ == KvDtype::kInt8) {
              ASSERT_LE(std::abs(got - row[e]),
                        row_scale(i, kv, p, g) * kHalfStep)
                  << "seq " << i << " pos " << p << " kv " << kv;
            } else {
              const float expected = dtype_ == KvDtype::kF32
                                         ? row[e]
                                         : Bf16ToFloat(FloatToBf16(row[e]));
              ASSERT_EQ(got, expected) << "seq " << i << " pos " << p;
            }
          }
        }
      }
    }
  }

  // Dense references in double: over the values as stored (the kernel must
  // match it to float rounding), and for int8 over the values as written
  // (within the bound that the quantization error allows, derived below).
  double worst = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    for (int j = 0; j < specs[i].n; ++j) {
      const int pos = specs[i].start + j;
      const int row = seqs[i].row + j;
      for (int head = 0; head < h; ++head) {
        const int g = head / group;
        // The AVX512_BF16 kernel runs a bf16 cache on bf16 pairs: the
        // reference rounds the query to bf16 (to nearest even), as the
        // scores do; P.V rounds each softmax weight to bf16, which moves
        // it by at most 2^-8 of itself and the output by at most 2^-8
        // max|V| (checked per element below).
        const bool pairs = attention->isa() == AttentionIsa::kAvx512Bf16 &&
                           dtype_ == KvDtype::kBF16;
        std::vector<float> qh(hd);
        for (int e = 0; e < hd; ++e) {
          const float x = q[row * q_stride + head * hd + e];
          qh[e] = pairs ? Bf16ToFloat(FloatToBf16(x)) : x;
        }
        // Int8: a key's score moves by at most
        //   delta = sum_e |q_e| * scale_K(t) / 2 / sqrt(head_dim),
        // so each softmax weight by a factor within exp(+-2 delta) and the
        // output by at most (exp(2 delta) - 1) * max|V| from the weights,
        // plus max_t scale_V(t) / 2 from V's own rounding. The reference
        // over the values as written only matters there (f32 and bf16 hold
        // them exactly or are checked on the stored values).
        const bool int8 = dtype_ == KvDtype::kInt8;
        double q_l1 = 0;
        for (int e = 0; e < hd; ++e) q_l1 += std::abs(qh[e]);
        double v_cached_max = 0, delta = 0, v_max = 0, v_half_step = 0;
        std::vector<double> sc(pos + 1), exact(int8 ? pos + 1 : 0);
        double mx = -1e300, mx_exact = -1e300;
        for (int t = 0; t <= pos; ++t) {
          const size_t at = size_t(t) * kv_width + g * hd;
          const double* k = stored[i][0].data() + at;
          const double* v = stored[i][1].data() + at;
          double s = 0;
          for (int e = 0; e < hd; ++e) {
            s += double{qh[e]} * k[e];
            v_cached_max = std::max(v_cached_max, std::abs(v[e]));
          }
          sc[t] = s / std::sqrt(double(hd));
          mx = std::max(mx, sc[t]);
          if (!int8) continue;
          const float* kw = k_all[i].data() + at;
          const float* vw = v_all[i].data() + at;
          double se = 0;
          for (int e = 0; e < hd; ++e) {
            se += double{qh[e]} * kw[e];
            v_max = std::max(v_max, double{std::abs(vw[e])});
          }
          exact[t] = se / std::sqrt(double(hd));
          mx_exact = std::max(mx_exact, exact[t]);
          delta = std::max(delta, q_l1 * scales[i][0][t * hkv + g] / 2 /
                                      std::sqrt(double(hd)));
          v_half_step = std::max(v_half_step, scales[i][1][t * hkv + g] / 2);
        }
        double sum = 0, sum_exact = 0;
        for (double& s : sc) sum += (s = std::exp(s - mx));
        for (double& s : exact) sum_exact += (s = std::exp(s - mx_exact));
        const double bound =
            (std::exp(2 * delta) - 1) * v_max + v_half_step + 1e-5;
        std::vector<double> o(hd, 0.0), o_exact(hd, 0.0);
        for (int t = 0; t <= pos; ++t) {
          const size_t at = size_t(t) * kv_width + g * hd;
          const double* v = stored[i][1].data() + at;
          for (int e = 0; e < hd; ++e) o[e] += sc[t] / sum * v[e];
          if (!int8) continue;
          const float* vw = v_all[i].data() + at;
          for (int e = 0; e < hd; ++e) {
            o_exact[e] += exact[t] / sum_exact * vw[e];
          }
        }
        for (int e = 0; e < hd; ++e) {
          const float got = out[size_t(row) * h * hd + head * hd + e];
          if (pairs) {
            ASSERT_LE(std::abs(o[e] - got), std::ldexp(v_cached_max, -8) + 2e-6)
                << "row " << row << " head " << head << " element " << e;
          } else {
            worst = std::max(worst, std::abs(o[e] - got));
          }
          if (int8) {
            ASSERT_LE(std::abs(o_exact[e] - got), bound)
                << "row " << row << " head " << head << " element " << e;
          }
        }
      }
    }
  }
  EXPECT_LT(worst, 2e-6);
  if (HasFailure()) return;

  // One thread gives exactly the same result.
  std::unique_ptr<PagedAttention> single = Make(1);
  std::vector<float> out1(out.size());
  ASSERT_THAT(single->Attend(1, seqs, q.data(), q_stride, *kv_, out1.data()),
              IsOk());
  EXPECT_EQ(out, out1);

  // One Prepare per step serves every layer: the same results as preparing
  // for each layer (layer 0 holds other keys, so its output differs).
  std::vector<float> layer0(out.size()), layer0_prepared(out.size());
  ASSERT_THAT(single->Attend(0, seqs, q.data(), q_stride, *kv_, layer0.data()),
              IsOk());
  ASSERT_THAT(attention->Prepare(seqs), IsOk());
  ASSERT_THAT(
      attention->Attend(0, q.data(), q_stride, *kv_, layer0_prepared.data()),
      IsOk());
  std::vector<float> layer1_prepared(out.size());
  ASSERT_THAT(
      attention->Attend(1, q.data(), q_stride, *kv_, layer1_prepared.data()),
      IsOk());
  EXPECT_EQ(layer0_prepared, layer0);
  EXPECT_EQ(layer1_prepared, out);
  EXPECT_NE(layer0, out);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PagedAttentionTest,
    ::testing::Combine(
        ::testing::Values(Heads{4, 4, 16}, Heads{8, 4, 8}, Heads{8, 2, 8},
                          Heads{4, 1, 16}, Heads{32, 4, 64}, Heads{6, 3, 12},
                          Heads{12, 12, 64}, Heads{12, 1, 64}, Heads{6, 2, 32},
                          // Packed decode scores: G = 2, G = 5 (a tile of
                          // one) with a head of 48 (a last 16 on bf16
                          // pairs), G = kMaxPacked, and G past it.
                          Heads{8, 4, 32}, Heads{10, 2, 48}, Heads{32, 1, 16},
                          Heads{34, 1, 16},
                          // Queries in lanes (f32, G >= kLaneMinQueries):
                          // two vectors of them with a last P.V tile of
                          // two, and G = 13 at a head of 128.
                          Heads{18, 1, 64}, Heads{26, 2, 128},
                          // Heads of 128 (a constant in the kernels).
                          Heads{2, 2, 128}, Heads{4, 1, 128}),
        ::testing::Values(KvDtype::kF32, KvDtype::kBF16, KvDtype::kInt8),
        ::testing::Values(4, 16, 40),
        ::testing::Values(AttentionIsa::kAvx512Bf16, AttentionIsa::kAvx512,
                          AttentionIsa::kAvx2, AttentionIsa::kPortable)),
    [](const auto& info) {
      const Heads& hs = std::get<0>(info.param);
      return absl::StrCat("H", hs.n_heads, "_Hkv", hs.n_kv_heads, "_hd",
                          hs.head_dim, "_",
                          kvcache::KvDtypeName(std::get<1>(info.param)),
                          "_block", std::get<2>(info.param), "_",
                          AttentionIsaName(std::get<3>(info.param)));
    });

// The int8 row format: the largest magnitude maps to +-127, every element
// comes back within half a step, and a zero row stays exactly zero.
TEST(KvInt8Test, RowRoundTripWithinHalfAStep) {
  std::mt19937 rng(3);
  for (int n : {1, 7, 8, 64, 128}) {
    for (float range : {1e-3f, 1.0f, 300.0f}) {
      std::vector<float> x = Random(n, rng, range);
      x[n / 2] = -range * 1.5f;  // the largest magnitude, negative
      std::vector<int8_t> q(n);
      float scale = -1;
      QuantizeRowInt8(x.data(), n, q.data(), &scale);
      EXPECT_EQ(scale, range * 1.5f / 127.0f);
      EXPECT_EQ(q[n / 2], -127);
      std::vector<float> back(n);
      DequantizeRowInt8(q.data(), n, scale, back.data());
      for (int i = 0; i < n; ++i) {
        EXPECT_LE(std::abs(back[i] - x[i]), scale * kHalfStep)
            << "n " << n << " element " << i << ": " << x[i];
      }
    }
  }
  // Half steps round away from zero; the step itself is exact.
  const float half[] = {127.0f, 0.5f, -0.5f, 1.5f, -126.5f};
  int8_t q[5];
  float scale = 0;
  QuantizeRowInt8(half, 5, q, &scale);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_THAT(q, ::testing::ElementsAre(127, 1, -1, 2, -127));
  const float zeros[4] = {0.0f, -0.0f, 0.0f, 0.0f};
  QuantizeRowInt8(zeros, 4, q, &scale);
  EXPECT_EQ(scale, 0.0f);
  EXPECT_THAT(absl::MakeSpan(q, 4), ::testing::Each(0));
}

TEST(PagedAttentionErrorsTest, RejectsBadOptionsAndCalls) {
  kvcache::KvLayout layout{
      .n_layers = 2, .n_kv_heads = 2, .head_dim = 8, .block_size = 4};
  EXPECT_THAT(PagedAttention::Create({.n_heads = 3, .layout = layout}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("n_heads 3 must be a positive multiple of "
                                 "the 2 KV heads")));
  EXPECT_THAT(
      PagedAttention::Create(
          {.n_heads = 4, .layout = layout, .num_threads = 0}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_threads 0")));
  kvcache::KvLayout bad = layout;
  bad.head_dim = 0;
  EXPECT_THAT(
      PagedAttention::Create({.n_heads = 4, .layout = bad}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("head_dim=0")));

  ASSERT_OK_AND_ASSIGN(
      auto attention,
      PagedAttention::Create({.n_heads = 4, .layout = layout, .max_seqs = 1}));
  kvcache::KvLayout other = layout;
  other.block_size = 8;
  ASSERT_OK_AND_ASSIGN(kvcache::KvArena wrong,
                       kvcache::KvArena::Create(other, other.BlockBytes()));
  const std::vector<float> x(64);
  std::vector<float> out(64);
  const int32_t table[] = {0};
  PagedAttention::Sequence s{
      .row = 0, .n_new = 1, .start_pos = 0, .block_table = table};
  EXPECT_THAT(
      attention->WriteKv(0, {&s, 1}, x.data(), x.data(), 16, wrong),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layout")));
  ASSERT_OK_AND_ASSIGN(kvcache::KvArena arena,
                       kvcache::KvArena::Create(layout, layout.BlockBytes()));
  EXPECT_THAT(attention->Attend(2, {&s, 1}, x.data(), 32, arena, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 2 is outside [0, 2)")));
  const PagedAttention::Sequence two[] = {s, s};
  EXPECT_THAT(attention->Attend(0, two, x.data(), 32, arena, out.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("2 sequences exceed max_seqs 1")));

  // The per-step work list: Attend needs a successful Prepare first.
  ASSERT_OK_AND_ASSIGN(
      auto fresh,
      PagedAttention::Create({.n_heads = 4, .layout = layout, .max_seqs = 1}));
  EXPECT_THAT(fresh->Attend(0, x.data(), 32, arena, out.data()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("before Prepare")));
  EXPECT_THAT(fresh->Prepare(two),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("2 sequences exceed max_seqs 1")));
  EXPECT_THAT(fresh->Attend(0, x.data(), 32, arena, out.data()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("before Prepare")));
  ASSERT_THAT(fresh->Prepare({&s, 1}), IsOk());
  EXPECT_THAT(fresh->Attend(0, x.data(), 32, arena, out.data()), IsOk());
}

}  // namespace
}  // namespace kvasir::engine::ops
