// tenants[i].rate_limit: parsing, the engine's rules as config errors that
// name the key, and live diffs.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

std::string WithRateLimit(const std::string& rate_limit) {
  return "tenants:\n  - name: default\n    rate_limit: " + rate_limit + "\n";
}

absl::Status ParseError(const std::string& yaml) {
  return ParseConfig(yaml, "test.yaml").status();
}

TEST(ConfigRateLimitTest, ParsesEveryKeyAndLeavesAbsentOnesUnset) {
  ASSERT_OK_AND_ASSIGN(
      ServerConfig c,
      ParseConfig(WithRateLimit("{tokens_per_second: 20, burst: 10, "
                                "prompt_tokens_per_second: 500.5, "
                                "prompt_burst: 2000}"),
                  "t.yaml"));
  const engine::RateLimit& r = c.tenants[0].rate_limit;
  EXPECT_EQ(r.tokens_per_second, 20.0);
  EXPECT_EQ(r.burst, 10.0);
  EXPECT_EQ(r.prompt_tokens_per_second, 500.5);
  EXPECT_EQ(r.prompt_burst, 2000.0);

  ASSERT_OK_AND_ASSIGN(
      ServerConfig d,
      ParseConfig(WithRateLimit("{tokens_per_second: 0.5}"), "t.yaml"));
  EXPECT_EQ(d.tenants[0].rate_limit.tokens_per_second, 0.5);
  EXPECT_FALSE(d.tenants[0].rate_limit.burst.has_value());
  EXPECT_FALSE(d.tenants[0].rate_limit.prompt_tokens_per_second.has_value());

  // No key (or `rate_limit:` alone): unlimited.
  ASSERT_OK_AND_ASSIGN(ServerConfig e,
                       ParseConfig("tenants: [{name: default}]", "t.yaml"));
  EXPECT_EQ(e.tenants[0].rate_limit, engine::RateLimit{});
  ASSERT_OK_AND_ASSIGN(ServerConfig f,
                       ParseConfig(WithRateLimit(""), "t.yaml"));
  EXPECT_EQ(f.tenants[0].rate_limit, engine::RateLimit{});
}

TEST(ConfigRateLimitTest, BadValuesNameTheKey) {
  struct Case {
    std::string rate_limit;
    std::string key;
    std::string message;
  };
  const Case cases[] = {
      {"{tokens_per_second: 0}", "tenants[0].rate_limit.tokens_per_second",
       "0 must be a finite number > 0"},
      {"{tokens_per_second: -3}", "tenants[0].rate_limit.tokens_per_second",
       "-3 must be a finite number > 0"},
      {"{tokens_per_second: 10, burst: 0.5}", "tenants[0].rate_limit.burst",
       "0.5 must be a finite number >= 1"},
      {"{burst: 10}", "tenants[0].rate_limit.burst",
       "needs rate_limit.tokens_per_second"},
      {"{prompt_tokens_per_second: 0}",
       "tenants[0].rate_limit.prompt_tokens_per_second",
       "0 must be a finite number > 0"},
      {"{prompt_tokens_per_second: 5, prompt_burst: 0}",
       "tenants[0].rate_limit.prompt_burst", "0 must be a finite number >= 1"},
      {"{prompt_burst: 5}", "tenants[0].rate_limit.prompt_burst",
       "needs rate_limit.prompt_tokens_per_second"},
      {"{tokens_per_second: fast}", "tenants[0].rate_limit.tokens_per_second",
       "'fast' is not a finite number"},
      {"{tokens_per_second: .inf}", "tenants[0].rate_limit.tokens_per_second",
       "is not a finite number"},
      {"{tokens_per_secnd: 5}", "tenants[0].rate_limit.tokens_per_secnd",
       "unknown key"},
      {"20", "tenants[0].rate_limit", "must be a map"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rate_limit);
    EXPECT_THAT(ParseError(WithRateLimit(c.rate_limit)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(StartsWith("test.yaml:"),
                               HasSubstr(c.key + ": "), HasSubstr(c.message))));
  }
}

TEST(ConfigRateLimitTest, RateChangesAreLiveTenantChanges) {
  const ConfigChanges c = DiffConfigs(
      *ParseConfig(WithRateLimit("{tokens_per_second: 20, burst: 10}"), "a"),
      *ParseConfig(WithRateLimit("{tokens_per_second: 40}"), "b"));
  EXPECT_TRUE(c.tenants_changed);
  EXPECT_THAT(c.live, ElementsAre("tenants.default.rate_limit: generated "
                                  "20/s burst 10, prompt unlimited -> "
                                  "generated 40/s burst 40, prompt "
                                  "unlimited"));
  EXPECT_TRUE(c.restart.empty());
}

}  // namespace
}  // namespace kvasir::server
