// Runs the real `kvasir inspect` binary (built before this test, see
// tests/tools/CMakeLists.txt) and checks what it prints.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"

namespace kvasir {
namespace {

using ::kvasir::testing::ModelPath;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RunResult RunKvasir(const std::string& args) {
  const kvasir::testing::TempDir dir;
  const std::string cmd = kvasir::testing::BinaryDir() + "/tools/kvasir " +
                          args + " >" + dir.File("out") + " 2>" +
                          dir.File("err");
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(dir.File("out"));
  r.err = Slurp(dir.File("err"));
  return r;
}

TEST(InspectCommandTest, JsonForAGgufModel) {
  const RunResult r =
      RunKvasir("inspect --json --model " + ModelPath("stories260K.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"], "stories260K.gguf");
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["dim"], 64);
  EXPECT_EQ(j["hidden_dim"], 172);
  EXPECT_EQ(j["n_layers"], 5);
  EXPECT_EQ(j["n_heads"], 8);
  EXPECT_EQ(j["n_kv_heads"], 4);
  EXPECT_EQ(j["head_dim"], 8);
  EXPECT_EQ(j["attention_mode"], "GQA");
  EXPECT_EQ(j["group_size"], 2);
  EXPECT_EQ(j["vocab_size"], 512);
  EXPECT_EQ(j["context_length"], 2048);
  EXPECT_EQ(j["rope_theta"], 10000.0);
  EXPECT_EQ(j["rms_eps"], 1e-5);
  EXPECT_EQ(j["parameters"], 260032);
  EXPECT_EQ(j["tied_output"], true);
  EXPECT_EQ(j["bos_id"], 1);
  EXPECT_EQ(j["eos_id"], 2);
  EXPECT_EQ(j["end_of_generation_ids"], nlohmann::json::array({2}));
  // 2 * 5 layers * 4 KV heads * 8 * sizeof(dtype)
  EXPECT_EQ(j["kv_bytes_per_token"]["f32"], 1280);
  EXPECT_EQ(j["kv_bytes_per_token"]["bf16"], 640);
}

TEST(InspectCommandTest, QuantizedFileTypesMemoryAndKvHeadTable) {
  const std::string path = ModelPath("synth/spm256-q4_k_m.gguf");
  const RunResult r = RunKvasir("inspect --json --kv-heads 2 --model " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["tensor_types"]["Q4_K"].get<int>(), 0);
  EXPECT_GT(j["tensor_types"]["Q6_K"].get<int>(), 0);
  EXPECT_EQ(j["tensor_types"]["F32"], 9);  // 4 x 2 norms + output_norm
  const double bpw = j["bits_per_weight"].get<double>();
  EXPECT_GT(bpw, 4.5);
  EXPECT_LT(bpw, 6.6);
  EXPECT_EQ(j["tokenizer_model"], "llama");
  const int64_t file_bytes = j["file_bytes"].get<int64_t>();
  EXPECT_EQ(file_bytes, std::filesystem::file_size(path));
  // Kept quantized: memory after load is about the file, not 7x it.
  EXPECT_LT(j["weights_memory_bytes"].get<int64_t>(), file_bytes * 12 / 10);
  // GQA 8/4 converted to 2 KV heads: every reachable count, 2 active.
  EXPECT_EQ(j["checkpoint_kv_heads"], 4);
  EXPECT_EQ(j["n_kv_heads"], 2);
  EXPECT_EQ(j["kv_converted_to_f32"], true);
  std::vector<int> heads;
  for (const auto& row : j["kv_heads_table"]) {
    heads.push_back(row["kv_heads"].get<int>());
    EXPECT_EQ(row["active"], row["kv_heads"] == 2);
    // 2 * 4 layers * kv_heads * head_dim 32 * 4 bytes
    EXPECT_EQ(row["f32"], 2 * 4 * row["kv_heads"].get<int>() * 32 * 4);
  }
  EXPECT_EQ(heads, (std::vector<int>{1, 2, 4, 8}));
  EXPECT_EQ(j["kv_heads_table"][0]["mode"], "MQA");
  EXPECT_EQ(j["kv_heads_table"][3]["mode"], "MHA");

  const RunResult text = RunKvasir("inspect --model " + path);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("Q4_K x"));
  EXPECT_THAT(text.out, HasSubstr("<- active"));
}

TEST(InspectCommandTest, TextForALlama2cCheckpoint) {
  const RunResult r =
      RunKvasir("inspect --model " + ModelPath("babyllama5000.bin") +
                " --tokenizer " + ModelPath("tok105.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("GQA (H=8, Hkv=4, group size 2)"));
  EXPECT_THAT(r.out, HasSubstr("936,448"));
  EXPECT_THAT(r.out, HasSubstr("f32 2560"));
  EXPECT_THAT(r.out, HasSubstr("bf16 1280"));
  EXPECT_THAT(r.out, HasSubstr("tied to the token embedding"));
}

TEST(InspectCommandTest, DummyPresetAttentionModes) {
  const RunResult mha = RunKvasir("inspect --json --model dummy:15m");
  ASSERT_EQ(mha.exit_code, 0) << mha.err;
  EXPECT_EQ(nlohmann::json::parse(mha.out)["attention_mode"], "MHA");
  const RunResult tiny = RunKvasir("inspect --json --model dummy:tiny");
  ASSERT_EQ(tiny.exit_code, 0) << tiny.err;
  EXPECT_EQ(nlohmann::json::parse(tiny.out)["n_kv_heads"], 2);
}

TEST(InspectCommandTest, BadInputExitsWithTwoAndAMessage) {
  const RunResult missing = RunKvasir("inspect --model /no/such/file.gguf");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/no/such/file.gguf"));
  EXPECT_TRUE(missing.out.empty());
  const RunResult no_tok =
      RunKvasir("inspect --model " + ModelPath("stories260K.bin"));
  EXPECT_EQ(no_tok.exit_code, 2);
  EXPECT_THAT(no_tok.err, HasSubstr("--tokenizer"));
  const RunResult preset = RunKvasir("inspect --model dummy:7b");
  EXPECT_EQ(preset.exit_code, 2);
  EXPECT_THAT(preset.err, HasSubstr("dummy:110m"));
}

}  // namespace
}  // namespace kvasir
