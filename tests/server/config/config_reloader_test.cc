#include "server/config/config_reloader.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "tests/server/test_engine.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// `s` with the first `from` replaced by `to` (which must be there).
std::string ReplaceOnceForTest(std::string s, const std::string& from,
                               const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string Yaml(const std::string& limit) {
  return "tenants:\n  - { name: default, limit: " + limit + " }\n";
}

// A reloader over a config file, with an update_tenants hook the test
// scripts.
class ConfigReloaderTest : public ::testing::Test {
 protected:
  using UpdateTenants =
      std::function<absl::Status(std::vector<engine::TenantConfig>)>;

  void SetUp() override {
    path_ = dir_.File("kvasir.yaml");
    ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("1MiB")));
    absl::StatusOr<ServerConfig> config = LoadConfigFile(path_);
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    absl::StatusOr<std::shared_ptr<const AuthTable>> table =
        AuthTable::Create(config_);
    ASSERT_TRUE(table.ok()) << table.status();
    auth_ = std::make_unique<Authenticator>(*std::move(table));
  }

  void TearDown() override { reloader_.reset(); }

  void StartReloader(
      UpdateTenants update_tenants,
      std::function<void(const std::string&)> set_metrics_key = nullptr) {
    ConfigReloader::Hooks hooks;
    hooks.update_tenants = std::move(update_tenants);
    hooks.auth = auth_.get();
    hooks.set_metrics_key = std::move(set_metrics_key);
    reloader_ = std::make_unique<ConfigReloader>(config_, ConfigOverrides(),
                                                 std::move(hooks));
  }

  testing::TempDir dir_;
  std::string path_;
  ServerConfig config_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<ConfigReloader> reloader_;
};

// The scrape token rotates live (it needed a restart, so a leaked token
// stayed valid until one).
TEST_F(ConfigReloaderTest, AMetricsKeyChangeAppliesLive) {
  std::vector<std::string> keys;
  StartReloader(
      [](std::vector<engine::TenantConfig>) { return absl::OkStatus(); },
      [&](const std::string& hex) { keys.push_back(hex); });
  const std::string a(64, 'a');
  ASSERT_TRUE(testing::WriteFileAtomically(
      path_,
      "server: { metrics_api_key_sha256: \"" + a + "\" }\n" + Yaml("1MiB")));
  absl::StatusOr<ReloadOutcome> r = reloader_->ReloadNow("test");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->applied,
              ::testing::Contains(
                  HasSubstr("server.metrics_api_key_sha256: (none) -> aaaa")));
  EXPECT_TRUE(r->restart_required.empty());
  ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("1MiB")));
  ASSERT_TRUE(reloader_->ReloadNow("test").ok());
  EXPECT_THAT(keys, ::testing::ElementsAre(a, ""));
  EXPECT_EQ(reloader_->current().server.metrics_api_key_sha256, "");
}

// The engine checks the rules that need the block size; its refusal is
// pointed at the file's line and key like the reloader's own errors.
TEST_F(ConfigReloaderTest, TheEnginesBlockRuleNamesTheLine) {
  StartReloader([](std::vector<engine::TenantConfig>) {
    return kvcache::TenantRuleError{.index = 0,
                                    .tenant = "default",
                                    .field = "limit_bytes",
                                    .message = "1KiB is less than one KV block"}
        .ToStatus();
  });
  ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("2MiB")));
  EXPECT_THAT(reloader_->ReloadNow("test"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kvasir.yaml:2: tenants[0].limit: 1KiB is "
                                 "less than one KV block (with the model's KV "
                                 "blocks)")));
}

TEST_F(ConfigReloaderTest, ReloadRacingWithEngineStartIsRetried) {
  absl::Mutex mu;
  std::vector<int64_t> limits;  // of every update_tenants call
  absl::Notification applied;
  StartReloader([&](std::vector<engine::TenantConfig> tenants) {
    int calls = 0;
    {
      absl::MutexLock lock(&mu);
      limits.push_back(tenants[0].limit_bytes);
      calls = static_cast<int>(limits.size());
    }
    if (calls == 1) {
      // The engine is attached right after this check found none: the
      // server's SetEngine calls RetryDeferred before the refusal below
      // reaches the reloader. The reload must not be lost.
      reloader_->RetryDeferred();
      return absl::UnavailableError("the model is still loading");
    }
    applied.Notify();
    return absl::OkStatus();
  });
  ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("2MiB")));
  EXPECT_THAT(
      reloader_->ReloadNow("test"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("still loading")));
  // The retry runs on the reload thread.
  ASSERT_TRUE(applied.WaitForNotificationWithTimeout(absl::Seconds(60)));
  // Stop waits for the running reload to finish.
  reloader_->Stop();
  EXPECT_EQ(reloader_->current().FindTenant("default")->limit_bytes, 2 << 20);
  absl::MutexLock lock(&mu);
  EXPECT_THAT(limits, ::testing::ElementsAre(2 << 20, 2 << 20));
}

TEST_F(ConfigReloaderTest, DeferredReloadRunsOnceTheEngineIsReady) {
  absl::Mutex mu;
  bool ready = false;
  int calls = 0;
  absl::Notification applied;
  StartReloader([&](std::vector<engine::TenantConfig>) {
    absl::MutexLock lock(&mu);
    ++calls;
    if (!ready) return absl::UnavailableError("the model is still loading");
    applied.Notify();
    return absl::OkStatus();
  });
  ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("2MiB")));
  EXPECT_THAT(reloader_->ReloadNow("test"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("loading")));
  EXPECT_EQ(reloader_->current().FindTenant("default")->limit_bytes, 1 << 20);
  {
    absl::MutexLock lock(&mu);
    ready = true;
  }
  reloader_->RetryDeferred();
  ASSERT_TRUE(applied.WaitForNotificationWithTimeout(absl::Seconds(60)));
  reloader_->Stop();
  EXPECT_EQ(reloader_->current().FindTenant("default")->limit_bytes, 2 << 20);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(calls, 2);
}

TEST_F(ConfigReloaderTest, ReloadThatReachedTheEngineIsNotRetried) {
  std::atomic<int> calls{0};
  StartReloader([&](std::vector<engine::TenantConfig>) {
    ++calls;
    return absl::InvalidArgumentError("floors do not fit");
  });
  ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("2MiB")));
  EXPECT_THAT(reloader_->ReloadNow("test"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the engine refused the new tenants")));
  reloader_->RetryDeferred();  // nothing deferred: queues nothing
  // Whatever RetryDeferred queued would run before this, in order.
  absl::Notification done;
  absl::Status marker;
  reloader_->ReloadAsync("marker", [&](absl::StatusOr<ReloadOutcome> r) {
    marker = r.status();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  // ReloadNow and the marker: no retry in between.
  EXPECT_EQ(calls.load(), 2);
  EXPECT_THAT(marker, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("floors do not fit")));
}

// A reloader in front of the real engine (on the FakeRunner), so that what
// reaches the engine is seen in its stats, not in a scripted hook.
class ConfigReloaderEngineTest : public ::testing::Test {
 protected:
  // The running server: gRPC on :50051, HTTP on :8080, 256KiB of KV cache
  // (64 blocks of 4KiB), the default tenant limited to 64KiB.
  static std::string RunningYaml() {
    return R"(server: { listen: "127.0.0.1:50051", http_listen: "127.0.0.1:8080" }
kv_cache: { capacity: 256KiB, block_size: 16 }
tenants:
  - { name: default, reserved: 0, limit: 64KiB }
)";
  }

  void SetUp() override {
    path_ = dir_.File("kvasir.yaml");
    ASSERT_TRUE(testing::WriteFileAtomically(path_, RunningYaml()));
    absl::StatusOr<ServerConfig> config = LoadConfigFile(path_);
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<TestEngine> engine = BuildTestEngine(*config);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(engine->engine);
    absl::StatusOr<std::shared_ptr<const AuthTable>> table =
        AuthTable::Create(*config);
    ASSERT_TRUE(table.ok()) << table.status();
    auth_ = std::make_unique<Authenticator>(*std::move(table));
    ConfigReloader::Hooks hooks;
    hooks.update_tenants = [this](std::vector<engine::TenantConfig> t) {
      return engine_->UpdateTenants(std::move(t));
    };
    hooks.auth = auth_.get();
    reloader_ = std::make_unique<ConfigReloader>(*config, ConfigOverrides(),
                                                 std::move(hooks));
  }

  void TearDown() override {
    reloader_.reset();
    engine_.reset();
  }

  // The default tenant's KV limit as the engine reports it.
  int64_t DefaultLimitBytes() const {
    for (const engine::TenantStats& t : engine_->Stats().tenants) {
      if (t.name == "default") return t.kv.limit_bytes;
    }
    return -1;
  }

  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<ConfigReloader> reloader_;
};

TEST_F(ConfigReloaderEngineTest, AValidFileIsAppliedToTheEngine) {
  ASSERT_EQ(DefaultLimitBytes(), 64 << 10);
  ASSERT_TRUE(testing::WriteFileAtomically(
      path_,
      ReplaceOnceForTest(RunningYaml(), "limit: 64KiB", "limit: 128KiB")));
  ASSERT_TRUE(reloader_->ReloadNow("test").ok());
  EXPECT_EQ(DefaultLimitBytes(), 128 << 10);
}

// A new cache share (live, like the budgets) reaches the KV cache: bytes,
// then a percentage of the capacity, then back to the default (reserved).
TEST_F(ConfigReloaderEngineTest, ACacheShareChangeIsAppliedToTheEngine) {
  auto share = [&] {
    for (const engine::TenantStats& t : engine_->Stats().tenants) {
      if (t.name == "default") return t.kv.cache_share_bytes;
    }
    return int64_t{-1};
  };
  ASSERT_EQ(share(), 0);  // reserved: 0
  for (const auto& [value, bytes] :
       {std::pair<std::string, int64_t>{"32KiB", 32 << 10},
        {"25%", 64 << 10}}) {
    ASSERT_TRUE(testing::WriteFileAtomically(
        path_, ReplaceOnceForTest(RunningYaml(), "limit: 64KiB",
                                  "limit: 64KiB, cache_share: " + value)));
    ASSERT_TRUE(reloader_->ReloadNow("test").ok()) << value;
    EXPECT_EQ(share(), bytes) << value;
  }
  ASSERT_TRUE(testing::WriteFileAtomically(path_, RunningYaml()));
  ASSERT_TRUE(reloader_->ReloadNow("test").ok());
  EXPECT_EQ(share(), 0);
}

// Floors that only fit a larger kv_cache.capacity: the file is valid on its
// own (capacity 1MiB), but the capacity needs a restart, so against the
// running 256KiB they do not fit.
TEST_F(ConfigReloaderEngineTest, FloorsThatFitOnlyANewCapacityAreRefused) {
  ASSERT_TRUE(testing::WriteFileAtomically(path_, R"(
server: { listen: "127.0.0.1:50051", http_listen: "127.0.0.1:8080" }
kv_cache: { capacity: 1MiB, block_size: 16 }
tenants:
  - { name: default, reserved: 200KiB, limit: 200KiB }
  - name: other
    api_key_sha256: "977a4dde4aef16b34b838b93652fd3a41e7669b2fd95e4e2bf8cb9a960ab4fe5"
    reserved: 200KiB
    limit: 200KiB
)"));
  ASSERT_TRUE(LoadConfigFile(path_).ok()) << "must be valid on its own";
  EXPECT_THAT(reloader_->ReloadNow("test"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("floors"),
                             HasSubstr("checked against the running server's "
                                       "settings"))));
  EXPECT_EQ(DefaultLimitBytes(), 64 << 10);
  EXPECT_EQ(engine_->Stats().tenants.size(), 1u);
  EXPECT_EQ(reloader_->current().kv_cache.capacity_bytes, 256 << 10);
}

// A file whose tenants the engine would take but whose server settings
// clash with the running ones (its HTTP port is the running gRPC port; the
// listen address it moves away from needs a restart): nothing of it may
// reach the engine.
TEST_F(ConfigReloaderEngineTest,
       NoTenantUpdateReachesTheEngineWhenTheCheckFails) {
  ASSERT_TRUE(testing::WriteFileAtomically(path_, R"(
server: { listen: "127.0.0.1:50052", http_listen: "127.0.0.1:50051" }
kv_cache: { capacity: 256KiB, block_size: 16 }
tenants:
  - { name: default, reserved: 0, limit: 128KiB }
)"));
  ASSERT_TRUE(LoadConfigFile(path_).ok()) << "must be valid on its own";
  EXPECT_THAT(reloader_->ReloadNow("test"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("server.http_listen"),
                             HasSubstr("checked against the running server's "
                                       "settings"))));
  EXPECT_EQ(DefaultLimitBytes(), 64 << 10);
  EXPECT_EQ(reloader_->current().FindTenant("default")->limit_bytes, 64 << 10);
}

}  // namespace
}  // namespace kvasir::server
