// Runs the real `kvasir perplexity` and `kvasir kv-report` binaries on
// stories260K and the eval text, against llama.cpp's llama-perplexity
// (../shared/eval/README.md), and checks their errors.
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"
#include "tests/testing/subprocess.h"

namespace kvasir {
namespace {

using ::kvasir::testing::BinaryDir;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ProcessResult;
using ::kvasir::testing::RunProcess;
using ::kvasir::testing::SharedDir;
using ::testing::HasSubstr;

std::string EvalText() { return SharedDir() + "/eval/stories-eval.txt"; }

ProcessResult Kvasir(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryDir() + "/tools/kvasir");
  return RunProcess(args);
}

ProcessResult Perplexity(std::vector<std::string> extra) {
  // One thread: the model is tiny, and OpenMP threads that spin on a
  // loaded test machine only make it slower.
  std::vector<std::string> args = {
      "perplexity", "--model",  ModelPath("stories260K.gguf"),
      "--text",     EvalText(), "--threads",
      "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return Kvasir(args);
}

// llama.cpp's perplexities of stories260K at -c 128 (../shared/eval).
struct Reference {
  std::string kv_heads;  // empty: as trained
  double ppl;
};

void PrintTo(const Reference& r, std::ostream* os) {
  *os << "kv_heads " << (r.kv_heads.empty() ? "native" : r.kv_heads);
}

class PerplexityTableTest : public ::testing::TestWithParam<Reference> {};

TEST_P(PerplexityTableTest, MatchesLlamaCppWithinHalfAPercent) {
  std::vector<std::string> args = {"--ctx", "128", "--json"};
  if (!GetParam().kv_heads.empty()) {
    args.insert(args.end(), {"--kv-heads", GetParam().kv_heads});
  }
  const ProcessResult r = Perplexity(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["chunks"], 10);
  EXPECT_EQ(j["scored_tokens"], 10 * 63);
  EXPECT_EQ(j["chunk_ppl"].size(), 10u);
  const double ppl = j["ppl"].get<double>();
  EXPECT_NEAR(ppl, GetParam().ppl, GetParam().ppl * 0.005);
  EXPECT_DOUBLE_EQ(j["chunk_ppl"].back().get<double>(), ppl);
  EXPECT_GT(j["ppl_error"].get<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Stories260K, PerplexityTableTest,
                         ::testing::Values(Reference{"", 4.0640},
                                           Reference{"8", 4.0640},
                                           Reference{"2", 120.83},
                                           Reference{"1", 215.50}),
                         [](const auto& info) {
                           return info.param.kv_heads.empty()
                                      ? std::string("native")
                                      : "kv_heads_" + info.param.kv_heads;
                         });

TEST(PerplexityCommandTest, PrintsRunningEstimatesAndTheFinalLikeLlamaCpp) {
  const ProcessResult r = Perplexity({"--ctx", "128"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("10 chunks of 128"));
  EXPECT_THAT(r.out, HasSubstr("[1]"));
  EXPECT_THAT(r.out, HasSubstr(",[10]"));
  EXPECT_THAT(r.out, HasSubstr("Final estimate: PPL = 4.06"));
  // Not a terminal: no progress bar.
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("chunks, PPL")));
}

std::string CalibrationText() {
  return ::kvasir::testing::SourceDir() + "/tests/data/calibration.txt";
}

// --kv-convert reaches the loaded model: calibrated conversion to 2 KV heads
// (calibrated on other text than the eval text) at least halves mean
// pooling's 120.8; --kv-convert mean is llama.cpp's mean-pooled figure.
TEST(PerplexityCommandTest, KvConvertCalibratedHalvesMeanPooling) {
  ProcessResult r = Perplexity(
      {"--ctx", "128", "--kv-heads", "2", "--kv-convert", "mean", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_convert"], "mean");
  EXPECT_NEAR(j["ppl"].get<double>(), 120.83, 120.83 * 0.005);
  r = Perplexity({"--ctx", "128", "--kv-heads", "2", "--kv-convert",
                  "calibrated", "--calibration", CalibrationText(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_convert"], "calibrated");
  EXPECT_EQ(j["kv_heads"], 2);
  EXPECT_LE(j["ppl"].get<double>(), 60.0);
  r = Perplexity({"--kv-heads", "2", "--kv-convert", "calibrated",
                  "--calibration", "/nonexistent/calibration.txt"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/calibration.txt"));
}

TEST(PerplexityCommandTest, Bf16CacheStaysCloseToF32) {
  const ProcessResult r =
      Perplexity({"--ctx", "128", "--kv-dtype", "bf16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_dtype"], "bf16");
  EXPECT_NEAR(j["ppl"].get<double>(), 4.0640, 4.0640 * 0.01);
}

TEST(PerplexityCommandTest, BadFlagsGiveClearErrors) {
  ProcessResult r = Perplexity({"--ctx", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ctx 2 must be in [3, 2048]"));
  r = Perplexity({"--ctx", "4096"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ctx 4096 must be in [3, 2048]"));
  EXPECT_THAT(r.err, HasSubstr("context length of stories260K.gguf"));
  // The eval text is about 1.3k tokens: two chunks of 512 fit, not of 1024.
  r = Perplexity({"--ctx", "512", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Perplexity({"--ctx", "1024"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, ::testing::ContainsRegex(
                         "the text is 1[0-9]{3} tokens; --ctx 1024 needs at "
                         "least 2048"));
  r = Perplexity({"--kv-dtype", "f16"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--kv-dtype: 'f16' is not one of"));
  r = Perplexity({"--kv-heads", "3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("kv_heads: 3"));
  r = Kvasir({"perplexity", "--model", ModelPath("stories260K.gguf"), "--text",
              "/nonexistent/text.txt"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--text file '/nonexistent/text.txt'"));
}

TEST(PerplexityCommandTest, ShortTextSaysHowManyTokensItHasAndNeeds) {
  const ::kvasir::testing::TempDir dir;
  const std::string path = dir.File("short.txt");
  ASSERT_TRUE(::kvasir::testing::WriteFileAtomically(
      path, "Once upon a time there was a cat."));
  const ProcessResult r =
      Kvasir({"perplexity", "--model", ModelPath("stories260K.gguf"), "--text",
              path, "--ctx", "64"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, ::testing::ContainsRegex(
                         "the text is [0-9]+ tokens; --ctx 64 needs at least "
                         "128"));
}

TEST(KvReportCommandTest, EveryModeAndDtypeWithPerplexity) {
  const ProcessResult r =
      Kvasir({"kv-report", "--model", ModelPath("stories260K.gguf"), "--text",
              EvalText(), "--ctx", "512", "--ppl-ctx", "128", "--threads", "1",
              "--calibration", CalibrationText(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["budget_bytes"], 64 << 20);
  EXPECT_EQ(j["ppl_ctx"], 128);
  // 8 query heads, 4 KV heads: MHA 8, GQA 4 (native), GQA 2, MQA 1; each
  // for every KV dtype, widest first.
  const nlohmann::json& rows = j["rows"];
  ASSERT_EQ(rows.size(), 12u);  // f32, bf16, int8
  const size_t dtypes = rows.size() / 4;
  const std::vector<int> heads = {8, 4, 2, 1};
  const std::vector<double> want = {4.0640, 4.0640, 120.83, 215.50};
  for (size_t h = 0; h < 4; ++h) {
    const nlohmann::json& f32 = rows[h * dtypes];
    EXPECT_EQ(f32["kv_heads"], heads[h]);
    EXPECT_EQ(f32["kv_dtype"], "f32");
    EXPECT_EQ(f32["native"], heads[h] == 4);
    // 5 layers x K and V x heads x head_dim 8 x 4 bytes.
    EXPECT_EQ(f32["bytes_per_token"], 2 * 5 * heads[h] * 8 * 4);
    // 64 MiB in whole 16-token blocks / 32 blocks per 512-token sequence.
    const int64_t block = int64_t{2} * 5 * heads[h] * 8 * 4 * 16;
    EXPECT_EQ(f32["sequences"], ((int64_t{64} << 20) / block) / 32);
    EXPECT_NEAR(f32["ppl"]["mean"].get<double>(), want[h], want[h] * 0.005);
    EXPECT_EQ(rows[h * dtypes + 1]["kv_dtype"], "bf16");
    EXPECT_EQ(rows[h * dtypes + 1]["bytes_per_token"],
              2 * 5 * heads[h] * 8 * 2);
    // int8: one byte an element plus an f32 scale per token and KV head.
    const nlohmann::json& int8 = rows[h * dtypes + 2];
    EXPECT_EQ(int8["kv_dtype"], "int8");
    EXPECT_EQ(int8["bytes_per_token"], 2 * 5 * heads[h] * (8 + 4));
    const double mean = f32["ppl"]["mean"].get<double>();
    const double calibrated = f32["ppl"]["calibrated"].get<double>();
    if (heads[h] >= 4) {
      // No heads merged: both methods are the same model.
      EXPECT_DOUBLE_EQ(calibrated, mean);
    } else {
      EXPECT_LE(calibrated, mean / 2) << "kv_heads " << heads[h];
    }
    // Every dtype is measured for both methods; int8 within 1% of f32.
    for (size_t d = 0; d < dtypes; ++d) {
      const nlohmann::json& ppl = rows[h * dtypes + d]["ppl"];
      ASSERT_TRUE(ppl["mean"].is_number()) << ppl;
      ASSERT_TRUE(ppl["calibrated"].is_number()) << ppl;
    }
    if (heads[h] >= 4) {
      // The trained model's heads: the int8 cache within 1% of f32.
      EXPECT_NEAR(int8["ppl"]["mean"].get<double>(), mean, mean * 0.01);
    } else {
      // Merged heads: the calibrated conversion's gain survives int8.
      EXPECT_LE(int8["ppl"]["calibrated"].get<double>(),
                int8["ppl"]["mean"].get<double>() / 2);
    }
  }
  // The native row in int8: 480 bytes per token (f32: 1280).
  EXPECT_EQ(rows[1 * dtypes + 2]["bytes_per_token"], 480);
  EXPECT_EQ(j["methods"], nlohmann::json::array({"mean", "calibrated"}));
  EXPECT_EQ(rows[2 * dtypes]["mode"], "GQA-2");
  EXPECT_EQ(rows[3 * dtypes]["mode"], "MQA");
}

TEST(KvReportCommandTest, PlainTableWithoutText) {
  const ProcessResult r =
      Kvasir({"kv-report", "--model", ModelPath("stories260K.gguf"), "--budget",
              "1MiB", "--ctx", "256"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("sequences of 256 tokens in 1MiB"));
  EXPECT_THAT(r.out, HasSubstr("KV heads  mode"));
  EXPECT_THAT(r.out, HasSubstr("GQA-4 (native)"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("PPL")));
  // MQA f32: 320 bytes/token, 5120-byte blocks: 204 blocks, 16 a sequence.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("1  MQA +f32 +320 +12\n"));
}

TEST(KvReportCommandTest, BadFlags) {
  ProcessResult r = Kvasir({"kv-report", "--model",
                            ModelPath("stories260K.gguf"), "--budget", "12XB"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--budget"));
  r = Kvasir(
      {"kv-report", "--model", ModelPath("stories260K.gguf"), "--ctx", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ctx 0 must be at least 1"));
  r = Kvasir({"kv-report", "--model", ModelPath("stories260K.gguf"), "--text",
              EvalText(), "--ppl-ctx", "2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ppl-ctx 2 must be in [3, 2048]"));
  // An empty text is an error, not a table without its perplexity columns.
  const ::kvasir::testing::TempDir dir;
  const std::string empty = dir.File("empty.txt");
  ASSERT_TRUE(::kvasir::testing::WriteFileAtomically(empty, ""));
  r = Kvasir(
      {"kv-report", "--model", ModelPath("stories260K.gguf"), "--text", empty});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_THAT(r.err, HasSubstr("is empty: perplexity needs text"));
}

}  // namespace
}  // namespace kvasir
