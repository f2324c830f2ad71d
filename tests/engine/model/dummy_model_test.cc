#include "engine/model/dummy_model.h"

#include <omp.h>

#include <cmath>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

bool SameTensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         (a.numel() == 0 ||
          std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0);
}

TEST(DummyModelTest, PresetConfigs) {
  struct Expected {
    const char* name;
    int dim, hidden, layers, heads, kv_heads, vocab;
    bool tied;
    AttentionMode mode;
  };
  const Expected expected[] = {
      {"tiny", 64, 172, 2, 4, 2, 512, true, AttentionMode::kGQA},
      {"15m", 288, 768, 6, 6, 6, 32000, true, AttentionMode::kMHA},
      {"110m", 768, 2048, 12, 12, 12, 32000, true, AttentionMode::kMHA},
      {"1b", 2048, 5632, 22, 32, 4, 32000, false, AttentionMode::kGQA},
  };
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.name);
    ASSERT_OK_AND_ASSIGN(DummyPreset p, FindDummyPreset(e.name));
    const ModelConfig& c = p.config;
    EXPECT_EQ(c.name, std::string("dummy:") + e.name);
    EXPECT_EQ(c.dim, e.dim);
    EXPECT_EQ(c.hidden_dim, e.hidden);
    EXPECT_EQ(c.n_layers, e.layers);
    EXPECT_EQ(c.n_heads, e.heads);
    EXPECT_EQ(c.n_kv_heads, e.kv_heads);
    EXPECT_EQ(c.head_dim, e.dim / e.heads);
    EXPECT_EQ(c.vocab_size, e.vocab);
    EXPECT_EQ(c.context_length, 2048);
    EXPECT_EQ(p.tied_output, e.tied);
    EXPECT_EQ(c.attention_mode(), e.mode);
  }
  // The shapes give the parameter counts of the models they imitate.
  ASSERT_OK_AND_ASSIGN(DummyPreset s15, FindDummyPreset("15m"));
  EXPECT_NEAR(s15.config.ParameterCount(true) / 1e6, 15.2, 0.1);
  ASSERT_OK_AND_ASSIGN(DummyPreset s110, FindDummyPreset("110m"));
  EXPECT_NEAR(s110.config.ParameterCount(true) / 1e6, 110.0, 0.5);
  ASSERT_OK_AND_ASSIGN(DummyPreset b1, FindDummyPreset("1b"));
  EXPECT_NEAR(b1.config.ParameterCount(false) / 1e9, 1.1, 0.01);
  EXPECT_EQ(b1.config.group_size(), 8);
}

TEST(DummyModelTest, UnknownPresetListsThePresets) {
  EXPECT_THAT(CreateDummyModel("huge", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'huge'"), HasSubstr("dummy:tiny"),
                             HasSubstr("dummy:15m"), HasSubstr("dummy:110m"),
                             HasSubstr("dummy:1b"))));
}

TEST(DummyModelTest, TinyShapesAndTokenizer) {
  ASSERT_OK_AND_ASSIGN(auto m, CreateDummyModel("tiny", 7));
  const ModelWeights& w = m->weights;
  EXPECT_THAT(w.tok_embeddings.shape(), ElementsAre(512, 64));
  ASSERT_EQ(w.layers.size(), 2u);
  EXPECT_THAT(w.layers[1].wq.shape(), ElementsAre(64, 64));
  EXPECT_THAT(w.layers[1].wk.shape(), ElementsAre(32, 64));
  EXPECT_THAT(w.layers[1].wv.shape(), ElementsAre(32, 64));
  EXPECT_THAT(w.layers[1].wo.shape(), ElementsAre(64, 64));
  EXPECT_THAT(w.layers[1].w_gate.shape(), ElementsAre(172, 64));
  EXPECT_THAT(w.layers[1].w_up.shape(), ElementsAre(172, 64));
  EXPECT_THAT(w.layers[1].w_down.shape(), ElementsAre(64, 172));
  EXPECT_TRUE(w.tied_output());
  for (float x : w.layers[0].attn_norm.span()) ASSERT_EQ(x, 1.0f);
  for (float x : w.final_norm.span()) ASSERT_EQ(x, 1.0f);
  EXPECT_EQ(m->tokenizer->vocab_size(), 512);
  ASSERT_OK_AND_ASSIGN(auto ids, m->tokenizer->Encode("hi", {}));
  EXPECT_THAT(ids, ElementsAre(1, 3 + 'h', 3 + 'i'));
}

TEST(DummyModelTest, FifteenMShapes) {
  ASSERT_OK_AND_ASSIGN(auto m, CreateDummyModel("15m", 1));
  EXPECT_THAT(m->weights.tok_embeddings.shape(), ElementsAre(32000, 288));
  ASSERT_EQ(m->weights.layers.size(), 6u);
  EXPECT_THAT(m->weights.layers[5].wk.shape(), ElementsAre(288, 288));
  EXPECT_THAT(m->weights.layers[5].w_down.shape(), ElementsAre(288, 768));
  EXPECT_EQ(m->tokenizer->vocab_size(), 32000);
  // Weights look like N(0, 0.02): check mean and spread of the embedding.
  double sum = 0, sum_sq = 0;
  float max_abs = 0;
  for (float x : m->weights.tok_embeddings.span()) {
    sum += x;
    sum_sq += static_cast<double>(x) * x;
    max_abs = std::max(max_abs, std::fabs(x));
  }
  const double n = static_cast<double>(m->weights.tok_embeddings.numel());
  EXPECT_NEAR(sum / n, 0.0, 1e-4);
  EXPECT_NEAR(std::sqrt(sum_sq / n), 0.02, 2e-4);
  EXPECT_LT(max_abs, 0.07f);  // a sum of four bytes stays within 3.45 sigma
}

TEST(DummyModelTest, SameSeedSameWeightsDifferentSeedDifferent) {
  ASSERT_OK_AND_ASSIGN(auto a, CreateDummyModel("tiny", 42));
  ASSERT_OK_AND_ASSIGN(auto b, CreateDummyModel("tiny", 42));
  ASSERT_OK_AND_ASSIGN(auto c, CreateDummyModel("tiny", 43));
  EXPECT_TRUE(SameTensor(a->weights.tok_embeddings, b->weights.tok_embeddings));
  EXPECT_TRUE(
      SameTensor(a->weights.layers[1].w_down, b->weights.layers[1].w_down));
  EXPECT_FALSE(
      SameTensor(a->weights.tok_embeddings, c->weights.tok_embeddings));
  EXPECT_FALSE(
      SameTensor(a->weights.layers[1].w_down, c->weights.layers[1].w_down));
  // Different tensors of one model are different streams.
  EXPECT_FALSE(SameTensor(a->weights.layers[0].wq, a->weights.layers[0].wo));
}

TEST(DummyModelTest, WeightsDoNotDependOnTheThreadCount) {
  // 15m: its embedding (9.2M floats) is filled in parallel.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  ASSERT_OK_AND_ASSIGN(auto one, CreateDummyModel("15m", 5));
  omp_set_num_threads(3);
  ASSERT_OK_AND_ASSIGN(auto three, CreateDummyModel("15m", 5));
  omp_set_num_threads(threads);
  EXPECT_TRUE(
      SameTensor(one->weights.tok_embeddings, three->weights.tok_embeddings));
  EXPECT_TRUE(
      SameTensor(one->weights.layers[5].w_up, three->weights.layers[5].w_up));
}

}  // namespace
}  // namespace kvasir::engine
