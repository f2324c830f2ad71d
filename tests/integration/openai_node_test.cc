// The official `openai` npm client (Node) against the real `kvasir serve`
// on ../shared/models/synth/qwen2-q8_0.gguf (a Qwen2 architecture and
// tokenizer with random weights): models.list, completions unary and
// streaming with greedy output equal to gRPC's for the same prompt, usage,
// chat completions (the GGUF's ChatML template) equal to gRPC's `messages`,
// and the client's view of refused requests. scripts/install-deps.sh
// installs Node and the client (tests/integration/node/node_modules); when
// either is missing the test fails saying so, it does not skip.
#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/live_server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/paths.h"

namespace kvasir::integration {
namespace {

using json = nlohmann::json;

constexpr char kNode[] = KVASIR_NODE_PATH;
constexpr int32_t kTokens = 24;
constexpr char kPrompt[] = "Hello, my name is";

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

class OpenAiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_dir_ = testing::SourceDir() + "/tests/integration/node";
    ASSERT_TRUE(Exists(kNode))
        << kNode
        << " not found: install Node.js and npm (scripts/install-deps.sh "
           "does)";
    ASSERT_TRUE(Exists(node_dir_ + "/node_modules/openai/package.json"))
        << "the openai npm package is not installed in " << node_dir_
        << "/node_modules: run scripts/install-deps.sh (it runs `npm "
           "install` there: openai@4 from the npm registry)";
    ConfigSpec spec = TwoTenantConfig();
    spec.model = testing::ModelPath("synth/qwen2-q8_0.gguf");
    absl::StatusOr<std::unique_ptr<LiveServer>> s = LiveServer::Start(spec);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  // Runs the client script; its stdout is one JSON object.
  json RunClient(bool chat) {
    std::vector<std::string> argv = {
        kNode,
        node_dir_ + "/openai_client.mjs",
        absl::StrCat("http://127.0.0.1:", server_->process().http_port(),
                     "/v1"),
        kAlphaKey,
        kPrompt,
        std::to_string(kTokens)};
    if (chat) argv.push_back("chat");
    absl::StatusOr<testing::CommandResult> r =
        testing::RunCommand(argv, absl::Seconds(180));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return nullptr;
    EXPECT_EQ(r->exit_code, 0) << r->err << "\nserver log:\n"
                               << server_->process().ReadLog();
    json out = json::parse(r->out, nullptr, false);
    EXPECT_TRUE(out.is_object()) << r->out << r->err;
    return out;
  }

  std::string node_dir_;
  std::unique_ptr<LiveServer> server_;
};

TEST_F(OpenAiNodeTest, CompletionsUnaryAndStreamingMatchGrpc) {
  const json out = RunClient(/*chat=*/false);
  ASSERT_TRUE(out.is_object());
  EXPECT_EQ(out["models"], json::array({"qwen2-q8_0.gguf"}));

  auto stub = server_->Generation();
  const Outcome grpc_out =
      RunUnary(*stub, kAlphaKey, TextRequest(kPrompt, kTokens));
  ASSERT_TRUE(grpc_out.status.ok()) << grpc_out.status.error_message();
  ASSERT_FALSE(grpc_out.text.empty());

  const json& unary = out["completion"];
  EXPECT_EQ(unary["object"], "text_completion");
  EXPECT_EQ(unary["text"], grpc_out.text);
  EXPECT_EQ(unary["finish_reason"], "length");
  EXPECT_EQ(unary["usage"]["completion_tokens"], kTokens);
  EXPECT_EQ(unary["usage"]["prompt_tokens"], grpc_out.usage.prompt_tokens());

  const json& stream = out["completion_stream"];
  EXPECT_EQ(stream["text"], grpc_out.text);
  EXPECT_EQ(stream["finish_reason"], "length");
  EXPECT_GE(stream["chunks"].get<int>(), 2);
  EXPECT_EQ(stream["usage"]["completion_tokens"], kTokens);
  EXPECT_TRUE(
      stream["usage"]["prompt_tokens_details"].contains("cached_tokens"));

  // The client raises APIError with the status and the field.
  EXPECT_EQ(out["bad_field"]["status"], 400);
  EXPECT_EQ(out["bad_field"]["param"], "temperature");
  EXPECT_EQ(out["bad_field"]["type"], "invalid_request_error");
  EXPECT_EQ(out["bad_key"]["status"], 401);
  EXPECT_EQ(out["bad_key"]["type"], "authentication_error");
}

TEST_F(OpenAiNodeTest, ChatUnaryAndStreamingMatchGrpcMessages) {
  const json out = RunClient(/*chat=*/true);
  ASSERT_TRUE(out.is_object());
  v1::GenerateRequest g = TextRequest("", kTokens);
  g.clear_prompt();
  v1::ChatMessage* m = g.mutable_messages()->add_messages();
  m->set_role("user");
  m->set_content(kPrompt);
  auto stub = server_->Generation();
  const Outcome grpc_out = RunUnary(*stub, kAlphaKey, g);
  ASSERT_TRUE(grpc_out.status.ok()) << grpc_out.status.error_message();

  const json& chat = out["chat"];
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["role"], "assistant");
  EXPECT_EQ(chat["text"], grpc_out.text);
  EXPECT_EQ(chat["finish_reason"], "length");
  EXPECT_EQ(chat["usage"]["completion_tokens"], kTokens);
  EXPECT_EQ(chat["usage"]["prompt_tokens"], grpc_out.usage.prompt_tokens());
  const json& stream = out["chat_stream"];
  EXPECT_EQ(stream["text"], grpc_out.text);
  EXPECT_EQ(stream["finish_reason"], "length");
  EXPECT_EQ(stream["usage"]["completion_tokens"], kTokens);
}

}  // namespace
}  // namespace kvasir::integration
