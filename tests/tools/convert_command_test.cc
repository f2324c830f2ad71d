// Runs the real `kvasir convert` binary (built before this test, see
// tests/tools/CMakeLists.txt): its file loads in `kvasir generate` and
// generates what the same conversion at load generates; bad flags are
// usage errors naming the flag.
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model/gguf_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace kvasir::tools {
namespace {

using ::kvasir::testing::BinaryDir;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ProcessResult;
using ::kvasir::testing::RunProcess;
using ::kvasir::testing::SourceDir;
using ::testing::HasSubstr;

ProcessResult Kvasir(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryDir() + "/tools/kvasir");
  return RunProcess(args);
}

std::string CalibrationText() {
  return SourceDir() + "/tests/data/calibration.txt";
}

class ConvertCommandTest : public ::testing::Test {
 protected:
  kvasir::testing::TempDir dir_;
};

TEST_F(ConvertCommandTest, ConvertedFileGeneratesLikeConversionAtLoad) {
  const std::string out = dir_.File("gqa2.gguf");
  ProcessResult r =
      Kvasir({"convert", ModelPath("stories260K.gguf"), out, "--kv-heads", "2",
              "--kv-convert", "calibrated", "--calibration", CalibrationText(),
              "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("4 -> 2 KV heads (calibrated)"));
  auto file = engine::GgufFile::Open(out);
  ASSERT_THAT(file, kvasir::testing::IsOk());
  auto kv = (*file)->GetInt("llama.attention.head_count_kv");
  ASSERT_THAT(kv, kvasir::testing::IsOk());
  EXPECT_EQ(*kv, 2);

  const std::vector<std::string> common = {
      "generate", "--prompt", "Once upon a time", "--max-tokens",
      "24",       "--json",   "--threads",        "1"};
  std::vector<std::string> from_file = common;
  from_file.insert(from_file.end(), {"--model", out});
  std::vector<std::string> at_load = common;
  at_load.insert(
      at_load.end(),
      {"--model", ModelPath("stories260K.gguf"), "--kv-heads", "2",
       "--kv-convert", "calibrated", "--calibration", CalibrationText()});
  const ProcessResult a = Kvasir(from_file);
  const ProcessResult b = Kvasir(at_load);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto ja = nlohmann::json::parse(a.out);
  const auto jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["token_ids"], jb["token_ids"]);
  EXPECT_EQ(ja["token_ids"].size(), 24u);
}

TEST_F(ConvertCommandTest, BadFlagsAreUsageErrorsNamingTheFlag) {
  const std::string out = dir_.File("x.gguf");
  ProcessResult r = Kvasir(
      {"convert", ModelPath("stories260K.gguf"), out, "--kv-heads", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--kv-heads 3 does not divide the model's 4 "
                               "KV heads"));
  EXPECT_FALSE(std::filesystem::exists(out));

  r = Kvasir({"convert", ModelPath("stories260K.gguf"), out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--kv-heads is required"));

  r = Kvasir({"convert", ModelPath("stories260K.gguf"), out, "--kv-heads", "2",
              "--kv-convert", "median"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--kv-convert"));

  r = Kvasir({"convert", ModelPath("stories260K.gguf"), out, "--kv-heads", "2",
              "--kv-convert", "calibrated", "--calibration",
              dir_.File("missing.txt")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("missing.txt"));
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace kvasir::tools
