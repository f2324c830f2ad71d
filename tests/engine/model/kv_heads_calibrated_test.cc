#include "engine/model/kv_heads_calibrated.h"

#include <cmath>
#include <complex>
#include <cstdio>
#include <vector>

#include "common/text_file.h"
#include "engine/model/convert_model.h"
#include "engine/model/kv_calibration.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "engine/model/perplexity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::CopyModel;
using ::kvasir::engine::testing::MaxRelError;
using ::kvasir::engine::testing::RandomModel;
using ::kvasir::engine::testing::RandomTokens;
using ::kvasir::engine::testing::TinyShape;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A runner over `model` (a copy of its weights) with one sequence of up to
// `max_len` tokens.
struct Runner {
  std::unique_ptr<LlamaRunner> runner;
  std::unique_ptr<kvcache::KvArena> kv;
  std::vector<int32_t> table;

  Runner(const Model& model, int max_len) {
    LlamaRunner::Options o;
    o.max_batch_tokens = max_len;
    o.max_seqs = 1;
    o.num_threads = 1;
    std::shared_ptr<const Model> borrowed(&model, [](const Model*) {});
    auto r = LlamaRunner::Create(o, borrowed);
    EXPECT_THAT(r, IsOk());
    if (!r.ok()) return;
    runner = *std::move(r);
    const kvcache::KvLayout layout = runner->kv_layout();
    const int64_t blocks = layout.BlocksForTokens(max_len);
    auto arena = kvcache::KvArena::Create(layout, blocks * layout.BlockBytes());
    EXPECT_THAT(arena, IsOk());
    kv = std::make_unique<kvcache::KvArena>(*std::move(arena));
    for (int32_t b = 0; b < blocks; ++b) table.push_back(b);
  }

  // Logits after tokens[0..n) run from position `start`.
  std::vector<float> Step(absl::Span<const int32_t> tokens, int start) {
    SequenceStep s;
    s.tokens = tokens;
    s.start_pos = start;
    s.block_table = table;
    s.compute_logits = true;
    EXPECT_THAT(runner->Step({&s, 1}, *kv), IsOk());
    const absl::Span<const float> l = runner->logits(0);
    return {l.begin(), l.end()};
  }
};

// engine::ComputePerplexity (llama.cpp's llama-perplexity rules: chunks of
// `ctx` tokens starting at BOS, the second half of each scored) on `model`.
double Perplexity(const Model& model, const std::vector<int32_t>& tokens,
                  int ctx) {
  LlamaRunner::Options o;
  o.max_batch_tokens = ctx;
  o.max_seqs = 1;
  o.max_logit_rows = ctx - ctx / 2;
  o.num_threads = 1;
  std::shared_ptr<const Model> borrowed(&model, [](const Model*) {});
  auto runner = LlamaRunner::Create(o, borrowed);
  EXPECT_THAT(runner, IsOk());
  if (!runner.ok()) return NAN;
  const kvcache::KvLayout layout = (*runner)->kv_layout();
  auto kv = kvcache::KvArena::Create(
      layout, layout.BlocksForTokens(ctx) * layout.BlockBytes());
  EXPECT_THAT(kv, IsOk());
  if (!kv.ok()) return NAN;
  PerplexityOptions po;
  po.ctx = ctx;
  po.bos_id = model.tokenizer->bos_id();
  auto result = ComputePerplexity(**runner, *kv, tokens, po);
  EXPECT_THAT(result, IsOk());
  return result.ok() ? result->ppl : NAN;
}

std::unique_ptr<Model> LoadStories() {
  LoadOptions lo;
  lo.path_or_spec = kvasir::testing::ModelPath("stories260K.gguf");
  auto model = LoadModel(lo);
  EXPECT_THAT(model, IsOk());
  return model.ok() ? *std::move(model) : nullptr;
}

// stories260K (8 query heads, 4 KV heads) on ../shared/eval at --ctx 128,
// calibrated on tests/data/calibration.txt (other text): calibrated
// conversion at least halves mean pooling's perplexity (llama.cpp: 120.8
// and 215.5), and converting to the model's own 4 heads changes nothing.
TEST(KvHeadsCalibratedTest, Stories260KHalvesMeanPoolingPerplexity) {
  std::unique_ptr<Model> base = LoadStories();
  ASSERT_NE(base, nullptr);
  ASSERT_OK_AND_ASSIGN(
      const std::string text,
      ReadTextFile(kvasir::testing::SharedDir() + "/eval/stories-eval.txt",
                   "eval text"));
  ASSERT_OK_AND_ASSIGN(const std::vector<int32_t> tokens,
                       base->tokenizer->Encode(text, EncodeOptions{}));
  const double native = Perplexity(*base, tokens, 128);
  EXPECT_NEAR(native, 4.0640, 0.03);

  CalibrationOptions own_text;
  own_text.text_file =
      kvasir::testing::SourceDir() + "/tests/data/calibration.txt";
  own_text.num_threads = 1;
  CalibrationOptions sampled;  // the default: text the model samples
  sampled.num_threads = 1;
  for (int n : {2, 1}) {
    std::unique_ptr<Model> mean = LoadStories();
    ASSERT_THAT(ConvertKvHeadsWith(*mean, n, KvConversion::kMean, own_text),
                IsOk());
    const double ppl_mean = Perplexity(*mean, tokens, 128);
    EXPECT_NEAR(ppl_mean, n == 2 ? 120.83 : 215.50, n == 2 ? 0.6 : 1.1);
    for (const CalibrationOptions* co : {&own_text, &sampled}) {
      std::unique_ptr<Model> cal = LoadStories();
      ASSERT_THAT(ConvertKvHeadsWith(*cal, n, KvConversion::kCalibrated, *co),
                  IsOk());
      EXPECT_EQ(cal->config.n_kv_heads, n);
      EXPECT_EQ(cal->config.KvBytesPerToken(kvcache::KvDtype::kF32),
                mean->config.KvBytesPerToken(kvcache::KvDtype::kF32));
      const double ppl_cal = Perplexity(*cal, tokens, 128);
      std::printf("kv_heads %d: native %.4f mean %.4f calibrated (%s) %.4f\n",
                  n, native, ppl_mean,
                  co->text_file.empty() ? "sampled text" : "own text", ppl_cal);
      EXPECT_LT(ppl_cal, ppl_mean / 2) << "kv_heads " << n;
    }
  }
}

// Logits after every token of `tokens` (one sequence, one step).
std::vector<std::vector<float>> AllLogits(const Model& model,
                                          const std::vector<int32_t>& tokens) {
  Runner r(model, static_cast<int>(tokens.size()));
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    out.push_back(
        r.Step(absl::MakeConstSpan(tokens).subspan(i, 1), static_cast<int>(i)));
  }
  return out;
}

double MaxLogitError(const std::vector<std::vector<float>>& a,
                     const std::vector<std::vector<float>>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, MaxRelError(a[i], b[i]));
  }
  return worst;
}

// Root-mean-square difference of the log-probabilities.
double LogProbRms(const std::vector<std::vector<float>>& a,
                  const std::vector<std::vector<float>>& b) {
  double sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t v = 0; v < a[i].size(); ++v) {
      const double d = LogSoftmaxAt(a[i], static_cast<int32_t>(v)) -
                       LogSoftmaxAt(b[i], static_cast<int32_t>(v));
      sum += d * d;
      ++n;
    }
  }
  return std::sqrt(sum / static_cast<double>(n));
}

CalibrationStats StatsOnRandomTokens(const Model& model, uint32_t seed) {
  std::vector<std::vector<int32_t>> seqs;
  for (uint32_t s = 0; s < 4; ++s) {
    seqs.push_back(RandomTokens(48, model.config.vocab_size, seed + s));
  }
  auto stats = CollectCalibrationStats(model, seqs, 1);
  EXPECT_THAT(stats, IsOk());
  return stats.ok() ? *std::move(stats) : CalibrationStats{};
}

TinyShape Gqa8x4() {
  return {.name = "GQA8x4", .n_heads = 8, .n_kv_heads = 4, .head_dim = 8};
}

// Makes KV head 1 of every layer an exact "complex multiple" of head 0 per
// rotary pair (the convention of `neox`) for K, and a linear map of it for
// V: a model whose two heads merge into one without loss, but only when
// the conversion pairs the rows as RoPE does.
std::unique_ptr<Model> MergeableModel(bool neox) {
  TinyShape shape{
      .name = "mergeable", .n_heads = 4, .n_kv_heads = 2, .head_dim = 8};
  std::unique_ptr<Model> model = RandomModel(shape, 21);
  model->config.rope_neox = neox;
  const int hd = 8;
  const int64_t d = model->config.dim;
  for (LayerWeights& lw : model->weights.layers) {
    float* k = lw.wk.data();
    float* v = lw.wv.data();
    for (int p = 0; p < hd / 2; ++p) {
      const int a = neox ? p : 2 * p, b = neox ? p + hd / 2 : 2 * p + 1;
      const std::complex<double> c = std::polar(0.5 + 0.3 * p, 0.7 + p);
      for (int64_t e = 0; e < d; ++e) {
        const std::complex<double> k0(k[a * d + e], k[b * d + e]);
        const std::complex<double> k1 = c * k0;
        k[(hd + a) * d + e] = static_cast<float>(k1.real());
        k[(hd + b) * d + e] = static_cast<float>(k1.imag());
      }
    }
    for (int i = 0; i < hd; ++i) {
      for (int64_t e = 0; e < d; ++e) {
        double sum = 0;
        for (int j = 0; j < hd; ++j) {
          sum += std::sin(1.0 + i * 3 + j * 7) * v[j * d + e];
        }
        v[(hd + i) * d + e] = static_cast<float>(sum);
      }
    }
  }
  return model;
}

class MergeableHeadsTest : public ::testing::TestWithParam<bool> {};

// Heads that are exact rotations + scales of each other per RoPE pair (K)
// and linear maps of each other (V) merge without changing the logits;
// mean pooling does change them. Pairing rows the other way (adjacent vs
// NeoX halves) breaks the exactness, so this guards the RoPE convention.
TEST_P(MergeableHeadsTest, MergeIsExactAndMeanIsNot) {
  const bool neox = GetParam();
  std::unique_ptr<Model> model = MergeableModel(neox);
  const std::vector<int32_t> tokens = RandomTokens(24, 101, 5);
  const auto original = AllLogits(*model, tokens);

  std::unique_ptr<Model> cal = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeadsCalibrated(*cal, 1, StatsOnRandomTokens(*model, 9)),
              IsOk());
  EXPECT_EQ(cal->config.n_kv_heads, 1);
  EXPECT_LE(MaxLogitError(AllLogits(*cal, tokens), original), 2e-3);

  std::unique_ptr<Model> mean = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeads(*mean, 1), IsOk());
  EXPECT_GT(MaxLogitError(AllLogits(*mean, tokens), original), 2e-2);

  // The same model read with the other pairing is not exactly mergeable.
  std::unique_ptr<Model> other = CopyModel(*model);
  other->config.rope_neox = !neox;
  const auto other_logits = AllLogits(*other, tokens);
  ASSERT_THAT(
      ConvertKvHeadsCalibrated(*other, 1, StatsOnRandomTokens(*other, 9)),
      IsOk());
  EXPECT_GT(MaxLogitError(AllLogits(*other, tokens), other_logits), 2e-2);
}

INSTANTIATE_TEST_SUITE_P(Pairs, MergeableHeadsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "NeoxHalves" : "AdjacentPairs";
                         });

// On held-out tokens of a random model, calibrated merging moves the
// log-probabilities less than mean pooling, at 2 and at 1 KV heads.
TEST(KvHeadsCalibratedTest, RandomModelHeldOutErrorBelowMeanPooling) {
  std::unique_ptr<Model> model = RandomModel(Gqa8x4(), 31);
  const std::vector<int32_t> held_out = RandomTokens(40, 101, 1000);
  const auto original = AllLogits(*model, held_out);
  const CalibrationStats stats = StatsOnRandomTokens(*model, 77);
  for (int n : {2, 1}) {
    std::unique_ptr<Model> mean = CopyModel(*model);
    ASSERT_THAT(ConvertKvHeads(*mean, n), IsOk());
    std::unique_ptr<Model> cal = CopyModel(*model);
    ASSERT_THAT(ConvertKvHeadsCalibrated(*cal, n, stats), IsOk());
    const double e_mean = LogProbRms(AllLogits(*mean, held_out), original);
    const double e_cal = LogProbRms(AllLogits(*cal, held_out), original);
    EXPECT_LT(e_cal, e_mean) << "kv_heads " << n;
  }
}

// Converting to the model's own count changes no weight; converting up
// duplicates heads exactly, as mean conversion does.
TEST(KvHeadsCalibratedTest, SameCountIsIdentityAndDuplicationIsExact) {
  std::unique_ptr<Model> model = RandomModel(Gqa8x4(), 41);
  const CalibrationStats stats = StatsOnRandomTokens(*model, 3);
  std::unique_ptr<Model> same = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeadsCalibrated(*same, 4, stats), IsOk());
  for (size_t l = 0; l < model->weights.layers.size(); ++l) {
    const LayerWeights& a = model->weights.layers[l];
    const LayerWeights& b = same->weights.layers[l];
    for (auto [x, y] : {std::pair{&a.wq, &b.wq}, std::pair{&a.wk, &b.wk},
                        std::pair{&a.wv, &b.wv}, std::pair{&a.wo, &b.wo}}) {
      ASSERT_EQ(x->shape(), y->shape());
      for (int64_t i = 0; i < x->numel(); ++i) {
        ASSERT_EQ(x->data()[i], y->data()[i]) << "layer " << l;
      }
    }
  }
  CalibrationOptions co;
  co.generated_tokens = 32;
  std::unique_ptr<Model> via_with = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeadsWith(*via_with, 4, KvConversion::kCalibrated, co),
              IsOk());
  EXPECT_EQ(via_with->weights.layers[0].wk.data()[5],
            model->weights.layers[0].wk.data()[5]);

  const std::vector<int32_t> tokens = RandomTokens(16, 101, 8);
  const auto original = AllLogits(*model, tokens);
  std::unique_ptr<Model> mha = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeadsWith(*mha, 8, KvConversion::kCalibrated, co),
              IsOk());
  EXPECT_EQ(mha->config.n_kv_heads, 8);
  EXPECT_LE(MaxLogitError(AllLogits(*mha, tokens), original), 1e-5);
}

TEST(KvHeadsCalibratedTest, ErrorsNameTheFieldAndLeaveTheModel) {
  std::unique_ptr<Model> model = RandomModel(Gqa8x4(), 51);
  CalibrationOptions co;
  co.generated_tokens = 32;
  EXPECT_THAT(ConvertKvHeadsWith(*model, 3, KvConversion::kCalibrated, co),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kv_heads: 3 does not divide the model's 4 "
                                 "KV heads")));
  EXPECT_THAT(ConvertKvHeadsWith(*model, 0, KvConversion::kCalibrated, co),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kv_heads: 0 must be at least 1")));
  co.text_file = "/nonexistent/calibration.txt";
  EXPECT_THAT(ConvertKvHeadsWith(*model, 2, KvConversion::kCalibrated, co),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("calibration text file"),
                             HasSubstr("/nonexistent/calibration.txt"))));
  co.text_file.clear();
  co.generated_tokens = 3;
  EXPECT_THAT(ConvertKvHeadsWith(*model, 2, KvConversion::kCalibrated, co),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("generated_tokens 3 must be in [16, 65536]")));
  EXPECT_EQ(model->config.n_kv_heads, 4);
  EXPECT_EQ(model->weights.layers[0].wk.dim(0), 32);

  // Per-head q/k norms (Qwen3) do not commute with merging.
  std::unique_ptr<Model> normed = CopyModel(*model);
  for (LayerWeights& lw : normed->weights.layers) {
    lw.q_norm = Tensor::Zeros({8});
    lw.k_norm = Tensor::Zeros({8});
  }
  EXPECT_THAT(ConvertKvHeadsCalibrated(*normed, 2, CalibrationStats{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kv_heads_conversion calibrated")));
  EXPECT_EQ(normed->config.n_kv_heads, 4);

  EXPECT_THAT(
      ParseKvConversion("median", "model.kv_heads_conversion"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("model.kv_heads_conversion"),
                     HasSubstr("'median'"), HasSubstr("mean, calibrated"))));
}

// Without a text file the model samples its own text: deterministic in the
// seed, every sequence starting at BOS.
TEST(KvHeadsCalibratedTest, GeneratedCalibrationTextIsSeeded) {
  std::unique_ptr<Model> model = RandomModel(Gqa8x4(), 61);
  CalibrationOptions co;
  co.generated_tokens = 100;
  co.chunk_tokens = 40;
  co.num_threads = 1;
  ASSERT_OK_AND_ASSIGN(auto a, CalibrationTokens(*model, co));
  ASSERT_OK_AND_ASSIGN(auto b, CalibrationTokens(*model, co));
  co.seed = 2;
  ASSERT_OK_AND_ASSIGN(auto c, CalibrationTokens(*model, co));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  int64_t total = 0;
  for (const auto& seq : a) {
    ASSERT_GE(seq.size(), 2u);
    EXPECT_LE(seq.size(), 40u);
    EXPECT_EQ(seq[0], model->tokenizer->bos_id());
    total += static_cast<int64_t>(seq.size()) - 1;
  }
  EXPECT_GE(total, 80);
  EXPECT_LE(total, 100);
}

// `kvasir convert`'s file loads as a model with the new head count and the
// logits of the same conversion done in memory.
TEST(ConvertModelFileTest, OutputLoadsAndMatchesInMemoryConversion) {
  const kvasir::testing::TempDir dir;
  CalibrationOptions co;
  co.text_file = kvasir::testing::SourceDir() + "/tests/data/calibration.txt";
  co.num_threads = 1;
  std::unique_ptr<Model> base = LoadStories();
  ASSERT_NE(base, nullptr);
  ASSERT_OK_AND_ASSIGN(
      const std::vector<int32_t> tokens,
      base->tokenizer->Encode("Once upon a time, a little fox found a red "
                              "ball in the garden.",
                              EncodeOptions{}));
  for (KvConversion method : {KvConversion::kCalibrated, KvConversion::kMean}) {
    for (int n : {2, 8}) {
      ConvertOptions options;
      options.input = kvasir::testing::ModelPath("stories260K.gguf");
      options.output = dir.File("out.gguf");
      options.kv_heads = n;
      options.method = method;
      options.calibration = co;
      ASSERT_OK_AND_ASSIGN(const ConvertSummary summary,
                           ConvertModelFile(options));
      EXPECT_EQ(summary.from_kv_heads, 4);
      EXPECT_EQ(summary.to_kv_heads, n);
      LoadOptions lo;
      lo.path_or_spec = options.output;
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> loaded, LoadModel(lo));
      EXPECT_EQ(loaded->config.n_kv_heads, n);
      std::unique_ptr<Model> in_memory = LoadStories();
      ASSERT_THAT(ConvertKvHeadsWith(*in_memory, n, method, co), IsOk());
      EXPECT_LE(MaxLogitError(AllLogits(*loaded, tokens),
                              AllLogits(*in_memory, tokens)),
                1e-6)
          << KvConversionName(method) << " " << n;
    }
  }
  ConvertOptions bad;
  bad.input = kvasir::testing::ModelPath("stories260K.gguf");
  bad.output = dir.File("bad.gguf");
  bad.kv_heads = 3;
  bad.method = KvConversion::kCalibrated;
  EXPECT_THAT(ConvertModelFile(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--kv-heads 3 does not divide the model's 4 "
                                 "KV heads")));
  FILE* f = std::fopen(bad.output.c_str(), "rb");
  EXPECT_EQ(f, nullptr) << "no output file on error";
  if (f != nullptr) std::fclose(f);
}

}  // namespace
}  // namespace kvasir::engine
