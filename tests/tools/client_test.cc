// The `kvasir client` library (tools/client.h) against a real server.
#include "tools/client.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/server/test_server.h"
#include "tests/testing/ascii_tokenizer.h"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::AsciiTokenizer;
using ::kvasir::tools::ClientOptions;
using ::kvasir::tools::RunClient;
using ::testing::HasSubstr;

class ClientTest : public ServerTest {
 protected:
  ClientOptions Options(const std::string& command) const {
    ClientOptions o;
    o.command = command;
    o.addr = server_->address();
    o.api_key = kAlphaKey;
    return o;
  }

  int Run(const ClientOptions& o) {
    out_.str("");
    err_.str("");
    return RunClient(o, out_, err_);
  }

  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ClientTest, GenerateJsonHasWhatScriptsNeed) {
  StartServer();
  ClientOptions o = Options("generate");
  o.prompt = "ab";
  o.max_tokens = 3;
  o.json = true;
  ASSERT_EQ(Run(o), 0) << err_.str();
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["prompt_token_ids"],
            nlohmann::json({1, AsciiTokenizer::TokenOf(' '),
                            AsciiTokenizer::TokenOf('a'),
                            AsciiTokenizer::TokenOf('b')}));
  const std::vector<int32_t> prompt = TextPromptIds("ab");
  EXPECT_EQ(j["token_ids"], nlohmann::json(ContinuationIds(prompt, 3)));
  EXPECT_EQ(j["text"], ContinuationText(prompt, 3));
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["generated_tokens"], 3);
}

TEST_F(ClientTest, GenerateAndStreamPrintText) {
  StartServer();
  ClientOptions o = Options("generate");
  o.prompt = "ab";
  o.max_tokens = 4;
  const std::string text = ContinuationText(TextPromptIds("ab"), 4);
  ASSERT_EQ(Run(o), 0);
  EXPECT_EQ(out_.str(), text + "\n");
  o.command = "stream";
  ASSERT_EQ(Run(o), 0);
  EXPECT_EQ(out_.str(), text + "\n");
  o.json = true;
  // Stop at the third character (its first occurrence).
  const size_t at = text.find(text[2]);
  o.stop = {text.substr(2, 1)};
  o.top_logprobs = 1;
  ASSERT_EQ(Run(o), 0);
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["text"], text.substr(0, at));
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_EQ(j["prompt_token_ids"].size(), 4u);
  ASSERT_EQ(j["logprobs"].size(), at + 1);
  EXPECT_EQ(j["logprobs"][0]["top_logprobs"].size(), 1u);
}

TEST_F(ClientTest, SamplingFlagsReachTheServer) {
  StartServer();
  ClientOptions o = Options("generate");
  o.token_ids = {1, 70};
  o.max_tokens = 2;
  o.temperature = 0.5f;
  o.top_k = 7;
  o.top_p = 0.9f;
  o.min_p = 0.05f;
  o.repetition_penalty = 1.1f;
  o.seed = 99;
  o.priority = 4;
  o.request_id = "cli-1";
  o.json = true;
  ASSERT_EQ(Run(o), 0) << err_.str();
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["prompt_token_ids"], nlohmann::json({1, 70}));
  EXPECT_EQ(j["request_id"], "cli-1");
  // (The engine's stats are taken at the end of a step, after the finish.)
  EXPECT_TRUE(testing::WaitUntil([&] {
    return server_->TenantStats("alpha").sched.generated_tokens == 2;
  }));
  // Each sampling flag reaches the server's checks: an out-of-range value
  // is refused naming its field.
  struct Bad {
    const char* field;
    void (*set)(ClientOptions&);
  };
  const Bad bad[] = {
      {"temperature", [](ClientOptions& c) { c.temperature = -1.0f; }},
      {"top_k", [](ClientOptions& c) { c.top_k = -5; }},
      {"top_p", [](ClientOptions& c) { c.top_p = 1.5f; }},
      {"min_p", [](ClientOptions& c) { c.min_p = 1.5f; }},
      {"repetition_penalty",
       [](ClientOptions& c) { c.repetition_penalty = -1.0f; }},
  };
  for (const Bad& b : bad) {
    ClientOptions c = o;
    b.set(c);
    EXPECT_EQ(Run(c), 3) << b.field;  // INVALID_ARGUMENT
    EXPECT_THAT(nlohmann::json::parse(out_.str())["error"]["message"]
                    .get<std::string>(),
                HasSubstr(b.field));
  }
}

TEST_F(ClientTest, ExitCodesFollowTheGrpcStatus) {
  StartServer(NoDefaultTenant());
  ClientOptions o = Options("generate");
  o.prompt = "a";
  o.api_key = "";
  EXPECT_EQ(Run(o), 16);  // UNAUTHENTICATED
  EXPECT_THAT(err_.str(), HasSubstr("UNAUTHENTICATED"));
  o.api_key = kAlphaKey;
  o.top_p = 3;
  o.json = true;
  EXPECT_EQ(Run(o), 3);  // INVALID_ARGUMENT
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(j["error"]["message"].get<std::string>(), HasSubstr("top_p"));
  o = Options("stats");
  EXPECT_EQ(Run(o), 7);  // PERMISSION_DENIED for a tenant key
  o.api_key = kAdminKey;
  EXPECT_EQ(Run(o), 0);
  EXPECT_THAT(out_.str(), HasSubstr("tenant alpha: kv blocks 0 used / 16 "
                                    "reserved / 32 limit"));
  o = Options("generate");
  EXPECT_EQ(Run(o), 2);  // no prompt
  // A key read from a file with its newline: refused before gRPC sees it
  // (gRPC aborts the process on such a header value).
  o.prompt = "a";
  o.api_key = std::string(kAlphaKey) + "\n";
  EXPECT_EQ(Run(o), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--api-key has a control or non-ASCII "
                                    "byte at offset"));
  o.api_key = kAlphaKey;
  absl::StatusOr<int> port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  o.prompt = "a";
  o.addr = "127.0.0.1:" + std::to_string(*port);
  EXPECT_EQ(Run(o), 14);  // UNAVAILABLE: nobody listens
}

// An empty --token-ids would convert to token 0: a usage error (exit 2)
// before any call, with or without a server.
TEST(ClientCommandLineTest, EmptyTokenIdsAreAUsageError) {
  const testing::ProcessResult r = testing::RunProcess(
      {testing::BinaryDir() + "/tools/kvasir", "client", "generate", "--addr",
       "127.0.0.1:1", "--token-ids", ""});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--token-ids: an empty token id"));
}

TEST_F(ClientTest, StatsJsonIsTheProtoJsonMapping) {
  StartServer();
  ClientOptions o = Options("stats");
  o.api_key = kAdminKey;
  // The proto as protobuf's JSON printer writes it: the .proto's
  // snake_case names, zeros printed, 64-bit integers as strings.
  o.json = true;
  ASSERT_EQ(Run(o), 0) << err_.str();
  const nlohmann::json stats = nlohmann::json::parse(out_.str());
  nlohmann::json alpha;
  for (const nlohmann::json& t : stats["tenants"]) {
    if (t["name"] == "alpha") alpha = t;
  }
  ASSERT_FALSE(alpha.is_null()) << out_.str();
  EXPECT_EQ(alpha["kv_limit_blocks"], "32");
  EXPECT_EQ(alpha["kv_reserved_blocks"], "16");
  EXPECT_EQ(alpha["kv_used_blocks"], "0");
  EXPECT_EQ(alpha["running"], 0);  // int32: a number
  EXPECT_EQ(alpha["over_limit"], false);
  EXPECT_TRUE(stats.contains("prefix_hit_rate"));
  EXPECT_EQ(stats["queued"], 0);
}

TEST_F(ClientTest, UsagePrintsEachTenantAndResetZeroesIt) {
  StartServer();
  ClientOptions g = Options("generate");
  g.prompt = "ab";
  g.max_tokens = 3;
  ASSERT_EQ(Run(g), 0) << err_.str();
  ClientOptions o = Options("usage");
  EXPECT_EQ(Run(o), 7);  // PERMISSION_DENIED for a tenant key
  o.api_key = kAdminKey;
  o.reset = true;
  ASSERT_EQ(Run(o), 0) << err_.str();
  // BOS, ' ', 'a', 'b': 4 prompt tokens.
  EXPECT_THAT(out_.str(), HasSubstr("(now reset to zero)"));
  EXPECT_THAT(out_.str(),
              HasSubstr("tenant alpha: requests length 1; refused none; "
                        "prompt tokens 4 (0 cached), generated 3; kv "
                        "byte-seconds "));
  o.reset = false;
  ASSERT_EQ(Run(o), 0) << err_.str();
  EXPECT_THAT(out_.str(),
              HasSubstr("tenant alpha: requests none; refused none; prompt "
                        "tokens 0 (0 cached), generated 0; kv byte-seconds "));
}

TEST_F(ClientTest, HealthTokenizeInfoReload) {
  StartServer(EngineNotAttached());
  ClientOptions o = Options("health");
  EXPECT_EQ(Run(o), 14);
  EXPECT_EQ(out_.str(), "NOT_SERVING\n");
  server_->AttachEngine();
  EXPECT_EQ(Run(o), 0);
  EXPECT_EQ(out_.str(), "SERVING\n");

  o = Options("tokenize");
  o.prompt = "ab";
  ASSERT_EQ(Run(o), 0);
  EXPECT_EQ(out_.str(), "1 35 100 101\n");

  o = Options("info");
  o.json = true;
  ASSERT_EQ(Run(o), 0);
  const nlohmann::json info = nlohmann::json::parse(out_.str());
  EXPECT_EQ(info["attention_mode"], "GQA");
  EXPECT_EQ(info["n_kv_heads"], 2);
  EXPECT_EQ(info["kv_capacity_tokens"], 1024);

  o = Options("reload");
  o.api_key = kAdminKey;
  ASSERT_EQ(Run(o), 0);
  EXPECT_THAT(out_.str(), HasSubstr("no changes"));
}

}  // namespace
}  // namespace kvasir::server
