// Runs the real `kvasir inspect` binary (built before this test, see
// loaders.cmake) and checks what it prints.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
  const std::string dir = kvasir::testing::MakeTempDir();
  const std::string cmd = kvasir::testing::BinaryDir() + "/tools/kvasir " +
                          args + " >" + dir + "/out 2>" + dir + "/err";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(dir + "/out");
  r.err = Slurp(dir + "/err");
  std::filesystem::remove_all(dir);
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
