// The README's quick start, as processes: `kvasir serve --config
// configs/default.yaml` (what `make serve` runs; only the ports moved to
// free ones) and, from another process, `kvasir client stream --prompt
// "Once upon a time"` with no key (the default tenant).
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"

namespace kvasir::integration {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using testing::ServerProcess;

class QuickStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // `kvasir serve --config configs/default.yaml` on free ports.
  absl::StatusOr<std::unique_ptr<ServerProcess>> ServeDefaultConfig(
      std::vector<std::string> extra_args = {}) {
    ServerProcess::Options o;
    o.args = {"--config", testing::SourceDir() + "/configs/default.yaml"};
    o.args.insert(o.args.end(), extra_args.begin(), extra_args.end());
    o.log_path = dir_ + "/server.log";
    o.ready_timeout = absl::Seconds(120);
    return ServerProcess::Start(o);
  }

  std::string dir_;
};

TEST_F(QuickStartTest, ServeDefaultConfigThenClientStream) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServeDefaultConfig();
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<CommandResult> r = (*server)->Client(
      {"stream", "--prompt", "Once upon a time"}, absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_FALSE(absl::StripAsciiWhitespace(r->out).empty());
  // The other client commands of the README work against it too.
  r = (*server)->Client({"generate", "--prompt", "Once upon a time",
                         "--max-tokens", "8", "--json"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  const nlohmann::json j = nlohmann::json::parse(r->out);
  EXPECT_EQ(j.at("token_ids").size(), 8u);
  EXPECT_EQ(j.at("finish_reason"), "length");
  r = (*server)->Client({"info"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr("dummy:tiny"));

  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = (*server)->Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  // Without a model it says loudly that the output is random.
  EXPECT_THAT((*server)->ReadLog(), HasSubstr("NO MODEL CONFIGURED"));
}

// README: "point it at a GGUF model" with --model; the output is then the
// model's (llama.cpp's greedy reference for the first golden prompt).
TEST_F(QuickStartTest, ServeDefaultConfigWithAGgufModel) {
  std::ifstream golden(testing::GoldenPath("stories260K.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(golden, line));
  const nlohmann::json reference = nlohmann::json::parse(line);
  ASSERT_EQ(reference.at("prompt"), "Once upon a time");

  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServeDefaultConfig({"--model", testing::ModelPath("stories260K.gguf")});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<CommandResult> r =
      (*server)->Client({"generate", "--prompt", "Once upon a time",
                         "--max-tokens", "64", "--json"},
                        absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  const nlohmann::json j = nlohmann::json::parse(r->out);
  EXPECT_EQ(j.at("prompt_token_ids"), reference.at("prompt_token_ids"));
  EXPECT_EQ(j.at("token_ids"), reference.at("continuation_token_ids"));
  EXPECT_EQ(j.at("text"), reference.at("continuation_text"));

  r = (*server)->Client(
      {"stream", "--prompt", "Once upon a time", "--max-tokens", "64"},
      absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out,
            reference.at("continuation_text").get<std::string>() + "\n");
  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = (*server)->Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace kvasir::integration
