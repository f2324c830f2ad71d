// kvasir.v1.Admin on the real engine: stats, and live reload through the
// RPC, the file watcher and the server API.
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sha256.h"
#include "spdlog/pattern_formatter.h"
#include "tests/server/test_server.h"
#include "tests/testing/captured_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::WaitUntil;
using ::testing::AllOf;
using ::testing::Contains;
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
  testing::CapturedLog log(std::make_unique<spdlog::pattern_formatter>("%v"));
  TestServer::Options o;
  // 200 tokens take 4 s: the request is still running when we look.
  o.step_delay = absl::Milliseconds(20);
  StartServer(o);
  auto ctx = TestServer::Context(kBetaKey);
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("a", 200));
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  // Hold the engine between two steps, so the stats stand still.
  server_->runner().Pause();
  server_->runner().WaitForStepsStarted(server_->runner().steps_started() + 1);
  v1::GetStatsResponse s;
  ASSERT_TRUE(Stats(&s).ok());
  const v1::TenantStats* beta = Tenant(s, "beta");
  ASSERT_NE(beta, nullptr);
  EXPECT_EQ(beta->running(), 1);
  ASSERT_GT(beta->generated_tokens(), 0);
  // Blocks are taken as the sequence grows: the 3 prompt tokens and every
  // generated token but the last (not yet in the cache), 16 to a block.
  const int64_t cached_tokens = 3 + beta->generated_tokens() - 1;
  EXPECT_EQ(beta->kv_used_blocks(), (cached_tokens + 15) / 16);
  EXPECT_EQ(s.free_blocks(), 64 - beta->kv_used_blocks());
  // From here the request cannot finish in time on its own: only the
  // server's Cancel (on the client's disconnect) gives its blocks back.
  ctx->TryCancel();
  while (reader->Read(&m)) {
  }
  reader->Finish();
  server_->runner().Resume();
  ASSERT_TRUE(WaitUntil([&] {
    v1::GetStatsResponse now;
    return Stats(&now).ok() && Tenant(now, "beta")->kv_used_blocks() == 0 &&
           Tenant(now, "beta")->running() == 0 &&
           now.free_blocks() + now.cached_blocks() == 64;
  }));
  std::string finished;
  ASSERT_TRUE(WaitUntil([&] {
    for (const std::string& line : log.lines()) {
      if (line.find("request finished:") != std::string::npos) finished = line;
    }
    return !finished.empty();
  }));
  EXPECT_THAT(finished, HasSubstr("finish_reason=cancelled"));
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
  EXPECT_EQ(server_->TenantStats("alpha").kv.limit_bytes, 96 * 1024);
  v1::GetStatsResponse s;
  ASSERT_TRUE(Stats(&s).ok());
  EXPECT_EQ(Tenant(s, "alpha")->kv_limit_blocks(), 24);
  EXPECT_EQ(server_->server().config().FindTenant("alpha")->limit_bytes,
            96 * 1024);
  // Nothing changed: nothing applied.
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_THAT(r.applied(), IsEmpty());
  EXPECT_EQ(server_->TenantStats("alpha").kv.limit_bytes, 96 * 1024);
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
  EXPECT_EQ(server_->TenantStats("alpha").kv.limit_bytes, 128 * 1024);
  EXPECT_EQ(server_->server().config().FindTenant("alpha")->limit_bytes,
            128 * 1024);
  EXPECT_TRUE(Generate(kAlphaKey).ok());
  // Floors over capacity are rejected the same way.
  server_->WriteConfig(ReplaceOnce(TestConfigYaml(),
                                   "reserved: 64KiB\n    limit: 128KiB",
                                   "reserved: 250KiB\n    limit: 256KiB"));
  status = Reload(&r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(
      status.error_message(),
      HasSubstr("tenants[].reserved: the floors of 2 tenants add up to 282KiB "
                "(alpha 250KiB + beta 32KiB), which exceeds the KV "
                "cache capacity 256KiB"));
  EXPECT_EQ(server_->TenantStats("alpha").kv.reserved_blocks, 16);
}

TEST_F(AdminTest, EngineRefusalKeepsTheOldConfigAndKeys) {
  StartServer();
  absl::StatusOr<Sha256Digest> gamma = Sha256("gamma-key");
  ASSERT_TRUE(gamma.ok());
  // The floors fit the capacity in bytes (64 + 30 + 162 = 256 KiB), which
  // is what the config layer checks; the engine rounds each floor up to
  // whole 4 KiB blocks (16 + 8 + 41 = 65 of 64) and refuses.
  auto with_gamma = [&](const std::string& reserved) {
    return ReplaceOnce(TestConfigYaml(), "reserved: 32KiB", "reserved: 30KiB") +
           "  - { name: gamma, api_key_sha256: \"" + DigestToHex(*gamma) +
           "\", reserved: " + reserved + ", limit: 200KiB }\n";
  };
  server_->WriteConfig(with_gamma("162KiB"));
  v1::ReloadConfigResponse r;
  grpc::Status status = Reload(&r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Pointed at the file like the config's own errors.
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("kvasir.yaml:"),
                    HasSubstr("tenants[].reserved: the sum of reserved floors"),
                    HasSubstr("(with the model's KV blocks)")));
  EXPECT_EQ(Generate("gamma-key").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(server_->engine().Stats().tenants.size(), 3u);
  // A file the engine accepts applies, key and all.
  server_->WriteConfig(with_gamma("0"));
  ASSERT_TRUE(Reload(&r).ok());
  EXPECT_TRUE(Generate("gamma-key").ok());
  EXPECT_EQ(server_->engine().Stats().tenants.size(), 4u);
}

TEST_F(AdminTest, RemovedTenantLosesItsKeyAndQueuedRequests) {
  TestServer::Options o;
  // beta runs one request at a time; the runner is slow, so a second one
  // waits in the queue while the first runs.
  o.yaml = ReplaceOnce(TestConfigYaml(), "limit: 64KiB",
                       "limit: 64KiB\n    max_concurrent: 1");
  o.step_delay = absl::Milliseconds(50);
  StartServer(o);
  grpc::Status running_status;
  std::thread running([&] {
    auto ctx = TestServer::Context(kBetaKey);
    v1::GenerateResponse response;
    running_status =
        generation_->Generate(ctx.get(), TextRequest("a", 200), &response);
  });
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->TenantStats("beta").sched.running == 1; }));
  grpc::Status queued_status;
  std::thread queued([&] { queued_status = Generate(kBetaKey); });
  ASSERT_TRUE(
      WaitUntil([&] { return server_->TenantStats("beta").queued == 1; }));
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
  // The running one goes on to its end within beta's old limit (it needs
  // more KV blocks on the way).
  server_->runner().SetStepDelay(absl::ZeroDuration());
  running.join();
  EXPECT_TRUE(running_status.ok()) << running_status.error_message();
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
  EXPECT_EQ(server_->engine().Stats().kv.total_blocks, 64);
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
}

TEST_F(AdminTest, FileChangeReloadsWithoutBeingAsked) {
  TestServer::Options o;
  o.config_poll_interval = absl::Milliseconds(10);
  StartServer(o);
  server_->WriteConfig(
      ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 96KiB"));
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->TenantStats("alpha").kv.limit_blocks == 24; }));
  // A broken save is ignored; the next good one applies.
  server_->WriteConfig("tenants: [");
  server_->WriteConfig(
      ReplaceOnce(TestConfigYaml(), "limit: 128KiB", "limit: 80KiB"));
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->TenantStats("alpha").kv.limit_blocks == 20; }));
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
  EXPECT_EQ(server_->TenantStats("alpha").kv.limit_bytes, 128 * 1024);
  server_->AttachEngine();
  ASSERT_TRUE(WaitUntil([&] {
    return server_->TenantStats("alpha").kv.limit_bytes == 96 * 1024;
  }));
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
