// kvasir.v1.Admin: stats, and live reload through the RPC, the file
// watcher and the server API.
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sha256.h"
#include "tests/server/test_server.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::FakeEngine;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class AdminTest : public ServerTest {
 protected:
  grpc::Status Stats(v1::GetStatsResponse* out,
                     const std::string& key = kAdminKey) {
    auto ctx = TestServer::Context(key);
    return admin_->GetStats(ctx.get(), v1::GetStatsRequest(), out);
  }

  grpc::Status Reload(v1::ReloadConfigResponse* out,
                      const std::string& key = kAdminKey) {
    auto ctx = TestServer::Context(key);
    return admin_->ReloadConfig(ctx.get(), v1::ReloadConfigRequest(), out);
  }

  grpc::Status Generate(const std::string& key) {
    auto ctx = TestServer::Context(key);
    v1::GenerateResponse response;
    return generation_->Generate(ctx.get(), TextRequest("a", 2), &response);
  }

  const v1::TenantStats* Tenant(const v1::GetStatsResponse& s,
                                const std::string& name) {
    for (const v1::TenantStats& t : s.tenants()) {
      if (t.name() == name) return &t;
    }
    return nullptr;
  }
};

TEST_F(AdminTest, StatsNeedTheAdminKey) {
  StartServer();
  v1::GetStatsResponse s;
  EXPECT_EQ(Stats(&s, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Stats(&s, "nope").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Stats(&s, kAlphaKey).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReloadConfigResponse r;
  EXPECT_EQ(Reload(&r, kAlphaKey).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Stats(&s).ok());
  EXPECT_EQ(s.total_blocks(), 64);
  EXPECT_EQ(s.free_blocks(), 64);
  EXPECT_EQ(s.block_size(), 16);
  EXPECT_EQ(s.block_bytes(), 4096);
  ASSERT_EQ(s.tenants_size(), 3);
  const v1::TenantStats* alpha = Tenant(s, "alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->kv_reserved_blocks(), 16);
  EXPECT_EQ(alpha->kv_limit_blocks(), 32);
  EXPECT_EQ(alpha->kv_limit_bytes(), 128 * 1024);
}

TEST_F(AdminTest, StatsShowARunningRequestAndItsBlocksComeBackOnDisconnect) {
  TestServer::Options o;
  // 200 tokens take 4 s: ample time to pause the engine mid-request.
  o.engine.step_interval = absl::Milliseconds(20);
  StartServer(o);
  auto ctx = TestServer::Context(kBetaKey);
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("a", 200));
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  // From here the request cannot finish on its own: only the server's
  // Cancel (on the client's disconnect) gives its blocks back.
  server_->engine().Pause();
  v1::GetStatsResponse s;
  ASSERT_TRUE(Stats(&s).ok());
  const v1::TenantStats* beta = Tenant(s, "beta");
  ASSERT_NE(beta, nullptr);
  EXPECT_EQ(beta->running(), 1);
  EXPECT_EQ(beta->kv_used_blocks(), 13);  // (3 + 200) tokens / 16
  EXPECT_GT(beta->generated_tokens(), 0);
  EXPECT_EQ(s.free_blocks(), 64 - 13);
  ctx->TryCancel();
  while (reader->Read(&m)) {
  }
  reader->Finish();
  ASSERT_TRUE(FakeEngine::WaitUntil([&] {
    v1::GetStatsResponse now;
    return Stats(&now).ok() && Tenant(now, "beta")->kv_used_blocks() == 0 &&
           Tenant(now, "beta")->running() == 0 && now.free_blocks() == 64;
  }));
  EXPECT_THAT(server_->engine().cancel_calls(), ElementsAre(1u));
  ASSERT_EQ(server_->engine().finished().size(), 1u);
  EXPECT_LT(server_->engine().finished()[0].second.generated_tokens, 200);
}

TEST_F(AdminTest, ReloadAppliesBudgetsToTheEngine) {
  StartServer();
  server_->WriteConfig(
      ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 96KiB"));
  v1::ReloadConfigResponse r;
  grpc::Status status = Reload(&r);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.config_path(), server_->config_path());
  EXPECT_THAT(r.applied(), Contains("tenants.alpha.limit: 128KiB -> 96KiB"));
  EXPECT_THAT(r.restart_required(), IsEmpty());
  const auto updates = server_->engine().tenant_updates();
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0][0].name, "alpha");
  EXPECT_EQ(updates[0][0].limit_bytes, 96 * 1024);
  v1::GetStatsResponse s;
  ASSERT_TRUE(Stats(&s).ok());
  EXPECT_EQ(Tenant(s, "alpha")->kv_limit_blocks(), 24);
  EXPECT_EQ(server_->server().config().FindTenant("alpha")->limit_bytes,
            96 * 1024);
  // Nothing changed: nothing applied, the engine is not bothered.
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_THAT(r.applied(), IsEmpty());
  EXPECT_EQ(server_->engine().tenant_updates().size(), 1u);
}

TEST_F(AdminTest, InvalidReloadKeepsTheOldConfig) {
  StartServer();
  server_->WriteConfig(
      ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 12XB"));
  v1::ReloadConfigResponse r;
  grpc::Status status = Reload(&r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("tenants[0].limit: '12XB' has unknown unit"));
  EXPECT_TRUE(server_->engine().tenant_updates().empty());
  EXPECT_EQ(server_->server().config().FindTenant("alpha")->limit_bytes,
            128 * 1024);
  EXPECT_TRUE(Generate(kAlphaKey).ok());
  // Floors over capacity are rejected the same way.
  server_->WriteConfig(ReplaceOnce(TestConfigYaml(),
                                   "reserved: 64KiB\n    limit: 128KiB",
                                   "reserved: 250KiB\n    limit: 256KiB"));
  status = Reload(&r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("tenants[].reserved: the floors add up to 282KiB "
                        "(alpha 250KiB + beta 32KiB), which exceeds the KV "
                        "cache capacity 256KiB"));
  EXPECT_TRUE(server_->engine().tenant_updates().empty());
}

TEST_F(AdminTest, EngineRefusalKeepsTheOldConfigAndKeys) {
  StartServer();
  absl::StatusOr<Sha256Digest> gamma = Sha256("gamma-key");
  ASSERT_TRUE(gamma.ok());
  server_->WriteConfig(TestConfigYaml() +
                       "  - { name: gamma, api_key_sha256: \"" +
                       DigestToHex(*gamma) + "\", limit: 16KiB }\n");
  server_->engine().FailNextUpdateTenants(
      absl::InvalidArgumentError("floors do not fit in 64 blocks"));
  v1::ReloadConfigResponse r;
  grpc::Status status = Reload(&r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("the engine refused the new tenants: floors"));
  EXPECT_EQ(Generate("gamma-key").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // The same file applies once the engine accepts it.
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_TRUE(Generate("gamma-key").ok());
}

TEST_F(AdminTest, RemovedTenantLosesItsKeyAndQueuedRequests) {
  TestServer::Options o;
  o.engine.start_paused = true;
  StartServer(o);
  grpc::Status queued_status;
  std::thread queued([&] { queued_status = Generate(kBetaKey); });
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 1; }));
  std::string yaml = TestConfigYaml();
  const size_t beta = yaml.find("  - name: beta");
  const size_t next = yaml.find("  - { name: default");
  yaml.erase(beta, next - beta);
  server_->WriteConfig(yaml);
  v1::ReloadConfigResponse r;
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_THAT(r.applied(), Contains("tenants.beta: removed"));
  queued.join();
  EXPECT_EQ(queued_status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_THAT(queued_status.error_message(),
              HasSubstr("a config reload removed its tenant"));
  EXPECT_EQ(Generate(kBetaKey).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  server_->engine().Resume();
  EXPECT_TRUE(Generate(kAlphaKey).ok());
}

TEST_F(AdminTest, RestartOnlyChangesAreReportedNotApplied) {
  StartServer();
  std::string yaml =
      ReplaceOnce(TestConfigYaml(), "capacity: 256KiB", "capacity: 512KiB");
  yaml = ReplaceOnce(yaml, "max_running: 4", "max_running: 8");
  server_->WriteConfig(yaml);
  v1::ReloadConfigResponse r;
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_THAT(r.applied(), IsEmpty());
  EXPECT_THAT(
      r.restart_required(),
      Contains("kv_cache.capacity: 256KiB -> 512KiB (needs a restart)"));
  EXPECT_THAT(r.restart_required(),
              Contains("scheduler.max_running: 4 -> 8 (needs a restart)"));
  EXPECT_EQ(server_->server().config().kv_cache.capacity_bytes, 256 * 1024);
  EXPECT_TRUE(server_->engine().tenant_updates().empty());
}

TEST_F(AdminTest, KeyRotationAndAdminKeyChange) {
  StartServer();
  absl::StatusOr<Sha256Digest> rotated = Sha256("alpha-key-2");
  absl::StatusOr<Sha256Digest> admin2 = Sha256("admin-key-2");
  ASSERT_TRUE(rotated.ok() && admin2.ok());
  std::string yaml = TestConfigYaml();
  absl::StatusOr<Sha256Digest> old_alpha = Sha256(kAlphaKey);
  absl::StatusOr<Sha256Digest> old_admin = Sha256(kAdminKey);
  yaml = ReplaceOnce(yaml, DigestToHex(*old_alpha), DigestToHex(*rotated));
  yaml = ReplaceOnce(yaml, DigestToHex(*old_admin), DigestToHex(*admin2));
  server_->WriteConfig(yaml);
  v1::ReloadConfigResponse r;
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_EQ(Generate(kAlphaKey).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Generate("alpha-key-2").ok());
  v1::GetStatsResponse s;
  EXPECT_EQ(Stats(&s, kAdminKey).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Stats(&s, "admin-key-2").ok());
  // Keys are not tenant budgets: the engine was not asked.
  EXPECT_TRUE(server_->engine().tenant_updates().empty());
}

TEST_F(AdminTest, FileChangeReloadsWithoutBeingAsked) {
  TestServer::Options o;
  o.config_poll_interval = absl::Milliseconds(10);
  StartServer(o);
  server_->WriteConfig(ReplaceOnce(TestConfigYaml(), "weight: 2", "weight: 5"));
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return !server_->engine().tenant_updates().empty(); }));
  EXPECT_EQ(server_->engine().tenant_updates()[0][0].weight, 5.0);
  // A broken save is ignored; the next good one applies.
  server_->WriteConfig("tenants: [");
  server_->WriteConfig(ReplaceOnce(TestConfigYaml(), "weight: 2", "weight: 7"));
  ASSERT_TRUE(FakeEngine::WaitUntil([&] {
    const auto u = server_->engine().tenant_updates();
    return u.back()[0].weight == 7.0;
  }));
}

TEST_F(AdminTest, ReloadWhileLoadingIsRetriedWhenTheModelIsReady) {
  StartServer(EngineNotAttached());
  server_->WriteConfig(
      ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 96KiB"));
  v1::ReloadConfigResponse r;
  grpc::Status status = Reload(&r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("still loading"));
  EXPECT_EQ(server_->server().config().FindTenant("alpha")->limit_bytes,
            128 * 1024);
  server_->AttachEngine();
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return !server_->engine().tenant_updates().empty(); }));
  EXPECT_EQ(server_->engine().tenant_updates()[0][0].limit_bytes, 96 * 1024);
}

TEST_F(AdminTest, ServerReloadApiReportsErrors) {
  StartServer();
  server_->WriteConfig("tenants: []\n");
  EXPECT_THAT(server_->server().Reload("test"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("at least one tenant")));
  std::remove(server_->config_path().c_str());
  EXPECT_THAT(server_->server().Reload("test"),
              testing::StatusIs(absl::StatusCode::kNotFound,
                                HasSubstr(server_->config_path())));
}

}  // namespace
}  // namespace kvasir::server
