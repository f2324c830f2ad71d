// The README's quick start, as processes: `kvasir serve --config
// configs/default.yaml` (what `make serve` runs; only the ports moved to
// free ones) and, from another process, `kvasir client stream --prompt
// "Once upon a time"` with no key (the default tenant).
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
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
using ::testing::Not;
using testing::ServerProcess;

class QuickStartTest : public ::testing::Test {
 protected:
  // `kvasir serve --config configs/default.yaml` on free ports.
  absl::StatusOr<std::unique_ptr<ServerProcess>> ServeDefaultConfig(
      std::vector<std::string> extra_args = {}) {
    ServerProcess::Options o;
    o.args = {"--config", testing::SourceDir() + "/configs/default.yaml"};
    o.args.insert(o.args.end(), extra_args.begin(), extra_args.end());
    o.log_path = dir_.File("server.log");
    o.ready_timeout = absl::Seconds(120);
    return ServerProcess::Start(o);
  }

  testing::TempDir dir_;
};

// The first golden prompt's llama.cpp greedy reference for stories260K,
// the model configs/default.yaml serves (models/stories260K.gguf).
nlohmann::json StoriesReference() {
  std::ifstream golden(testing::GoldenPath("stories260K.jsonl"));
  std::string line;
  std::getline(golden, line);
  return nlohmann::json::parse(line);
}

TEST_F(QuickStartTest, ServeDefaultConfigThenClientStream) {
  const nlohmann::json reference = StoriesReference();
  ASSERT_EQ(reference.at("prompt"), "Once upon a time");
  const std::string story =
      reference.at("continuation_text").get<std::string>();

  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServeDefaultConfig();
  ASSERT_TRUE(server.ok()) << server.status();
  // The README's command, as typed: a little story (the shipped model's
  // greedy output, the first 16 tokens of llama.cpp's reference).
  absl::StatusOr<CommandResult> r = (*server)->Client(
      {"stream", "--prompt", "Once upon a time"}, absl::Seconds(120));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  const std::string out(absl::StripTrailingAsciiWhitespace(r->out));
  EXPECT_GT(out.size(), 20u) << out;
  EXPECT_TRUE(absl::StartsWith(story, out)) << out << "\nvs\n" << story;
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
  EXPECT_THAT(r->out, HasSubstr("stories260K"));
  // A base model has no chat template: chat is refused, saying so.
  r = (*server)->Client({"chat", "--prompt", "Hi"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3) << r->err;  // INVALID_ARGUMENT
  EXPECT_THAT(r->err, HasSubstr("no chat template"));

  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = (*server)->Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_THAT((*server)->ReadLog(), Not(HasSubstr("NO MODEL CONFIGURED")));
}

// README: "point it at a GGUF model" with --model; the output is then the
// model's (llama.cpp's greedy reference for the first golden prompt).
TEST_F(QuickStartTest, ServeDefaultConfigWithAGgufModel) {
  const nlohmann::json reference = StoriesReference();
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
