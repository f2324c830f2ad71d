// Configs of any size or depth get short errors: floor listings over
// thousands of tenants, YAML nested deeper than the parser allows, values
// too long to quote whole, durations past their maximum.

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/bounded_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

absl::Status ParseError(const std::string& yaml) {
  return ParseConfig(yaml, "test.yaml").status();
}

TEST(ConfigErrorTest, FloorsOverCapacityWithManyTenantsIsBounded) {
  for (int n : {1000, 10000}) {
    std::string yaml = "kv_cache: { capacity: 512KiB }\ntenants:\n";
    for (int i = 0; i < n; ++i) {
      absl::StrAppend(&yaml, "  - { name: tenant", i,
                      ", reserved: 1KiB, limit: 1KiB }\n");
    }
    // Keys are checked after the budgets; none are needed to get there.
    const absl::Status s = ParseError(yaml);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr(absl::StrCat("the floors of ", n,
                                                         " tenants add up to")),
                                  HasSubstr("tenant0 1KiB + tenant1 1KiB"),
                                  HasSubstr("tenant4 1KiB ... and "),
                                  HasSubstr(absl::StrCat(n - 5, " more")),
                                  Not(HasSubstr("tenant5 1KiB")))));
    EXPECT_LT(s.message().size(), 512u) << n;
    const std::optional<std::string> detail = LogDetailOf(s);
    ASSERT_TRUE(detail.has_value());
    EXPECT_THAT(*detail, HasSubstr(absl::StrCat("tenant", n - 1, " 1KiB")));
  }
}

TEST(ConfigErrorTest, DeeplyNestedYamlSaysWhere) {
  for (const std::string open : {"[", "{a: "}) {
    std::string yaml = "tenants: ";
    for (int i = 0; i < 100000; ++i) yaml += open;
    const absl::Status s = ParseError(yaml);
    EXPECT_THAT(
        s, StatusIs(absl::StatusCode::kInvalidArgument,
                    AllOf(StartsWith("test.yaml:1:"), HasSubstr("levels deep"),
                          HasSubstr("the parser gave up at line 1, "
                                    "column"))));
    EXPECT_LT(s.message().size(), 512u);
  }
}

TEST(ConfigErrorTest, DurationsHaveAMaximum) {
  EXPECT_THAT(ParseError("server: {drain_timeout: 1000000000000}\n"
                         "tenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.drain_timeout: '1000000000000' is "
                                 "more than the maximum 1h")));
  EXPECT_THAT(ParseError("server: {drain_timeout: 61m}\n"
                         "tenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than the maximum 1h")));
  ASSERT_OK_AND_ASSIGN(
      ServerConfig c,
      ParseConfig("server: {drain_timeout: 1h}\ntenants: [{name: default}]",
                  "t"));
  EXPECT_EQ(c.server.drain_timeout, absl::Hours(1));
  // A config built in code is held to the same maximum.
  c.server.drain_timeout = absl::Hours(2);
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.drain_timeout: 2h is out of range "
                                 "[0, 1h]")));
}

TEST(ConfigErrorTest, LongValuesAreCutInMessages) {
  const std::string address(100000, 'a');
  const absl::Status s = ParseError("server: {listen: " + address +
                                    "}\ntenants: [{name: default}]");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("(100000 bytes)")));
  EXPECT_LT(s.message().size(), 1024u);
  const std::string name(100000, 'n');
  const absl::Status t = ParseError("tenants: [{name: " + name + "}]");
  EXPECT_THAT(t, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("must be 1-64 characters")));
  EXPECT_LT(t.message().size(), 1024u);
}

}  // namespace
}  // namespace kvasir::server
