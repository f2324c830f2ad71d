#include "engine/model/kv_heads.h"

#include <cmath>
#include <vector>

#include "engine/model/llama_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
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

// GQA: 8 query heads, 2 KV heads of 8.
TinyShape Gqa() {
  return {.name = "GQA4", .n_heads = 8, .n_kv_heads = 2, .head_dim = 8};
}

// Logits after each token of `tokens`, fed to a fresh runner in chunks of 4.
std::vector<std::vector<float>> RunnerLogits(
    std::unique_ptr<Model> model, const std::vector<int32_t>& tokens) {
  LlamaRunner::Options options;
  options.max_batch_tokens = 16;
  options.max_seqs = 2;
  options.block_size = 4;
  auto runner = LlamaRunner::CreateOwning(options, std::move(model));
  EXPECT_THAT(runner, IsOk());
  if (!runner.ok()) return {};
  const kvcache::KvLayout layout = (*runner)->kv_layout();
  auto kv = kvcache::KvArena::Create(layout, layout.BlockBytes() * 8);
  EXPECT_THAT(kv, IsOk());
  std::vector<int32_t> table(8);
  for (int i = 0; i < 8; ++i) table[i] = 7 - i;
  std::vector<std::vector<float>> out;
  for (size_t p = 0; p < tokens.size(); p += 4) {
    const size_t n = std::min<size_t>(4, tokens.size() - p);
    SequenceStep s{.tokens = absl::MakeConstSpan(tokens).subspan(p, n),
                   .start_pos = static_cast<int32_t>(p),
                   .block_table = table,
                   .compute_logits = true};
    EXPECT_THAT((*runner)->Step({&s, 1}, *kv), IsOk());
    absl::Span<const float> l = (*runner)->logits(0);
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

TEST(ConvertKvHeadsTest, DuplicatingHeadsKeepsTheLogits) {
  std::unique_ptr<Model> model = RandomModel(Gqa(), 5);
  const std::vector<int32_t> tokens = RandomTokens(18, 101, 6);
  const auto original = RunnerLogits(CopyModel(*model), tokens);
  ASSERT_EQ(original.size(), 5u);
  for (int n : {4, 8}) {  // GQA G=2 and MHA
    std::unique_ptr<Model> wide = CopyModel(*model);
    ASSERT_THAT(ConvertKvHeads(*wide, n), IsOk());
    EXPECT_EQ(wide->config.n_kv_heads, n);
    EXPECT_EQ(wide->weights.layers[0].wk.dim(0), n * 8);
    EXPECT_EQ(wide->weights.layers[1].wv.dim(0), n * 8);
    const auto converted = RunnerLogits(std::move(wide), tokens);
    ASSERT_EQ(converted.size(), original.size());
    for (size_t i = 0; i < original.size(); ++i) {
      EXPECT_LE(MaxRelError(converted[i], original[i]), 1e-5)
          << "kv_heads " << n << " chunk " << i;
    }
  }
}

TEST(ConvertKvHeadsTest, DuplicatedHeadJIsOldHeadJOverCopies) {
  std::unique_ptr<Model> model = RandomModel(Gqa(), 8);
  std::unique_ptr<Model> wide = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeads(*wide, 8), IsOk());
  const Tensor& before = model->weights.layers[1].wk;
  const Tensor& after = wide->weights.layers[1].wk;
  const int64_t head = 8 * before.dim(1);  // head_dim rows of D
  for (int j = 0; j < 8; ++j) {
    for (int64_t e = 0; e < head; ++e) {
      ASSERT_EQ(after.data()[j * head + e], before.data()[(j / 4) * head + e]);
    }
  }
}

TEST(ConvertKvHeadsTest, MeanPoolingToMqaAveragesTheGroupAndRuns) {
  TinyShape shape = Gqa();
  shape.n_kv_heads = 4;  // 8 query heads, 4 KV heads
  std::unique_ptr<Model> model = RandomModel(shape, 9);
  std::unique_ptr<Model> pooled = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeads(*pooled, 1), IsOk());
  EXPECT_EQ(pooled->config.n_kv_heads, 1);
  EXPECT_EQ(pooled->config.attention_mode(), AttentionMode::kMQA);
  const Tensor& before = model->weights.layers[0].wv;
  const Tensor& after = pooled->weights.layers[0].wv;
  ASSERT_EQ(after.shape(), (std::vector<int64_t>{8, before.dim(1)}));
  const int64_t head = 8 * before.dim(1);
  for (int64_t e = 0; e < head; ++e) {
    double mean = 0;
    for (int i = 0; i < 4; ++i) mean += before.data()[i * head + e];
    ASSERT_NEAR(after.data()[e], mean / 4, 1e-6);
  }

  // Two KV heads: each the mean of a pair.
  std::unique_ptr<Model> half = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeads(*half, 2), IsOk());
  const Tensor& k0 = model->weights.layers[1].wk;
  const Tensor& k1 = half->weights.layers[1].wk;
  for (int64_t e = 0; e < head; ++e) {
    ASSERT_NEAR(k1.data()[head + e],
                (double{k0.data()[2 * head + e]} + k0.data()[3 * head + e]) / 2,
                1e-6);
  }

  const auto logits = RunnerLogits(std::move(pooled), RandomTokens(9, 101, 3));
  ASSERT_EQ(logits.size(), 3u);
  for (const auto& l : logits) {
    ASSERT_EQ(l.size(), 101u);
    for (float x : l) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(ConvertKvHeadsTest, SameCountIsANoOp) {
  std::unique_ptr<Model> model = RandomModel(Gqa(), 10);
  std::unique_ptr<Model> same = CopyModel(*model);
  ASSERT_THAT(ConvertKvHeads(*same, 2), IsOk());
  EXPECT_EQ(same->config.n_kv_heads, 2);
  const Tensor& a = model->weights.layers[0].wk;
  const Tensor& b = same->weights.layers[0].wk;
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]);
}

TEST(ConvertKvHeadsTest, RejectsCountsThatBreakTheGroupsNamingTheField) {
  TinyShape shape = Gqa();
  shape.n_kv_heads = 4;  // H = 8, Hkv = 4
  std::unique_ptr<Model> model = RandomModel(shape, 11);
  EXPECT_THAT(ConvertKvHeads(*model, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kv_heads: 0 must be at least 1")));
  EXPECT_THAT(
      ConvertKvHeads(*model, -4),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kv_heads: -4")));
  EXPECT_THAT(ConvertKvHeads(*model, 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("kv_heads: 3 does not divide the "
                                       "model's 4 KV heads"),
                             HasSubstr("must divide 4"))));
  EXPECT_THAT(ConvertKvHeads(*model, 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("kv_heads: 6"),
                             HasSubstr("4 must divide kv_heads and kv_heads "
                                       "must divide 8"))));
  EXPECT_THAT(
      ConvertKvHeads(*model, 16),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kv_heads: 16")));
  // Nothing changed.
  EXPECT_EQ(model->config.n_kv_heads, 4);
  EXPECT_EQ(model->weights.layers[0].wk.dim(0), 32);

  std::unique_ptr<Model> broken = RandomModel(shape, 12);
  broken->weights.layers[1].wv = Tensor::Zeros({5, 64});
  EXPECT_THAT(ConvertKvHeads(*broken, 8),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers.1.wv has shape [5, 64]")));
  EXPECT_EQ(broken->config.n_kv_heads, 4);
  EXPECT_EQ(broken->weights.layers[0].wk.dim(0), 32);
}

TEST(ValidKvHeadCountsTest, AreTheCountsConvertKvHeadsAccepts) {
  ModelConfig c;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.head_dim = 8;
  // MHA by duplication, the model's own GQA, pooled GQA, MQA; 3, 5, 6, 7
  // break the groups.
  EXPECT_THAT(ValidKvHeadCounts(c), ::testing::ElementsAre(8, 4, 2, 1));
  for (int n = 1; n <= 8; ++n) {
    const bool valid = n == 8 || n == 4 || n == 2 || n == 1;
    EXPECT_EQ(CheckKvHeads(c, n).ok(), valid) << n;
  }
  c.n_heads = 12;
  c.n_kv_heads = 6;
  // 12 from 6 by duplication; 6 divides by 3, 2, 1; 4 is neither.
  EXPECT_THAT(ValidKvHeadCounts(c), ::testing::ElementsAre(12, 6, 3, 2, 1));
}

}  // namespace
}  // namespace kvasir::engine
