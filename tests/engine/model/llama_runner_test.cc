#include "engine/model/llama_runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/ops/dense_gemv.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::MakeArena;
using ::kvasir::engine::testing::MakeRunner;
using ::kvasir::engine::testing::MaxRelError;
using ::kvasir::engine::testing::RandomModel;
using ::kvasir::engine::testing::RandomTokens;
using ::kvasir::engine::testing::ReferenceLogits;
using ::kvasir::engine::testing::SmallOptions;
using ::kvasir::engine::testing::TinyShape;
using ::kvasir::engine::testing::TinyShapes;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

// logits[seq][pos]: empty where the schedule computed none.
using SeqLogits = std::vector<std::vector<std::vector<float>>>;

struct Chunk {
  int seq = 0;
  int n = 0;
};
using Schedule = std::vector<std::vector<Chunk>>;  // steps of chunks

// Runs `schedule` over the sequences, asking for logits after every chunk.
SeqLogits RunSchedule(LlamaRunner& runner, kvcache::KvArena& kv,
                      const std::vector<std::vector<int32_t>>& tokens,
                      const std::vector<std::vector<int32_t>>& tables,
                      const Schedule& schedule) {
  SeqLogits out(tokens.size());
  for (size_t s = 0; s < tokens.size(); ++s) out[s].resize(tokens[s].size());
  std::vector<int> done(tokens.size(), 0);
  for (const std::vector<Chunk>& step : schedule) {
    std::vector<SequenceStep> seqs;
    for (const Chunk& c : step) {
      SequenceStep s;
      s.tokens = absl::MakeConstSpan(tokens[c.seq]).subspan(done[c.seq], c.n);
      s.start_pos = done[c.seq];
      s.block_table = tables[c.seq];
      s.compute_logits = true;
      seqs.push_back(s);
    }
    absl::Status status = runner.Step(seqs, kv);
    EXPECT_THAT(status, IsOk());
    if (!status.ok()) return out;
    for (size_t i = 0; i < step.size(); ++i) {
      const Chunk& c = step[i];
      done[c.seq] += c.n;
      absl::Span<const float> l = runner.logits(static_cast<int>(i));
      out[c.seq][done[c.seq] - 1].assign(l.begin(), l.end());
    }
    EXPECT_TRUE(runner.logits(static_cast<int>(step.size())).empty());
  }
  return out;
}

// Each sequence alone, `chunk` tokens per step.
Schedule AloneSchedule(const std::vector<std::vector<int32_t>>& tokens,
                       int chunk) {
  Schedule schedule;
  for (size_t s = 0; s < tokens.size(); ++s) {
    const int len = static_cast<int>(tokens[s].size());
    for (int p = 0; p < len; p += chunk) {
      schedule.push_back({{static_cast<int>(s), std::min(chunk, len - p)}});
    }
  }
  return schedule;
}

// All sequences at once, random chunk sizes (1..max_chunk), random order
// within a step, a sequence sometimes sitting a step out.
Schedule MixedSchedule(const std::vector<std::vector<int32_t>>& tokens,
                       int max_chunk, int max_step_tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> left;
  for (const auto& t : tokens) left.push_back(static_cast<int>(t.size()));
  Schedule schedule;
  while (std::any_of(left.begin(), left.end(), [](int n) { return n > 0; })) {
    std::vector<int> order(tokens.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<Chunk> step;
    int budget = max_step_tokens;
    for (int s : order) {
      if (left[s] == 0 || budget == 0 || rng() % 4 == 0) continue;
      const int n =
          std::min({left[s], budget, 1 + static_cast<int>(rng() % max_chunk)});
      step.push_back({s, n});
      left[s] -= n;
      budget -= n;
    }
    if (!step.empty()) schedule.push_back(step);
  }
  return schedule;
}

// Block tables over `num_blocks` arena blocks: in order, or a random
// permutation of all of them.
std::vector<std::vector<int32_t>> Tables(
    const std::vector<std::vector<int32_t>>& tokens, int block_size,
    int num_blocks, bool shuffled, uint32_t seed) {
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  if (shuffled) std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  std::vector<std::vector<int32_t>> tables;
  size_t next = 0;
  for (const auto& t : tokens) {
    const size_t n = (t.size() + block_size - 1) / block_size;
    tables.emplace_back(ids.begin() + next, ids.begin() + next + n);
    next += n;
  }
  EXPECT_LE(next, ids.size());
  return tables;
}

// Compares logits wherever both have them; returns the number compared.
int CompareLogits(const SeqLogits& got, const SeqLogits& want, double tol,
                  const std::string& what) {
  int compared = 0;
  for (size_t s = 0; s < got.size(); ++s) {
    for (size_t p = 0; p < got[s].size(); ++p) {
      if (got[s][p].empty() || want[s][p].empty()) continue;
      ++compared;
      EXPECT_LE(MaxRelError(got[s][p], want[s][p]), tol)
          << what << ": sequence " << s << " position " << p;
    }
  }
  return compared;
}

struct Case {
  TinyShape shape;
  kvcache::KvDtype kv_dtype;
  WeightsDtype weights_dtype;
  double tolerance;
  int block_size = 4;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.shape.name << " kv " << kvcache::KvDtypeName(c.kv_dtype)
      << " weights " << WeightsDtypeName(c.weights_dtype) << " block "
      << c.block_size;
}

class ReferenceTest : public ::testing::TestWithParam<Case> {};

// Prefill a prompt in one step, then decode one token per step; logits at
// every step must match the naive reference.
TEST_P(ReferenceTest, MatchesNaiveForwardPass) {
  const Case& c = GetParam();
  if (!ops::Linear::IsSupported(c.weights_dtype)) {
    GTEST_SKIP() << "oneDNN has no bf16 matmul on this CPU";
  }
  std::unique_ptr<Model> model = RandomModel(c.shape, 7);
  LlamaRunner::Options options = SmallOptions();
  options.kv_dtype = c.kv_dtype;
  options.weights_dtype = c.weights_dtype;
  options.block_size = c.block_size;
  std::unique_ptr<LlamaRunner> runner = MakeRunner(options, *model);
  ASSERT_NE(runner, nullptr);
  kvcache::KvArena kv = MakeArena(*runner, 16);

  const std::vector<std::vector<int32_t>> tokens = {
      RandomTokens(23, c.shape.vocab_size, 11)};
  const auto tables = Tables(tokens, options.block_size, 16, false, 0);
  Schedule schedule = {{{0, 13}}};
  for (int i = 0; i < 10; ++i) schedule.push_back({{0, 1}});
  const SeqLogits got = RunSchedule(*runner, kv, tokens, tables, schedule);

  const std::vector<std::vector<float>> ref =
      ReferenceLogits(*model, tokens[0]);
  double worst = 0;
  for (int p = 12; p < 23; ++p) {
    ASSERT_EQ(got[0][p].size(), ref[p].size()) << "position " << p;
    worst = std::max(worst, MaxRelError(got[0][p], ref[p]));
  }
  EXPECT_LE(worst, c.tolerance);
  // A meaningful comparison: the logits are not all alike.
  const auto [lo, hi] = std::minmax_element(ref[22].begin(), ref[22].end());
  EXPECT_GT(*hi - *lo, 1.0f);
}

std::vector<Case> ReferenceCases() {
  std::vector<Case> cases;
  for (TinyShape s : TinyShapes()) {
    cases.push_back({s, kvcache::KvDtype::kF32, WeightsDtype::kF32, 1e-4});
    s.tied_output = true;
    s.name += "_tied";
    cases.push_back({s, kvcache::KvDtype::kF32, WeightsDtype::kF32, 1e-4});
  }
  // bf16 rounds K/V (and, for bf16 weights, the weights and the matmul
  // inputs) to 8 significant bits: relative errors of ~0.4% per value add
  // up to a few hundredths on logits of magnitude ~5.
  for (const TinyShape& s : TinyShapes()) {
    cases.push_back({s, kvcache::KvDtype::kBF16, WeightsDtype::kF32, 3e-2});
  }
  TinyShape gqa = TinyShapes()[2];
  cases.push_back({gqa, kvcache::KvDtype::kF32, WeightsDtype::kBF16, 6e-2});
  cases.push_back({gqa, kvcache::KvDtype::kBF16, WeightsDtype::kBF16, 6e-2});
  // int8 K/V: each row rounded to 1/254 of its largest element, about the
  // size of bf16's rounding for rows of similar elements.
  for (const TinyShape& s : TinyShapes()) {
    cases.push_back({s, kvcache::KvDtype::kInt8, WeightsDtype::kF32, 5e-2});
  }
  // Blocks of one full 16-key chunk plus a partial one, and of exactly one.
  cases.push_back(
      {TinyShapes()[1], kvcache::KvDtype::kF32, WeightsDtype::kF32, 1e-4, 20});
  cases.push_back(
      {TinyShapes()[3], kvcache::KvDtype::kBF16, WeightsDtype::kF32, 3e-2, 16});
  cases.push_back(
      {TinyShapes()[1], kvcache::KvDtype::kInt8, WeightsDtype::kF32, 5e-2, 20});
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return absl::StrCat(c.shape.name, "_kv", kvcache::KvDtypeName(c.kv_dtype),
                      "_w", WeightsDtypeName(c.weights_dtype), "_block",
                      c.block_size);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ReferenceTest,
                         ::testing::ValuesIn(ReferenceCases()), CaseName);

class BatchInvarianceTest
    : public ::testing::TestWithParam<std::tuple<int, kvcache::KvDtype, int>> {
};

// The same sequences give the same logits alone or batched with others,
// with any chunking of their prefill, and with blocks anywhere in the arena.
TEST_P(BatchInvarianceTest, LogitsDoNotDependOnTheBatch) {
  const auto [shape_index, kv_dtype, block_size] = GetParam();
  const TinyShape shape = TinyShapes()[shape_index];
  std::unique_ptr<Model> model = RandomModel(shape, 21);
  LlamaRunner::Options options = SmallOptions();
  options.kv_dtype = kv_dtype;
  options.block_size = block_size;
  options.max_batch_tokens = 24;
  std::unique_ptr<LlamaRunner> runner = MakeRunner(options, *model);
  ASSERT_NE(runner, nullptr);
  constexpr int kBlocks = 64;
  kvcache::KvArena kv = MakeArena(*runner, kBlocks);

  std::vector<std::vector<int32_t>> tokens;
  for (int len : {19, 7, 30, 1, 12}) {
    tokens.push_back(RandomTokens(len, shape.vocab_size, 100 + len));
  }
  const auto in_order = Tables(tokens, options.block_size, kBlocks, false, 0);
  const auto shuffled = Tables(tokens, options.block_size, kBlocks, true, 5);

  // Baseline: each sequence alone, one token per step (M = 1).
  const SeqLogits base =
      RunSchedule(*runner, kv, tokens, in_order, AloneSchedule(tokens, 1));
  for (size_t s = 0; s < tokens.size(); ++s) {
    for (size_t p = 0; p < tokens[s].size(); ++p) {
      ASSERT_FALSE(base[s][p].empty());
    }
  }
  // oneDNN's brgemm kernels (AVX-512) compute each row the same way for
  // every M, so logits agree to rounding noise. On CPUs where oneDNN falls
  // back to gemm:jit, its reduction order depends on M and logits agree to
  // ~1e-4 only.
  const double kTol =
      absl::StartsWith(runner->matmul_impl(), "brg") ? 1e-5 : 2e-4;
  const SeqLogits prefill =
      RunSchedule(*runner, kv, tokens, shuffled, AloneSchedule(tokens, 24));
  // One chunk per sequence, two for the one of 30 tokens.
  EXPECT_EQ(CompareLogits(prefill, base, kTol, "alone, 24-token chunks"), 6);
  const SeqLogits chunked =
      RunSchedule(*runner, kv, tokens, shuffled, AloneSchedule(tokens, 5));
  EXPECT_GE(CompareLogits(chunked, base, kTol, "alone, chunks of 5"), 14);
  for (uint32_t seed : {1u, 2u, 3u}) {
    const SeqLogits mixed = RunSchedule(
        *runner, kv, tokens, seed % 2 ? shuffled : in_order,
        MixedSchedule(tokens, 1 + 3 * seed, options.max_batch_tokens, seed));
    EXPECT_GE(CompareLogits(mixed, base, kTol, "batched, random chunks"), 5)
        << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BatchInvarianceTest,
    ::testing::Combine(::testing::Values(0, 1, 2, 3),
                       ::testing::Values(kvcache::KvDtype::kF32,
                                         kvcache::KvDtype::kBF16,
                                         kvcache::KvDtype::kInt8),
                       ::testing::Values(4, 20)));

TEST(LlamaRunnerTest, CreateOwningReleasesProjectionsAndMatchesCreate) {
  TinyShape shape = TinyShapes()[1];
  std::unique_ptr<Model> model = RandomModel(shape, 3);
  std::shared_ptr<const Model> shared =
      ::kvasir::engine::testing::CopyModel(*model);
  ASSERT_OK_AND_ASSIGN(auto copying,
                       LlamaRunner::Create(SmallOptions(), shared));
  ASSERT_OK_AND_ASSIGN(
      auto owning,
      LlamaRunner::CreateOwning(SmallOptions(),
                                ::kvasir::engine::testing::CopyModel(*model)));
  // The shared model keeps its weights; the owned one lost its projections.
  EXPECT_FALSE(shared->weights.layers[0].wq.empty());
  for (const LayerWeights& lw : owning->model().weights.layers) {
    EXPECT_TRUE(lw.wq.empty() && lw.wk.empty() && lw.wv.empty() &&
                lw.wo.empty() && lw.w_gate.empty() && lw.w_up.empty() &&
                lw.w_down.empty());
    EXPECT_FALSE(lw.attn_norm.empty());
  }
  EXPECT_TRUE(owning->model().weights.output.empty());
  EXPECT_FALSE(owning->model().weights.tok_embeddings.empty());
  EXPECT_EQ(owning->config().n_kv_heads, shape.n_kv_heads);
  EXPECT_GT(owning->weight_bytes(), 0);

  const std::vector<std::vector<int32_t>> tokens = {
      RandomTokens(9, shape.vocab_size, 4)};
  const auto tables = Tables(tokens, 4, 8, false, 0);
  kvcache::KvArena kv1 = MakeArena(*copying, 8);
  kvcache::KvArena kv2 = MakeArena(*owning, 8);
  const SeqLogits a =
      RunSchedule(*copying, kv1, tokens, tables, AloneSchedule(tokens, 3));
  const SeqLogits b =
      RunSchedule(*owning, kv2, tokens, tables, AloneSchedule(tokens, 3));
  EXPECT_EQ(CompareLogits(a, b, 0.0, "owning vs copying"), 3);
}

TEST(LlamaRunnerTest, ReportsLayoutAndTimings) {
  TinyShape shape = TinyShapes()[2];
  std::unique_ptr<Model> model = RandomModel(shape, 3);
  LlamaRunner::Options options = SmallOptions();
  options.kv_dtype = kvcache::KvDtype::kBF16;
  std::unique_ptr<LlamaRunner> runner = MakeRunner(options, *model);
  ASSERT_NE(runner, nullptr);
  const kvcache::KvLayout layout = runner->kv_layout();
  EXPECT_EQ(layout.n_layers, 2);
  EXPECT_EQ(layout.n_kv_heads, 2);
  EXPECT_EQ(layout.head_dim, 8);
  EXPECT_EQ(layout.block_size, 4);
  EXPECT_EQ(layout.dtype, kvcache::KvDtype::kBF16);
  EXPECT_FALSE(runner->matmul_impl().empty());

  kvcache::KvArena kv = MakeArena(*runner, 4);
  const std::vector<int32_t> tokens = {5, 6, 7};
  const std::vector<int32_t> table = {0};
  SequenceStep s{.tokens = tokens,
                 .start_pos = 0,
                 .block_table = table,
                 .compute_logits = false};
  ASSERT_THAT(runner->Step({&s, 1}, kv), IsOk());
  // No logits were asked for.
  EXPECT_TRUE(runner->logits(0).empty());
  const StepTimings t = runner->last_timings();
  EXPECT_GT(t.matmul_ns, 0);
  EXPECT_GT(t.attention_ns, 0);
  EXPECT_GE(t.other_ns, 0);

  // The work counters a roofline divides by the machine's limits.
  const ModelConfig& c = runner->config();
  const int64_t d = c.dim, f = c.hidden_dim, hd = c.head_dim;
  const int64_t layer_macs = d * (c.n_heads + 2 * c.n_kv_heads) * hd  // wqkv
                             + c.n_heads * hd * d                     // wo
                             + d * 2 * f  // gate and up
                             + f * d;     // down
  const int64_t output_macs = d * c.vocab_size;
  EXPECT_EQ(t.matmul_flops, 2 * 3 * c.n_layers * layer_macs);
  EXPECT_EQ(t.kv_bytes, 3 * layout.BytesPerToken());
  // Without logits the output matrix is not read.
  EXPECT_GT(t.weight_bytes, 0);
  EXPECT_LT(t.weight_bytes, runner->weight_bytes());

  const std::vector<int32_t> one = {8};
  SequenceStep next{.tokens = one,
                    .start_pos = 3,
                    .block_table = table,
                    .compute_logits = true};
  ASSERT_THAT(runner->Step({&next, 1}, kv), IsOk());
  const StepTimings t2 = runner->last_timings();
  EXPECT_EQ(t2.matmul_flops, 2 * (c.n_layers * layer_macs + output_macs));
  EXPECT_EQ(t2.weight_bytes, runner->weight_bytes());
  EXPECT_EQ(t2.kv_bytes, 4 * layout.BytesPerToken());
}

TEST(LlamaRunnerTest, MatmulPrimitivesAreCachedByShapeNotByLayer) {
  // Projection shapes: wqkv [192, 64], wo [64, 64], w_gate_up [160, 64],
  // w_down [64, 80]; the output [101, 64] is used for fewer rows.
  TinyShape shape = TinyShapes()[0];
  shape.hidden_dim = 80;
  std::vector<int> counts;
  for (int layers : {1, 4}) {
    shape.n_layers = layers;
    std::unique_ptr<Model> model = RandomModel(shape, 5);
    LlamaRunner::Options options = SmallOptions();
    options.max_batch_tokens = 2 * ops::kMaxGemvRows;
    std::unique_ptr<LlamaRunner> runner = MakeRunner(options, *model);
    ASSERT_NE(runner, nullptr);
    // The decode (M = 1) primitive of each of the 5 shapes, whatever the
    // number of layers (not 4 per layer + 1).
    EXPECT_EQ(runner->cached_primitives(), 5) << layers << " layers";

    constexpr int kPrefill = ops::kMaxGemvRows + 6;
    kvcache::KvArena kv = MakeArena(*runner, kPrefill / 4 + 4);
    const std::vector<std::vector<int32_t>> tokens = {
        RandomTokens(kPrefill + 2, shape.vocab_size, 1),
        RandomTokens(4, shape.vocab_size, 2),
        RandomTokens(4, shape.vocab_size, 3)};
    const auto tables = Tables(tokens, 4, kPrefill / 4 + 4, false, 0);
    // A prefill past the GEMV (M = kPrefill for the 4 layer shapes; 1
    // logits row), then 3 sequences of 1 token: M = 3 and 3 logits rows run
    // on the decode GEMV (M <= ops::kMaxGemvRows), which needs no
    // primitive.
    RunSchedule(*runner, kv, tokens, tables, {{{0, kPrefill}}});
    EXPECT_EQ(runner->cached_primitives(), 9) << layers << " layers";
    RunSchedule(*runner, kv, tokens, tables, {{{0, 1}, {1, 1}, {2, 1}}});
    EXPECT_EQ(runner->cached_primitives(), 9) << layers << " layers";
  }
}

// Every batch size from 1 to max_batch_tokens, twice: the primitives stay
// within one per (shape, row bucket), so the cache (and the memory it
// holds) stops growing however the batch sizes vary.
TEST(LlamaRunnerTest, MatmulPrimitivesStayBoundedOverEveryBatchSize) {
  TinyShape shape = TinyShapes()[0];
  shape.hidden_dim = 80;
  std::unique_ptr<Model> model = RandomModel(shape, 6);
  LlamaRunner::Options options = SmallOptions();
  options.max_batch_tokens = 2 * ops::kMaxGemvRows;
  std::unique_ptr<LlamaRunner> runner = MakeRunner(options, *model);
  ASSERT_NE(runner, nullptr);
  const int max_m = options.max_batch_tokens;
  std::vector<std::vector<int32_t>> tokens;
  Schedule schedule;
  for (int m = 1; m <= max_m; ++m) {
    tokens.push_back(RandomTokens(m, shape.vocab_size, 300 + m));
    schedule.push_back({{m - 1, m}});  // sequence m - 1 prefills m rows
  }
  int blocks = 0;
  for (const auto& t : tokens) {
    blocks += (static_cast<int>(t.size()) + options.block_size - 1) /
              options.block_size;
  }
  kvcache::KvArena kv = MakeArena(*runner, blocks);
  const auto tables = Tables(tokens, options.block_size, blocks, false, 0);
  std::set<int> buckets;
  for (int m = ops::kMaxGemvRows + 1; m <= max_m; ++m) {
    buckets.insert(ops::MatmulContext::RowBucket(m, max_m));
  }
  // Past the GEMV's 64 rows: 80, 96, 112, 128.
  EXPECT_EQ(buckets.size(), 4u);
  RunSchedule(*runner, kv, tokens, tables, schedule);
  const int after_first = runner->cached_primitives();
  // The 5 decode primitives of Create, and the 4 layer shapes with a
  // primitive per bucket past the GEMV at most (the output has 1 logits
  // row per step).
  EXPECT_LE(after_first, 5 + 4 * static_cast<int>(buckets.size()));
  RunSchedule(*runner, kv, tokens, tables, schedule);
  EXPECT_EQ(runner->cached_primitives(), after_first);
}

TEST(MatmulContextTest, RowBucketsAreFewAndTight) {
  std::set<int> buckets;
  for (int m = 1; m <= 512; ++m) {
    const int b = ops::MatmulContext::RowBucket(m, 512);
    ASSERT_GE(b, m);
    ASSERT_LE(b, 512);
    if (m <= 8) {
      ASSERT_EQ(b, m);
    }
    // Under 1/4 more rows above 64 (7 rows up to there).
    if (m > 64) {
      ASSERT_LT(4 * (b - m), m) << m;
    } else {
      ASSERT_LE(b - m, 7) << m;
    }
    buckets.insert(b);
  }
  EXPECT_EQ(buckets.size(), 27u);
  // Capped at the shape's largest M.
  EXPECT_EQ(ops::MatmulContext::RowBucket(100, 100), 100);
  EXPECT_EQ(ops::MatmulContext::RowBucket(97, 100), 100);
}

}  // namespace
}  // namespace kvasir::engine
