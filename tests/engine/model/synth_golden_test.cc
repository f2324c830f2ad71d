// The random-weight models of real architectures in ../shared/models/synth
// (Llama 3 BPE + rope_freqs, Qwen2 biases + MQA, Qwen3 QK-norm + wide
// heads, SentencePiece Q4_0 / Q4_K_M / Q5_K_M) against llama.cpp's exact
// math in ../shared/golden/synth (see its README for the comparison):
// prompt ids exact; teacher-forced on the reference continuation, the
// reference's top-5 logits within the model's tolerance at every step; the
// greedy token equal to the reference's up to the first near-tie.

#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/model/kv_heads.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "engine/ops/quant/quant_linear.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/testing/golden.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::testing::Batch;
using ::kvasir::testing::GoldenCase;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ReadGolden;
using ::kvasir::testing::StepsBeforeNearTie;

struct SynthCase {
  std::string model;  // under ../shared/models/synth
  float tolerance;    // logits, as the golden README gives it
  quant::Isa isa = quant::Isa::kAuto;
  // KV heads converted to at load (0: as stored). Duplication is exact, so
  // the reference still holds; K/V become f32 beside quantized Q.
  int kv_heads = 0;
};

void PrintTo(const SynthCase& c, std::ostream* os) {
  *os << c.model << "/" << quant::IsaName(c.isa) << "/kv" << c.kv_heads;
}

int32_t Argmax(absl::Span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                              logits.begin());
}

std::unique_ptr<LlamaRunner> LoadRunner(const SynthCase& c) {
  LoadOptions options;
  options.path_or_spec = ModelPath("synth/" + c.model + ".gguf");
  absl::StatusOr<std::unique_ptr<Model>> model = LoadModel(options);
  EXPECT_THAT(model, IsOk());
  if (!model.ok()) return nullptr;
  if (c.kv_heads > 0) {
    absl::Status converted = ConvertKvHeads(**model, c.kv_heads);
    EXPECT_THAT(converted, IsOk());
    if (!converted.ok()) return nullptr;
  }
  LlamaRunner::Options o;
  o.max_batch_tokens = 64;
  o.max_seqs = 4;
  o.quant_isa = c.isa;
  absl::StatusOr<std::unique_ptr<LlamaRunner>> runner =
      LlamaRunner::CreateOwning(o, std::move(model).value());
  EXPECT_THAT(runner, IsOk());
  return runner.ok() ? std::move(runner).value() : nullptr;
}

class SynthGoldenTest : public ::testing::TestWithParam<SynthCase> {};

TEST_P(SynthGoldenTest, PromptIdsAreExact) {
  const std::vector<GoldenCase> cases =
      ReadGolden("synth/" + GetParam().model + ".jsonl");
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<LlamaRunner> runner = LoadRunner(GetParam());
  ASSERT_NE(runner, nullptr);
  for (const GoldenCase& g : cases) {
    SCOPED_TRACE("prompt '" + g.prompt + "'");
    absl::StatusOr<std::vector<int32_t>> ids =
        runner->tokenizer().Encode(g.prompt, {.add_special = true});
    ASSERT_THAT(ids, IsOk());
    EXPECT_EQ(*ids, g.prompt_ids);
  }
}

TEST_P(SynthGoldenTest, TeacherForcedLogitsAndGreedyTokensMatchReference) {
  const SynthCase& c = GetParam();
  const std::vector<GoldenCase> cases =
      ReadGolden("synth/" + c.model + ".jsonl");
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<LlamaRunner> runner = LoadRunner(c);
  ASSERT_NE(runner, nullptr);
  int exact_steps = 0;
  for (const GoldenCase& g : cases) {
    SCOPED_TRACE("prompt '" + g.prompt + "'");
    ASSERT_EQ(g.step_top5.size(), g.continuation.size());
    Batch batch(*runner, 1, 128);
    std::vector<std::vector<float>> logits = batch.Step({g.prompt_ids}, {0});
    ASSERT_EQ(logits.size(), 1u);
    for (const auto& [id, want] : g.top10) {
      EXPECT_NEAR(logits[0][id], want, c.tolerance) << "last prompt, " << id;
    }
    int32_t pos = static_cast<int32_t>(g.prompt_ids.size());
    const size_t exact = StepsBeforeNearTie(g, c.tolerance);
    for (size_t k = 0; k < g.continuation.size(); ++k) {
      SCOPED_TRACE("step " + std::to_string(k));
      const auto& top5 = g.step_top5[k];
      for (const auto& [id, want] : top5) {
        EXPECT_NEAR(logits[0][id], want, c.tolerance) << "token " << id;
      }
      if (k < exact) {
        EXPECT_EQ(Argmax(logits[0]), g.continuation[k]);
        ++exact_steps;
      }
      if (k + 1 == g.continuation.size()) break;
      logits = batch.Step({{g.continuation[k]}}, {pos++});  // teacher-forced
      ASSERT_EQ(logits.size(), 1u);
    }
  }
  // The check above must have compared some greedy tokens.
  EXPECT_GT(exact_steps, 0);
}

std::vector<SynthCase> Cases() {
  std::vector<SynthCase> cases = {
      {"llama3-q8_0", 1.0f}, {"qwen2-q8_0", 1.0f},    {"qwen3-q8_0", 1.0f},
      {"spm256-q4_0", 2.0f}, {"spm256-q4_k_m", 2.0f}, {"spm256-q5_k_m", 2.0f}};
  // KV heads duplicated (exact) on quantized K/V: Q4_K_M GQA 4 -> MHA 8,
  // and Qwen2's MQA with its K/V biases 1 -> 2.
  cases.push_back({"spm256-q4_k_m", 2.0f, quant::Isa::kAuto, 8});
  cases.push_back({"qwen2-q8_0", 1.0f, quant::Isa::kAuto, 2});
  // The AVX2 kernels too, where this CPU has AVX-512 and would not use them.
  if (quant::DetectIsa() == quant::Isa::kAvx512Vnni) {
    for (const char* m :
         {"llama3-q8_0", "spm256-q4_0", "spm256-q4_k_m", "spm256-q5_k_m"}) {
      cases.push_back({m, m[0] == 'l' ? 1.0f : 2.0f, quant::Isa::kAvx2});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Synth, SynthGoldenTest, ::testing::ValuesIn(Cases()),
    [](const ::testing::TestParamInfo<SynthCase>& info) {
      std::string name =
          info.param.model + "_" + std::string(quant::IsaName(info.param.isa));
      if (info.param.kv_heads > 0) {
        name += "_kv" + std::to_string(info.param.kv_heads);
      }
      std::replace_if(
          name.begin(), name.end(),
          [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); },
          '_');
      return name;
    });

}  // namespace
}  // namespace kvasir::engine
