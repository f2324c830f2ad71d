#include "server/config/config_diff.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kBase[] = R"(
server: { listen: "0.0.0.0:50051", metrics_listen: "0.0.0.0:9090" }
kv_cache: { capacity: 256MiB }
tenants:
  - { name: alpha, api_key_sha256: "6c9385b68175bf45898f39407ef2cc29587ddd2faa5e3e76e7e6affaa0e75be8", reserved: 64MiB, limit: 128MiB }
  - { name: default, limit: 32MiB }
)";

ServerConfig Parse(const std::string& yaml) {
  absl::StatusOr<ServerConfig> c = ParseConfig(yaml, "t.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ServerConfig();
}

std::string Replace(std::string s, const std::string& from,
                    const std::string& to) {
  const size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

TEST(ConfigDiffTest, SameConfigHasNoChanges) {
  const ConfigChanges c = DiffConfigs(Parse(kBase), Parse(kBase));
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(c.tenants_changed);
  EXPECT_FALSE(c.auth_changed);
}

TEST(ConfigDiffTest, BudgetChangesApplyLive) {
  const ConfigChanges c = DiffConfigs(
      Parse(kBase), Parse(Replace(kBase, "limit: 128MiB", "limit: 96MiB")));
  EXPECT_THAT(c.live, ElementsAre("tenants.alpha.limit: 128MiB -> 96MiB"));
  EXPECT_THAT(c.restart, IsEmpty());
  EXPECT_TRUE(c.tenants_changed);
  EXPECT_FALSE(c.auth_changed);
}

TEST(ConfigDiffTest, AddedAndRemovedTenantsChangeAuthToo) {
  const std::string without_default =
      Replace(kBase, "  - { name: default, limit: 32MiB }\n", "");
  ConfigChanges removed = DiffConfigs(Parse(kBase), Parse(without_default));
  EXPECT_THAT(removed.live, ElementsAre("tenants.default: removed"));
  EXPECT_TRUE(removed.tenants_changed);
  EXPECT_TRUE(removed.auth_changed);
  ConfigChanges added = DiffConfigs(Parse(without_default), Parse(kBase));
  ASSERT_EQ(added.live.size(), 1u);
  EXPECT_THAT(added.live[0], HasSubstr("tenants.default: added"));
}

TEST(ConfigDiffTest, RestartOnlyChangesAreNamed) {
  std::string yaml = Replace(kBase, "capacity: 256MiB", "capacity: 512MiB");
  yaml = Replace(yaml, "0.0.0.0:50051", "0.0.0.0:6000");
  yaml +=
      "model: { path: /models/other.gguf, kv_heads_conversion: "
      "calibrated }\n";
  const ConfigChanges c = DiffConfigs(Parse(kBase), Parse(yaml));
  EXPECT_THAT(c.live, IsEmpty());
  EXPECT_THAT(
      c.restart,
      Contains("kv_cache.capacity: 256MiB -> 512MiB (needs a restart)"));
  EXPECT_THAT(c.restart, Contains("server.listen: 0.0.0.0:50051 -> "
                                  "0.0.0.0:6000 (needs a restart)"));
  EXPECT_THAT(c.restart, Contains("model.path: dummy:tiny -> "
                                  "/models/other.gguf (needs a restart)"));
  EXPECT_THAT(c.restart, Contains("model.kv_heads_conversion: mean -> "
                                  "calibrated (needs a restart)"));
}

TEST(ConfigDiffTest, LoggingAdminKeyAndDrainAreLive) {
  std::string yaml = std::string(kBase) +
                     "logging: { level: debug }\n"
                     "scheduler: { max_running: 8 }\n";
  // (StrCat: GCC 12 warns falsely on a chain of std::string operator+,
  // bug 105329.)
  yaml = Replace(yaml, "metrics_listen: \"0.0.0.0:9090\" }",
                 absl::StrCat("metrics_listen: \"0.0.0.0:9090\", "
                              "drain_timeout: 5s, admin_api_key_sha256: \"",
                              std::string(64, 'a'), "\" }"));
  const ConfigChanges c = DiffConfigs(Parse(kBase), Parse(yaml));
  EXPECT_THAT(c.live, Contains("logging.level: info -> debug"));
  EXPECT_THAT(c.live, Contains("server.drain_timeout: 30s -> 5s"));
  EXPECT_THAT(c.live, Contains("server.admin_api_key_sha256: (none) -> "
                               "aaaaaaaa..."));
  EXPECT_THAT(c.restart, ElementsAre("scheduler.max_running: 64 -> 8 (needs "
                                     "a restart)"));
  EXPECT_TRUE(c.logging_changed);
  EXPECT_TRUE(c.auth_changed);
  EXPECT_FALSE(c.tenants_changed);
}

TEST(ConfigDiffTest, MergeKeepsRestartOnlySettingsOfTheRunningServer) {
  std::string yaml = Replace(kBase, "capacity: 256MiB", "capacity: 512MiB");
  yaml = Replace(yaml, "limit: 128MiB", "limit: 100MiB");
  const ServerConfig running = Parse(kBase);
  const ServerConfig merged = MergeLiveChanges(running, Parse(yaml));
  EXPECT_EQ(merged.kv_cache.capacity_bytes, int64_t{256} << 20);
  EXPECT_EQ(merged.FindTenant("alpha")->limit_bytes, int64_t{100} << 20);
  // The pending restart-only change is still reported next time.
  EXPECT_THAT(DiffConfigs(merged, Parse(yaml)).restart,
              ElementsAre(HasSubstr("kv_cache.capacity")));
}

}  // namespace
}  // namespace kvasir::server
