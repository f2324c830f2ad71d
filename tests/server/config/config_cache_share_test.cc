// tenants[i].cache_share: bytes or a percentage of kv_cache.capacity,
// defaulting to the tenant's floor; bad values are errors naming the key;
// a change is a live tenant change.
#include <cstdint>
#include <string>

#include "engine/tenant_rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/cache_share.h"
#include "server/config/config.h"
#include "server/config/config_diff.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// 8MiB of KV; one tenant `default` with the given extra keys.
std::string Yaml(const std::string& tenant_keys) {
  return "kv_cache: { capacity: 8MiB }\ntenants:\n"
         "  - { name: default, reserved: 1MiB" +
         tenant_keys + " }\n";
}

absl::StatusOr<ServerConfig> Parse(const std::string& yaml) {
  return ParseConfig(yaml, "t.yaml");
}

TEST(ConfigCacheShareTest, BytesAndPercentagesOfTheCapacity) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c, Parse(Yaml(", cache_share: 64KiB")));
  EXPECT_EQ(c.tenants[0].cache_share_bytes, int64_t{64} << 10);
  ASSERT_OK_AND_ASSIGN(c, Parse(Yaml(", cache_share: 25%")));
  EXPECT_EQ(c.tenants[0].cache_share_bytes, int64_t{2} << 20);
  ASSERT_OK_AND_ASSIGN(c, Parse(Yaml(", cache_share: 12.5 %")));
  EXPECT_EQ(c.tenants[0].cache_share_bytes, int64_t{1} << 20);
  ASSERT_OK_AND_ASSIGN(c, Parse(Yaml(", cache_share: 100%")));
  EXPECT_EQ(c.tenants[0].cache_share_bytes, int64_t{8} << 20);
  ASSERT_OK_AND_ASSIGN(c, Parse(Yaml(", cache_share: 0")));
  EXPECT_EQ(c.tenants[0].cache_share_bytes, 0);
}

TEST(ConfigCacheShareTest, DefaultsToTheReservedFloor) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c, Parse(Yaml("")));
  EXPECT_FALSE(c.tenants[0].cache_share_bytes.has_value());
  const std::vector<kvcache::TenantBudget> budgets = engine::ToKvBudgets(
      std::vector<engine::TenantConfig>(c.tenants.begin(), c.tenants.end()));
  EXPECT_EQ(budgets[0].effective_cache_share_bytes(), int64_t{1} << 20);
}

TEST(ConfigCacheShareTest, BadValuesNameTheKey) {
  struct Case {
    std::string value;
    std::string says;
  };
  for (const Case& c : {
           Case{"-1MiB", "tenants[0].cache_share: '-1MiB'"},
           Case{"-5%", "must be between 0% and 100%"},
           Case{"101%", "'101%' must be between 0% and 100% of the KV"},
           Case{"abc%", "'abc%' is not a percentage"},
           Case{"12XB", "unknown unit 'XB'"},
           Case{"9MiB",
                "tenants[0].cache_share: 9MiB exceeds the KV cache "
                "capacity 8MiB"},
           Case{"[1]", "tenants[0].cache_share: must be 64MiB or 10%"},
       }) {
    EXPECT_THAT(
        Parse(Yaml(", cache_share: " + c.value)),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(StartsWith("t.yaml:3: "),
                       HasSubstr("tenants[0].cache_share"), HasSubstr(c.says))))
        << c.value;
  }
}

TEST(ConfigCacheShareTest, ParseCacheShareRoundsPercentagesDown) {
  ASSERT_OK_AND_ASSIGN(int64_t b, ParseCacheShare("33%", "f", 1000));
  EXPECT_EQ(b, 330);
  ASSERT_OK_AND_ASSIGN(b, ParseCacheShare("0.15%", "f", 1000));
  EXPECT_EQ(b, 1);
  EXPECT_THAT(ParseCacheShare("%", "f", 1000),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("f: '%' is not a percentage")));
}

TEST(ConfigCacheShareTest, AChangeIsALiveTenantChange) {
  ASSERT_OK_AND_ASSIGN(ServerConfig a, Parse(Yaml("")));
  ASSERT_OK_AND_ASSIGN(ServerConfig b, Parse(Yaml(", cache_share: 50%")));
  const ConfigChanges c = DiffConfigs(a, b);
  EXPECT_THAT(c.live, ElementsAre("tenants.default.cache_share: (reserved) "
                                  "-> 4MiB"));
  EXPECT_TRUE(c.tenants_changed);
}

}  // namespace
}  // namespace kvasir::server
