// The Llama runner on real checkpoints against llama.cpp's greedy outputs
// in ../shared/golden: top-10 logits at the last prompt position, the 64
// greedy continuation ids (one token per step), the same with every prompt
// of a model batched together, and the KV-head conversions of stories260K.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/kv_heads.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/golden.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::MaxRelError;
using ::kvasir::testing::GoldenCase;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ReadGolden;

// First maximum wins, as in the golden outputs.
int32_t Argmax(absl::Span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                              logits.begin());
}

std::unique_ptr<Model> Load(const std::string& file) {
  LoadOptions options;
  options.path_or_spec = ModelPath(file);
  auto model = LoadModel(options);
  EXPECT_THAT(model, IsOk());
  return model.ok() ? std::move(model).value() : nullptr;
}

LlamaRunner::Options RunnerOptions() {
  LlamaRunner::Options o;
  o.max_batch_tokens = 128;  // all prompts of a model in one step
  o.max_seqs = 8;
  o.block_size = 16;
  return o;
}

struct ModelCase {
  const char* model;
  const char* golden;
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.model; }

using ::kvasir::engine::testing::Batch;

class GoldenTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(GoldenTest, TopLogitsAndGreedyContinuationMatchLlamaCpp) {
  const std::vector<GoldenCase> cases = ReadGolden(GetParam().golden);
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<Model> model = Load(GetParam().model);
  ASSERT_NE(model, nullptr);
  ASSERT_OK_AND_ASSIGN(auto runner, LlamaRunner::CreateOwning(
                                        RunnerOptions(), std::move(model)));
  for (const GoldenCase& g : cases) {
    SCOPED_TRACE("prompt '" + g.prompt + "'");
    Batch batch(*runner, 1, 128);
    std::vector<std::vector<float>> logits = batch.Step({g.prompt_ids}, {0});
    ASSERT_EQ(logits.size(), 1u);
    for (const auto& [id, want] : g.top10) {
      EXPECT_NEAR(logits[0][id], want, 1e-4) << "token " << id;
    }
    std::vector<int32_t> generated;
    int32_t pos = static_cast<int32_t>(g.prompt_ids.size());
    for (size_t i = 0; i < g.continuation.size(); ++i) {
      const int32_t next = Argmax(logits[0]);
      generated.push_back(next);
      if (i + 1 == g.continuation.size()) break;
      logits = batch.Step({{next}}, {pos++});
      ASSERT_EQ(logits.size(), 1u);
    }
    EXPECT_EQ(generated, g.continuation);
  }
}

// All prompts of the model in one batch: prefill together, then decode
// together; every sequence must still produce its golden continuation.
TEST_P(GoldenTest, AllPromptsBatchedGiveTheSameContinuations) {
  const std::vector<GoldenCase> cases = ReadGolden(GetParam().golden);
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<Model> model = Load(GetParam().model);
  ASSERT_NE(model, nullptr);
  ASSERT_OK_AND_ASSIGN(auto runner, LlamaRunner::CreateOwning(
                                        RunnerOptions(), std::move(model)));
  const int n = static_cast<int>(cases.size());
  Batch batch(*runner, n, 128);
  std::vector<std::vector<int32_t>> tokens;
  std::vector<int32_t> pos(n, 0);
  for (const GoldenCase& g : cases) tokens.push_back(g.prompt_ids);
  std::vector<std::vector<float>> logits = batch.Step(tokens, pos);
  ASSERT_EQ(logits.size(), cases.size());
  std::vector<std::vector<int32_t>> generated(n);
  for (int i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(tokens[i].size());
  for (size_t step = 0; step < 64; ++step) {
    for (int i = 0; i < n; ++i) {
      const int32_t next = Argmax(logits[i]);
      generated[i].push_back(next);
      tokens[i] = {next};
    }
    if (step + 1 == 64) break;
    logits = batch.Step(tokens, pos);
    ASSERT_EQ(logits.size(), cases.size());
    for (int i = 0; i < n; ++i) ++pos[i];
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(generated[i], cases[i].continuation)
        << "prompt '" << cases[i].prompt << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, GoldenTest,
    ::testing::Values(ModelCase{"stories260K.gguf", "stories260K.jsonl"},
                      ModelCase{"babyllama5000.gguf", "babyllama.jsonl"}),
    [](const auto& info) {
      return std::string(info.param.model).substr(0, 7) == "stories"
                 ? std::string("stories260K")
                 : std::string("babyllama5000");
    });

// Logits after every token of the first golden prompt and its continuation.
std::vector<std::vector<float>> TraceLogits(std::unique_ptr<Model> model,
                                            const GoldenCase& g) {
  auto runner = LlamaRunner::CreateOwning(RunnerOptions(), std::move(model));
  EXPECT_THAT(runner, IsOk());
  if (!runner.ok()) return {};
  Batch batch(**runner, 1, 128);
  std::vector<std::vector<float>> out = batch.Step({g.prompt_ids}, {0});
  int32_t pos = static_cast<int32_t>(g.prompt_ids.size());
  for (int i = 0; i < 16 && !out.empty(); ++i) {
    auto next = batch.Step({{g.continuation[i]}}, {pos++});
    if (next.empty()) break;
    out.push_back(std::move(next[0]));
  }
  return out;
}

TEST(GoldenKvHeadsTest, Stories260KAsMhaHasTheSameLogitsAndAsMqaRuns) {
  const std::vector<GoldenCase> cases = ReadGolden("stories260K.jsonl");
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<Model> gqa = Load("stories260K.gguf");
  ASSERT_NE(gqa, nullptr);
  ASSERT_EQ(gqa->config.n_kv_heads, 4);
  ASSERT_EQ(gqa->config.n_heads, 8);
  std::unique_ptr<Model> mha = Load("stories260K.gguf");
  std::unique_ptr<Model> mqa = Load("stories260K.gguf");
  ASSERT_NE(mha, nullptr);
  ASSERT_NE(mqa, nullptr);
  ASSERT_THAT(ConvertKvHeads(*mha, 8), IsOk());
  ASSERT_THAT(ConvertKvHeads(*mqa, 1), IsOk());
  EXPECT_EQ(mha->config.attention_mode(), AttentionMode::kMHA);
  EXPECT_EQ(mqa->config.attention_mode(), AttentionMode::kMQA);

  const auto want = TraceLogits(std::move(gqa), cases[0]);
  const auto got = TraceLogits(std::move(mha), cases[0]);
  ASSERT_EQ(want.size(), 17u);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_LE(MaxRelError(got[i], want[i]), 1e-5) << "step " << i;
  }
  const auto pooled = TraceLogits(std::move(mqa), cases[0]);
  ASSERT_EQ(pooled.size(), want.size());
  for (const auto& l : pooled) {
    ASSERT_EQ(l.size(), want[0].size());
    for (float x : l) ASSERT_TRUE(std::isfinite(x));
  }
}

}  // namespace
}  // namespace kvasir::engine
