// `serve` as a real process (test_kvasir: the real command line, with the
// real engine on the FakeRunner behind `serve`): health, signals, drain,
// reload, exit codes; and the ServerProcess helper itself.
#include <signal.h>

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "kvasir/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/server/serve_fixture.h"
#include "tests/server/test_server.h"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::CommandResult;
using ::kvasir::testing::RunCommand;
using ::kvasir::testing::ServerProcess;
using ::kvasir::testing::WaitUntil;
using ::testing::HasSubstr;
using ::testing::Not;

class ServeProcessTest : public ServeFixture {
 protected:
  nlohmann::json Stats() {
    absl::StatusOr<CommandResult> r =
        server_->Client({"stats", "--json", "--api-key", kAdminKey});
    if (!r.ok() || r->exit_code != 0) return nlohmann::json();
    return nlohmann::json::parse(r->out);
  }
};

TEST_F(ServeProcessTest, ServesThenExitsZeroOnSigterm) {
  StartServer();
  absl::StatusOr<CommandResult> r =
      server_->Client({"generate", "--prompt", "ab", "--max-tokens", "3",
                       "--json", "--api-key", kAlphaKey});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  const nlohmann::json j = nlohmann::json::parse(r->out);
  EXPECT_EQ(j["text"], ContinuationText(TextPromptIds("ab"), 3));
  EXPECT_EQ(j["prompt_token_ids"].size(), 4u);
  // Without a key the default tenant serves; the stream prints text.
  r = server_->Client({"stream", "--prompt", "ab", "--max-tokens", "4"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, ContinuationText(TextPromptIds("ab"), 4) + "\n");
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  absl::StatusOr<int> code = server_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << server_->ReadLog();
  const std::string log = server_->ReadLog();
  EXPECT_THAT(log, HasSubstr("request finished"));
  EXPECT_THAT(log, HasSubstr("tenant=alpha"));
  EXPECT_THAT(log, HasSubstr("Terminated: shutting down"));
}

TEST_F(ServeProcessTest, SigtermDrainsARunningStream) {
  StartServer();
  auto stub = v1::Generation::NewStub(grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials()));
  auto ctx = TestServer::Context(kAlphaKey);
  v1::GenerateRequest request = TextRequest("a", 250);
  request.mutable_response()->set_token_ids(true);
  auto reader = stub->GenerateStream(ctx.get(), request);
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  int tokens = m.token_ids_size();
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  // Health turns NOT_SERVING while the drain runs.
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<CommandResult> h = server_->Client({"health"});
    return h.ok() && h->exit_code == 14;
  }));
  while (reader->Read(&m)) tokens += m.token_ids_size();
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(tokens, 250);
  absl::StatusOr<int> code = server_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  EXPECT_THAT(server_->ReadLog(), HasSubstr("draining"));
}

TEST_F(ServeProcessTest, SighupReloadsBudgets) {
  StartServer();
  nlohmann::json before = Stats();
  ASSERT_FALSE(before.is_null());
  // int64 fields print as JSON strings (proto3 JSON mapping).
  EXPECT_EQ(before["tenants"][0]["kv_limit_blocks"], "32");
  WriteConfig(ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 96KiB"));
  ASSERT_TRUE(server_->Signal(SIGHUP).ok());
  ASSERT_TRUE(WaitUntil([&] {
    nlohmann::json now = Stats();
    return !now.is_null() && now["tenants"][0]["kv_limit_blocks"] == "24";
  }));
  ASSERT_TRUE(WaitUntil([&] {
    return server_->ReadLog().find("config reload (SIGHUP)") !=
           std::string::npos;
  }));
  // An invalid edit is rejected and logged; the budget stays.
  WriteConfig(ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: -5"));
  ASSERT_TRUE(server_->Signal(SIGHUP).ok());
  ASSERT_TRUE(WaitUntil([&] {
    return server_->ReadLog().find("rejected; the current config stays") !=
           std::string::npos;
  }));
  EXPECT_EQ(Stats()["tenants"][0]["kv_limit_blocks"], "24");
  ASSERT_TRUE(server_->Signal(SIGINT).ok());
  absl::StatusOr<int> code = server_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(ServeProcessTest, SighupSwitchesToJsonLogs) {
  StartServer();
  WriteConfig(TestConfigYaml() + "logging: { format: json }\n");
  ASSERT_TRUE(server_->Signal(SIGHUP).ok());
  ASSERT_TRUE(WaitUntil([&] {
    return server_->ReadLog().find("\"msg\":\"config reload") !=
           std::string::npos;
  }));
  absl::StatusOr<CommandResult> r =
      server_->Client({"generate", "--prompt", "hi", "--request-id", "q\"1"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  ASSERT_TRUE(server_->Wait(absl::Seconds(30)).ok());
  // The request's line is one JSON object with its fields.
  bool found = false;
  std::istringstream lines(server_->ReadLog());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("request finished") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["tenant"], "default");
    EXPECT_EQ(j["request_id"], "q\"1");
    EXPECT_EQ(j["level"], "info");
    found = true;
  }
  EXPECT_TRUE(found) << server_->ReadLog();
}

TEST_F(ServeProcessTest, BadConfigExitsTwoNamingTheKey) {
  WriteConfig(
      ReplaceOnce(TestConfigYaml(), "block_size: 16", "block_sise: 16"));
  absl::StatusOr<CommandResult> r = RunCommand(
      {kTestKvasir, "serve", "--config", config_, "--metrics-listen", "off"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("kv_cache.block_sise: unknown key"));
  r = RunCommand({kTestKvasir, "serve", "--config", dir_.File("missing.yaml")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("missing.yaml"));
  // A good file with a bad flag: the flag is named.
  WriteConfig(TestConfigYaml());
  r = RunCommand({kTestKvasir, "serve", "--config", config_, "--listen", "x"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("--listen: 'x' has no host:port form"));
}

// A budget only the model's KV block size breaks (a limit under one 4 KiB
// block here) is found once the model is loaded: still a config error
// naming the file, the line and the key (it said "cannot load the model").
TEST_F(ServeProcessTest, ABudgetUnderOneKvBlockExitsTwoNamingTheKey) {
  std::string yaml =
      ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 1KiB");
  yaml = ReplaceOnce(yaml, "reserved: 64KiB", "reserved: 0");
  WriteConfig(yaml);
  absl::StatusOr<CommandResult> r = RunCommand(
      {kTestKvasir, "serve", "--config", config_, "--metrics-listen", "off"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2) << r->err;
  EXPECT_THAT(r->err, HasSubstr(config_ + ":"));
  EXPECT_THAT(r->err, HasSubstr("tenants[0].limit: 1KiB is less than one KV "
                                "block"));
  EXPECT_THAT(r->err, Not(HasSubstr("cannot load the model")));
}

TEST_F(ServeProcessTest, ModelLoadFailureExitsOne) {
  absl::StatusOr<CommandResult> r = RunCommand(
      {kTestKvasir, "serve", "--config", config_, "--model", "fake:fail",
       "--listen", "127.0.0.1:0", "--metrics-listen", "off"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_THAT(r->err, HasSubstr("cannot load the model: fake:fail"));
}

TEST_F(ServeProcessTest, DummyModelWarnsLoudly) {
  // TestConfigYaml names no model: dummy:tiny, random weights.
  StartServer();
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  ASSERT_TRUE(server_->Wait(absl::Seconds(30)).ok());
  EXPECT_THAT(server_->ReadLog(),
              HasSubstr("NO MODEL CONFIGURED: serving 'dummy:tiny'"));
}

TEST(HashKeyCommandTest, PrintsTheSha256) {
  absl::StatusOr<CommandResult> r =
      RunCommand({kTestKvasir, "hash-key", "abc"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(
      r->out,
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n");
}

TEST(ServerProcessHelperTest, FreePortsAndCommands) {
  absl::StatusOr<int> port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
  absl::StatusOr<CommandResult> r =
      RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(
      RunCommand({"/bin/sleep", "10"}, absl::Milliseconds(100)).status().code(),
      absl::StatusCode::kDeadlineExceeded);
}

TEST(ServerProcessHelperTest, ReportsAServerThatExitsOrNeverGetsReady) {
  ServerProcess::Options exits;
  exits.binary = "/bin/false";
  absl::StatusOr<std::unique_ptr<ServerProcess>> p =
      ServerProcess::Start(exits);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.status().message(), HasSubstr("exited with status 1"));

  ServerProcess::Options never;
  never.binary = "/bin/sh";
  never.subcommand = "";
  never.pick_ports = false;
  never.args = {"-c", "sleep 30"};
  never.health_command = {"/bin/false"};
  never.ready_timeout = absl::Milliseconds(300);
  p = ServerProcess::Start(never);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace kvasir::server
