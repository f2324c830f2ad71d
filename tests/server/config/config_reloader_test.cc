#include "server/config/config_reloader.h"

#include <atomic>
#include <cstdio>
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
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

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
    dir_ = testing::MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    path_ = dir_ + "/kvasir.yaml";
    ASSERT_TRUE(testing::WriteFileAtomically(path_, Yaml("1MiB")));
    absl::StatusOr<ServerConfig> config = LoadConfigFile(path_);
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    absl::StatusOr<std::shared_ptr<const AuthTable>> table =
        AuthTable::Create(config_);
    ASSERT_TRUE(table.ok()) << table.status();
    auth_ = std::make_unique<Authenticator>(*std::move(table));
  }

  void TearDown() override {
    reloader_.reset();
    std::remove(path_.c_str());
    std::remove(dir_.c_str());
  }

  void StartReloader(UpdateTenants update_tenants) {
    ConfigReloader::Hooks hooks;
    hooks.update_tenants = std::move(update_tenants);
    hooks.auth = auth_.get();
    reloader_ = std::make_unique<ConfigReloader>(config_, ConfigOverrides(),
                                                 std::move(hooks));
  }

  std::string dir_;
  std::string path_;
  ServerConfig config_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<ConfigReloader> reloader_;
};

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

}  // namespace
}  // namespace kvasir::server
