// The real `kvasir serve` process over its lifetime: clients that vanish
// mid-stream, budget reloads (valid and invalid) through Admin.ReloadConfig,
// and the SIGTERM drain.
#include <signal.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/live_server.h"
#include "tests/testing/child_process.h"
#include "tests/testing/paths.h"

namespace kvasir::integration {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr int32_t kLong = 2000;

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LiveServer>> s =
        LiveServer::Start(TwoTenantConfig());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    stub_ = server_->Generation();
  }

  v1::GetStatsResponse Stats() {
    absl::StatusOr<v1::GetStatsResponse> s = server_->Stats();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : v1::GetStatsResponse();
  }

  grpc::Status Reload(v1::ReloadConfigResponse* response) {
    auto ctx = Context(kAdminKey);
    return server_->Admin()->ReloadConfig(ctx.get(), v1::ReloadConfigRequest(),
                                          response);
  }

  std::unique_ptr<LiveServer> server_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

// `kvasir client stream` processes killed (SIGKILL: the TCP connections just
// drop) while the server streams to them: the server notices, cancels the
// requests at the next step and every KV block comes back.
TEST_F(LifecycleTest, ClientsKilledMidStreamLeaveNoKvBlockBehind) {
  const std::vector<std::string> prompts = {"Once upon a time",
                                            "The little dog", "One day"};
  std::vector<std::unique_ptr<testing::ChildProcess>> clients;
  for (const std::string& prompt : prompts) {
    absl::StatusOr<std::unique_ptr<testing::ChildProcess>> c =
        testing::ChildProcess::Spawn(
            {testing::BinaryDir() + "/tools/kvasir", "client", "stream",
             "--addr", server_->address(), "--api-key", kAlphaKey, "--prompt",
             prompt, "--max-tokens", std::to_string(kLong), "--ignore-eos"});
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(*std::move(c));
  }
  // Mid-stream: all three run, hold blocks, and have printed text.
  ASSERT_TRUE(WaitUntil([&] {
    const v1::TenantStats a = FindTenant(Stats(), "alpha");
    if (a.running() != 3 || a.kv_used_blocks() < 3) return false;
    for (auto& c : clients) {
      if (c->ReadLog().empty()) return false;
    }
    return true;
  }));
  for (auto& c : clients) ASSERT_TRUE(c->Signal(SIGKILL).ok());
  for (auto& c : clients) {
    absl::StatusOr<int> code = c->Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 128 + SIGKILL);
  }
  ASSERT_TRUE(WaitUntil([&] {
    const v1::GetStatsResponse s = Stats();
    const v1::TenantStats a = FindTenant(s, "alpha");
    return a.running() == 0 && a.queued() == 0 && a.kv_used_blocks() == 0 &&
           a.kv_used_bytes() == 0 &&
           s.free_blocks() + s.cached_blocks() == s.total_blocks();
  })) << Stats().DebugString();
  const v1::GetStatsResponse s = Stats();
  EXPECT_EQ(s.running(), 0);
  EXPECT_LT(FindTenant(s, "alpha").generated_tokens(),
            static_cast<int64_t>(prompts.size()) * kLong);
  // Logged as cancelled, and the server carries on.
  EXPECT_TRUE(WaitUntil([&] {
    const std::string log = server_->process().ReadLog();
    size_t n = 0;
    for (size_t p = log.find("status=CANCELLED"); p != std::string::npos;
         p = log.find("status=CANCELLED", p + 1)) {
      ++n;
    }
    return n == prompts.size();
  })) << server_->process().ReadLog();
  const Outcome after =
      RunStream(*stub_, kAlphaKey, TextRequest("Once upon a time", 8));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_THAT(after.ids, SizeIs(8));
}

TEST_F(LifecycleTest, BudgetReloadAppliesToTheNextRequest) {
  v1::TenantStats beta = FindTenant(Stats(), "beta");
  EXPECT_EQ(beta.kv_limit_blocks(), 48);
  EXPECT_EQ(beta.kv_limit_bytes(), 960 * 1024);
  // 5 prompt tokens + 500 new ones fit in 768 tokens.
  const v1::GenerateRequest big = TextRequest("Once upon a time", 500);
  const Outcome before = RunUnary(*stub_, kBetaKey, big);
  ASSERT_TRUE(before.status.ok()) << before.status.error_message();
  EXPECT_THAT(before.ids, SizeIs(500));

  // A request that runs across the reload is not dropped.
  OpenStream across(*stub_, kAlphaKey, TextRequest("The little dog", kLong));
  ASSERT_TRUE(across.ReadOne());

  // beta: 960KiB -> 400KiB (20 blocks, 320 tokens).
  ConfigSpec cut = TwoTenantConfig();
  cut.tenants[1].limit = "400KiB";
  server_->WriteConfig(ConfigYaml(cut));
  v1::ReloadConfigResponse response;
  grpc::Status reloaded = Reload(&response);
  ASSERT_TRUE(reloaded.ok()) << reloaded.error_message();
  EXPECT_EQ(response.config_path(), server_->config_path());
  EXPECT_THAT(response.restart_required(), ::testing::IsEmpty());

  beta = FindTenant(Stats(), "beta");
  EXPECT_EQ(beta.kv_limit_blocks(), 20);
  EXPECT_EQ(beta.kv_limit_bytes(), 400 * 1024);
  const Outcome refused = RunUnary(*stub_, kBetaKey, big);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("tenant 'beta' can hold at most 320 tokens"));
  const Outcome small =
      RunStream(*stub_, kBetaKey, TextRequest("Once upon a time", 300));
  EXPECT_TRUE(small.status.ok()) << small.status.error_message();
  EXPECT_THAT(small.ids, SizeIs(300));

  const Outcome& long_run = across.Finish();
  EXPECT_TRUE(long_run.status.ok()) << long_run.status.error_message();
  EXPECT_THAT(long_run.ids, SizeIs(kLong));
}

TEST_F(LifecycleTest, InvalidReloadKeepsTheOldConfig) {
  const v1::GetStatsResponse before = Stats();
  const std::string good = ConfigYaml(TwoTenantConfig());
  struct Case {
    std::string what;
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unknown key",
       absl::StrReplaceAll(good, {{"    limit: 960KiB", "    limt: 100KiB"}}),
       "tenants[1].limt"},
      {"bad unit",
       absl::StrReplaceAll(good,
                           {{"    limit: 960KiB", "    limit: 12 parsecs"}}),
       "tenants[1].limit"},
      {"floors over the capacity",
       absl::StrReplaceAll(good,
                           {{"    reserved: 640KiB", "    reserved: 5MiB"}}),
       "reserved"},
      {"not YAML", "tenants: [ {", server_->config_path()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_NE(c.yaml, good);
    server_->WriteConfig(c.yaml);
    v1::ReloadConfigResponse response;
    grpc::Status s = Reload(&response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
    // Same budgets as before, and still serving.
    const v1::GetStatsResponse now = Stats();
    ASSERT_EQ(now.tenants_size(), before.tenants_size());
    for (int i = 0; i < now.tenants_size(); ++i) {
      EXPECT_EQ(now.tenants(i).name(), before.tenants(i).name());
      EXPECT_EQ(now.tenants(i).kv_limit_bytes(),
                before.tenants(i).kv_limit_bytes());
      EXPECT_EQ(now.tenants(i).kv_reserved_bytes(),
                before.tenants(i).kv_reserved_bytes());
    }
    EXPECT_EQ(now.total_blocks(), before.total_blocks());
    const Outcome out =
        RunUnary(*stub_, kBetaKey, TextRequest("Once upon a time", 500));
    EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  }
  auto health = server_->HealthStatus();
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);
  // The good file reloads again.
  server_->WriteConfig(good);
  v1::ReloadConfigResponse response;
  EXPECT_TRUE(Reload(&response).ok());
}

// SIGTERM: health turns NOT_SERVING, new calls get UNAVAILABLE, the running
// calls finish with their whole output, and the process exits 0.
TEST_F(LifecycleTest, SigtermDrainsRunningRequestsAndExitsZero) {
  std::ifstream golden(testing::GoldenPath("stories260K.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(golden, line));
  const nlohmann::json first = nlohmann::json::parse(line);
  ASSERT_EQ(first.at("prompt"), "Once upon a time");
  const auto reference =
      first.at("continuation_token_ids").get<std::vector<int32_t>>();

  OpenStream stream(*stub_, kAlphaKey, TextRequest("Once upon a time", kLong));
  ASSERT_TRUE(stream.ReadOne());
  Outcome unary;
  std::thread unary_call([&] {
    unary = RunUnary(*stub_, kBetaKey, TextRequest("The little dog", 700));
  });
  ASSERT_TRUE(
      WaitUntil([&] { return FindTenant(Stats(), "beta").running() == 1; }));

  ASSERT_TRUE(server_->process().Signal(SIGTERM).ok());
  ASSERT_TRUE(WaitUntil([&] {
    auto h = server_->HealthStatus();
    return h.ok() && *h == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  }));
  const Outcome refused =
      RunStream(*stub_, kAlphaKey, TextRequest("One day", 4));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("draining"));

  const Outcome& out = stream.Finish();
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_THAT(out.ids, SizeIs(kLong));
  EXPECT_EQ(out.finish, v1::FINISH_REASON_LENGTH);
  EXPECT_THAT(
      std::vector<int32_t>(out.ids.begin(), out.ids.begin() + reference.size()),
      ElementsAreArray(reference));
  unary_call.join();
  EXPECT_TRUE(unary.status.ok()) << unary.status.error_message();
  EXPECT_THAT(unary.ids, SizeIs(700));

  absl::StatusOr<int> code = server_->process().Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->process().ReadLog();
  const std::string log = server_->process().ReadLog();
  EXPECT_THAT(log, HasSubstr("draining"));
  EXPECT_THAT(log, HasSubstr("server stopped"));
}

}  // namespace
}  // namespace kvasir::integration
