// Runs the real `kvasir generate` binary on the golden prompts of every
// model format and checks that it reproduces llama.cpp's prompt ids and
// 64 greedy tokens exactly.
#include <algorithm>
#include <fstream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/golden.h"
#include "tests/testing/paths.h"
#include "tests/testing/subprocess.h"

namespace kvasir {
namespace {

using ::kvasir::testing::BinaryDir;
using ::kvasir::testing::GoldenCase;
using ::kvasir::testing::GoldenPath;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ProcessResult;
using ::kvasir::testing::ReadGolden;
using ::kvasir::testing::RunProcess;
using ::testing::HasSubstr;

ProcessResult Generate(std::vector<std::string> args) {
  args.insert(args.begin(),
              {BinaryDir() + "/tools/kvasir", std::string("generate")});
  return RunProcess(args);
}

struct Variant {
  std::string name;
  std::string model;
  std::string tokenizer;  // for llama2.c checkpoints
  std::string golden;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class GenerateGoldenTest : public ::testing::TestWithParam<Variant> {};

TEST_P(GenerateGoldenTest, JsonReproducesPromptIdsAndContinuation) {
  const Variant& v = GetParam();
  std::ifstream in(GoldenPath(v.golden));
  ASSERT_TRUE(in.good()) << GoldenPath(v.golden);
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json g = nlohmann::json::parse(line);
    const std::string prompt = g["prompt"].get<std::string>();
    std::vector<std::string> args = {"--model", ModelPath(v.model), "--prompt",
                                     prompt,    "--max-tokens",     "64",
                                     "--json"};
    if (!v.tokenizer.empty()) {
      args.insert(args.end(), {"--tokenizer", ModelPath(v.tokenizer)});
    }
    const ProcessResult r = Generate(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json out = nlohmann::json::parse(r.out);
    EXPECT_EQ(out["prompt_token_ids"], g["prompt_token_ids"]) << prompt;
    EXPECT_EQ(out["token_ids"], g["continuation_token_ids"]) << prompt;
    EXPECT_EQ(out["finish_reason"], "length");
    EXPECT_GT(out["timing"]["decode_tokens_per_s"].get<double>(), 0.0);
    ++cases;
  }
  EXPECT_EQ(cases, 6);
}

INSTANTIATE_TEST_SUITE_P(
    Formats, GenerateGoldenTest,
    ::testing::Values(Variant{"stories260K_gguf", "stories260K.gguf", "",
                              "stories260K.jsonl"},
                      Variant{"stories260K_bin", "stories260K.bin",
                              "tok512.bin", "stories260K.jsonl"},
                      Variant{"babyllama_gguf", "babyllama5000.gguf", "",
                              "babyllama.jsonl"},
                      Variant{"babyllama_bin", "babyllama5000.bin",
                              "tok105.bin", "babyllama.jsonl"}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return info.param.name;
    });

// The synth models of real architectures (../shared/golden/synth/README.md):
// prompt ids exact, greedy tokens equal up to the first near-tie (a step
// whose reference top-2 margin is below the model's logit tolerance).
class GenerateSynthTest
    : public ::testing::TestWithParam<std::pair<std::string, float>> {};

TEST_P(GenerateSynthTest, JsonMatchesReferenceUpToTheFirstNearTie) {
  const auto& [model, tolerance] = GetParam();
  const std::vector<GoldenCase> cases = ReadGolden("synth/" + model + ".jsonl");
  ASSERT_FALSE(cases.empty()) << model;
  int compared = 0;
  for (const GoldenCase& g : cases) {
    SCOPED_TRACE(g.prompt);
    const ProcessResult r =
        Generate({"--model", ModelPath("synth/" + model + ".gguf"), "--prompt",
                  g.prompt, "--max-tokens", "32", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json out = nlohmann::json::parse(r.out);
    EXPECT_EQ(out["prompt_token_ids"].get<std::vector<int32_t>>(),
              g.prompt_ids);
    const auto got = out["token_ids"].get<std::vector<int32_t>>();
    for (size_t k = 0; k < StepsBeforeNearTie(g, tolerance); ++k) {
      ASSERT_LT(k, got.size());
      EXPECT_EQ(got[k], g.continuation[k]) << "step " << k;
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Synth, GenerateSynthTest,
    ::testing::Values(std::pair<std::string, float>{"llama3-q8_0", 1.0f},
                      std::pair<std::string, float>{"qwen2-q8_0", 1.0f},
                      std::pair<std::string, float>{"qwen3-q8_0", 1.0f},
                      std::pair<std::string, float>{"spm256-q4_0", 2.0f},
                      std::pair<std::string, float>{"spm256-q4_k_m", 2.0f},
                      std::pair<std::string, float>{"spm256-q5_k_m", 2.0f}),
    [](const auto& info) {
      std::string name = info.param.first;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(GenerateCommandTest, StreamsTheTextToStdout) {
  std::ifstream in(GoldenPath("stories260K.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const nlohmann::json g = nlohmann::json::parse(line);
  const ProcessResult r =
      Generate({"--model", ModelPath("stories260K.gguf"), "--prompt",
                g["prompt"].get<std::string>(), "--max-tokens", "64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, g["continuation_text"].get<std::string>() + "\n");
  EXPECT_THAT(r.err, HasSubstr("decode"));
}

TEST(GenerateCommandTest, MqaConversionRuns) {
  const ProcessResult r = Generate(
      {"--model", ModelPath("stories260K.gguf"), "--prompt", "Hello",
       "--max-tokens", "8", "--kv-heads", "1", "--kv-dtype", "bf16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["token_ids"].size(), 8u);
}

TEST(GenerateCommandTest, BadInputGoesToStderrWithExitCodeTwo) {
  ProcessResult r = Generate({"--prompt", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // a usage error, not CLI11's 106
  EXPECT_THAT(r.err, HasSubstr("--model is required"));

  r = Generate({"--model", ModelPath("no-such-model.gguf"), "--prompt", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("no-such-model.gguf"));
  EXPECT_TRUE(r.out.empty());

  r = Generate({"--model", ModelPath("stories260K.bin"), "--prompt", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("--tokenizer"));

  r = Generate({"--model", ModelPath("babyllama5000.gguf"), "--prompt", "x",
                "--max-tokens", "200"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("context length 128"));
  // Checked before the KV cache is sized from it (2.5 TiB here).
  r = Generate({"--model", ModelPath("stories260K.gguf"), "--prompt", "x",
                "--max-tokens", "2147483647"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("--max-tokens 2147483647 plus the prompt's"));
  // A thread count the OpenMP runtime cannot start is a usage error.
  r = Generate({"--model", ModelPath("stories260K.gguf"), "--prompt", "x",
                "--threads", "70000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--threads"));

  r = Generate({"--model", ModelPath("stories260K.gguf"), "--prompt", "x",
                "--kv-dtype", "f16"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("--kv-dtype"));

  r = Generate({"--model", ModelPath("stories260K.gguf"), "--prompt", "x",
                "--kv-heads", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("kv_heads"));

  r = Generate({"--model", ModelPath("stories260K.gguf"), "--prompt", "x",
                "--temperature", "-1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("temperature"));

  // babyllama's character vocabulary has no byte fallback and no 'Ω'.
  r = Generate({"--model", ModelPath("babyllama5000.gguf"), "--prompt",
                "\xCE\xA9mega", "--json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // bad input
  EXPECT_THAT(r.err, HasSubstr("cannot encode"));
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace kvasir
