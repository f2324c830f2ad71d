#include "server/config/config.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config_engine.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kKeyA[] =
    "6c9385b68175bf45898f39407ef2cc29587ddd2faa5e3e76e7e6affaa0e75be8";
constexpr char kKeyB[] =
    "977a4dde4aef16b34b838b93652fd3a41e7669b2fd95e4e2bf8cb9a960ab4fe5";

absl::Status ParseError(const std::string& yaml) {
  return ParseConfig(yaml, "test.yaml").status();
}

TEST(ConfigTest, DefaultYamlParsesAndServesTheShippedModel) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadConfigFile(testing::SourceDir() +
                                                      "/configs/default.yaml"));
  EXPECT_FALSE(c.model_defaulted);
  // Relative to the config file's folder, so it works from any directory;
  // the file is in the repository.
  EXPECT_EQ(c.model.path, std::filesystem::path(testing::SourceDir() +
                                                "/models/stories260K.gguf")
                              .lexically_normal()
                              .string());
  EXPECT_TRUE(std::filesystem::is_regular_file(c.model.path));
  EXPECT_TRUE(c.model.chat_template.empty());
  EXPECT_EQ(c.server.listen, "0.0.0.0:50051");
  // The metrics name every tenant: the quick start keeps them local.
  EXPECT_EQ(c.server.metrics_listen, "127.0.0.1:9090");
  ASSERT_EQ(c.tenants.size(), 1u);
  EXPECT_EQ(c.tenants[0].name, "default");
  EXPECT_TRUE(c.tenants[0].api_key_sha256.empty());
  EXPECT_EQ(c.kv_cache.capacity_bytes, int64_t{256} << 20);
  EXPECT_EQ(c.server.drain_timeout, absl::Seconds(30));
}

TEST(ConfigTest, MultiTenantYamlParses) {
  ASSERT_OK_AND_ASSIGN(
      ServerConfig c,
      LoadConfigFile(testing::SourceDir() + "/configs/multi-tenant.yaml"));
  EXPECT_FALSE(c.model_defaulted);
  EXPECT_TRUE(std::filesystem::is_regular_file(c.model.path)) << c.model.path;
  ASSERT_EQ(c.tenants.size(), 3u);
  const TenantSpec* alpha = c.FindTenant("alpha");
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(alpha->api_key_sha256, kKeyA);
  EXPECT_EQ(alpha->reserved_bytes, int64_t{64} << 20);
  EXPECT_EQ(alpha->limit_bytes, int64_t{128} << 20);
  EXPECT_EQ(alpha->weight, 2.0);
  EXPECT_EQ(alpha->max_concurrent, 16);
  EXPECT_EQ(alpha->max_queued, 64);
  EXPECT_FALSE(c.server.admin_api_key_sha256.empty());
  EXPECT_EQ(c.logging.format, "json");
}

TEST(ConfigTest, RelativeFilesAreRelativeToTheConfigFile) {
  const testing::TempDir temp;
  const std::string& dir = temp.path();
  ASSERT_FALSE(dir.empty());
  {
    std::ofstream f(dir + "/k.yaml");
    f << "model:\n  path: m/model.gguf\n  chat_template: ../t.jinja\n"
         "  tokenizer: /abs/tok.bin\n  calibration_text: cal.txt\n"
         "tenants: [{name: default}]\n";
  }
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadConfigFile(dir + "/k.yaml"));
  EXPECT_EQ(c.model.path, dir + "/m/model.gguf");
  EXPECT_EQ(c.model.chat_template,
            std::filesystem::path(dir).parent_path().string() + "/t.jinja");
  EXPECT_EQ(c.model.tokenizer, "/abs/tok.bin");
  EXPECT_EQ(c.model.calibration_text, dir + "/cal.txt");
  // Parsed text has no folder: names stay as written.
  ASSERT_OK_AND_ASSIGN(
      ServerConfig p,
      ParseConfig("model: {path: m.gguf, chat_template: t.jinja}\n"
                  "tenants: [{name: default}]",
                  "t.yaml"));
  EXPECT_EQ(p.model.path, "m.gguf");
  EXPECT_EQ(p.model.chat_template, "t.jinja");
}

TEST(ConfigTest, MinimalConfigTakesDocumentedDefaults) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c,
                       ParseConfig("tenants: [{name: default}]", "t.yaml"));
  EXPECT_TRUE(c.model_defaulted);
  EXPECT_EQ(c.kv_cache.block_size, 16);
  EXPECT_EQ(c.scheduler.max_batch_tokens, 512);
  EXPECT_EQ(c.scheduler.max_running, 64);
  EXPECT_EQ(c.scheduler.max_queued, 1024);
  // An unset limit is the whole cache.
  EXPECT_EQ(c.tenants[0].limit_bytes, c.kv_cache.capacity_bytes);
  EXPECT_EQ(c.tenants[0].weight, 1.0);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.source, "t.yaml");
}

TEST(ConfigTest, ValuesWithUnitsAndOptionalKeys) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c,
                       ParseConfig(R"(
server: { listen: "[::]:7000", metrics_listen: null, drain_timeout: 1m30s }
model: { path: /m/x.gguf, tokenizer: /m/t.bin, kv_heads: 2, weights_dtype: bf16 }
kv_cache: { capacity: 1.5GiB, block_size: 32, dtype: bf16, prefix_caching: off }
tenants:
  - { name: a, api_key_sha256: ")" + std::string(kKeyA) +
                                       R"(", reserved: 512KiB, limit: 1GB }
)",
                                   "t.yaml"));
  EXPECT_EQ(c.server.listen, "[::]:7000");
  EXPECT_TRUE(c.server.metrics_listen.empty());
  EXPECT_EQ(c.server.drain_timeout, absl::Seconds(90));
  EXPECT_EQ(c.model.path, "/m/x.gguf");
  EXPECT_EQ(c.model.tokenizer, "/m/t.bin");
  ASSERT_TRUE(c.model.kv_heads.has_value());
  EXPECT_EQ(*c.model.kv_heads, 2);
  EXPECT_EQ(c.model.kv_heads_conversion, "mean");  // the default
  EXPECT_TRUE(c.model.calibration_text.empty());
  ASSERT_OK_AND_ASSIGN(
      ServerConfig cal,
      ParseConfig("model: {path: /m/x.gguf, kv_heads: 1, kv_heads_conversion: "
                  "calibrated, calibration_text: /c/t.txt}\n"
                  "tenants: [{name: default}]",
                  "t.yaml"));
  EXPECT_EQ(cal.model.kv_heads_conversion, "calibrated");
  EXPECT_EQ(cal.model.calibration_text, "/c/t.txt");
  EXPECT_EQ(c.kv_cache.capacity_bytes, int64_t{3} << 29);
  EXPECT_EQ(c.kv_cache.dtype, kvcache::KvDtype::kBF16);
  EXPECT_FALSE(c.kv_cache.prefix_caching);
  EXPECT_EQ(c.tenants[0].reserved_bytes, 512 * 1024);
  EXPECT_EQ(c.tenants[0].limit_bytes, 1000000000);
}

TEST(ConfigTest, HttpApiKeys) {
  ASSERT_OK_AND_ASSIGN(ServerConfig d,
                       ParseConfig("tenants: [{name: default}]", "t.yaml"));
  EXPECT_EQ(d.server.http_listen, "0.0.0.0:8080");
  EXPECT_EQ(d.server.http_max_body_bytes, int64_t{4} << 20);
  EXPECT_EQ(d.server.http_max_connections, 512);
  EXPECT_TRUE(d.model.name.empty());
  ASSERT_OK_AND_ASSIGN(ServerConfig c, ParseConfig(R"(
server: { http_listen: "127.0.0.1:9000", http_max_body_bytes: 64KiB,
          http_max_connections: 32 }
model: { path: /m/x.gguf, name: my-model }
tenants: [{name: default}]
)",
                                                   "t.yaml"));
  EXPECT_EQ(c.server.http_listen, "127.0.0.1:9000");
  EXPECT_EQ(c.server.http_max_body_bytes, 64 * 1024);
  EXPECT_EQ(c.server.http_max_connections, 32);
  EXPECT_EQ(c.model.name, "my-model");
  // "off" and null turn the HTTP API off.
  for (const char* off : {"off", "null"}) {
    ASSERT_OK_AND_ASSIGN(
        ServerConfig o,
        ParseConfig(absl::StrCat("server: {http_listen: ", off,
                                 "}\ntenants: [{name: default}]"),
                    "t.yaml"));
    EXPECT_TRUE(o.server.http_listen.empty()) << off;
  }
}

TEST(ConfigErrorTest, HttpApiKeysAreNamed) {
  EXPECT_THAT(
      ParseError("server: {http_listen: nope}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("server.http_listen: 'nope' has no host:port")));
  EXPECT_THAT(ParseError("server: {listen: '0.0.0.0:7000', http_listen: "
                         "'0.0.0.0:7000'}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.http_listen: '0.0.0.0:7000' is also "
                                 "server.listen")));
  EXPECT_THAT(ParseError("server: {http_max_connections: 0}\ntenants: [{name: "
                         "default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.http_max_connections: 0 is out of "
                                 "range")));
  EXPECT_THAT(ParseError("server: {http_max_body_bytes: 10}\ntenants: [{name: "
                         "default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.http_max_body_bytes: 10 bytes is too "
                                 "small")));
  ServerConfig c;
  c.tenants.push_back(TenantSpec{});
  c.tenants[0].name = "default";
  ConfigOverrides bad;
  bad.http_listen = "x";
  EXPECT_THAT(bad.ApplyTo(&c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--http-listen (or 'off'): 'x'")));
  ConfigOverrides off;
  off.http_listen = "off";
  c.tenants[0].limit_bytes = c.kv_cache.capacity_bytes;
  ASSERT_TRUE(off.ApplyTo(&c).ok());
  EXPECT_TRUE(c.server.http_listen.empty());
}

TEST(ConfigTest, UppercaseKeyHashIsNormalized) {
  std::string upper = kKeyA;
  for (char& ch : upper) ch = static_cast<char>(toupper(ch));
  ASSERT_OK_AND_ASSIGN(
      ServerConfig c,
      ParseConfig("tenants: [{name: a, api_key_sha256: " + upper + "}]", "t"));
  EXPECT_EQ(c.tenants[0].api_key_sha256, kKeyA);
}

TEST(ConfigErrorTest, UnknownTopLevelKeyIsNamedWithItsLine) {
  EXPECT_THAT(ParseError("tenants: [{name: default}]\nservr: {}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("test.yaml:2: "),
                             HasSubstr("unknown key 'servr'"))));
}

TEST(ConfigErrorTest, UnknownNestedKeyNamesThePath) {
  EXPECT_THAT(ParseError("server: {listn: x}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.listn: unknown key 'listn'")));
  EXPECT_THAT(
      ParseError("tenants:\n  - {name: default}\n  - {name: b, limt: 1}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(StartsWith("test.yaml:3: "),
                     HasSubstr("tenants[1].limt: unknown key"))));
}

TEST(ConfigErrorTest, DuplicateYamlKey) {
  EXPECT_THAT(ParseError("scheduler: {max_running: 1, max_running: 2}\n"
                         "tenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("scheduler.max_running: key given twice")));
}

TEST(ConfigErrorTest, WrongTypesNameKeyAndValue) {
  EXPECT_THAT(
      ParseError("scheduler: {max_running: abc}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("scheduler.max_running: 'abc' is not an integer")));
  EXPECT_THAT(
      ParseError("scheduler: {max_running: 0}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("scheduler.max_running: 0 is out of range")));
  EXPECT_THAT(
      ParseError("server: {listen: {a: 1}}\ntenants: [{name: x}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("server.listen: must be a string, got a map")));
  EXPECT_THAT(
      ParseError(
          "kv_cache: {prefix_caching: maybe}\ntenants: [{name: default}]"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("kv_cache.prefix_caching: 'maybe' is not true or false")));
  EXPECT_THAT(ParseError("tenants: {name: default}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants: must be a list, got a map")));
  EXPECT_THAT(ParseError("tenants: [{name: default, weight: -2}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:1: tenants[0].weight: -2 is out "
                                 "of range [0.001, 1000]")));
  EXPECT_THAT(ParseError("tenants: [{name: default, weight: nan}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[0].weight: 'nan' is not a finite")));
}

TEST(ConfigErrorTest, BadUnitNamesTheKey) {
  EXPECT_THAT(
      ParseError("kv_cache: {capacity: 12XB}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(StartsWith("test.yaml:1: "),
                     HasSubstr("kv_cache.capacity: '12XB' has unknown unit"))));
  EXPECT_THAT(ParseError("tenants: [{name: default, limit: lots}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[0].limit: 'lots'")));
  EXPECT_THAT(
      ParseError("kv_cache: {capacity: 0}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("kv_cache.capacity: must be more than 0 bytes")));
}

TEST(ConfigErrorTest, TenantRulesAreTheEnginesWithFileLineAndKey) {
  EXPECT_THAT(ParseError("tenants:\n  - {name: default, max_concurrent: -1}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:2: tenants[0].max_concurrent: -1 "
                                 "must be >= 0 (0 = no cap)")));
  EXPECT_THAT(ParseError("tenants:\n  - {name: default, max_queued: -3}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:2: tenants[0].max_queued: -3 "
                                 "must be >= 0")));
  EXPECT_THAT(ParseError("tenants: []"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants: at least one tenant is required")));
  // In block style the line is the key's, not the entry's.
  EXPECT_THAT(
      ParseError("tenants:\n  - name: default\n    weight: 1\n"
                 "    max_concurrent: -1\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("test.yaml:4: tenants[0].max_concurrent: -1")));
  EXPECT_THAT(ParseError("tenants:\n  - name: default\n    rate_limit:\n"
                         "      tokens_per_second: 5\n      burst: 0.5\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:5: tenants[0].rate_limit.burst: "
                                 "0.5 must be")));
}

TEST(ConfigErrorTest, FloorsOverCapacity) {
  const std::string yaml =
      R"(
kv_cache: { capacity: 100MiB }
tenants:
  - { name: a, api_key_sha256: ")" +
      std::string(kKeyA) + R"(", reserved: 64MiB, limit: 100MiB }
  - { name: b, api_key_sha256: ")" +
      std::string(kKeyB) + R"(", reserved: 64MiB, limit: 64MiB }
)";
  EXPECT_THAT(ParseError(yaml),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("test.yaml:4: tenants[].reserved: "),
                             HasSubstr("128MiB (a 64MiB + b 64MiB)"),
                             HasSubstr("exceeds the KV cache capacity "
                                       "100MiB"))));
}

// The message goes back to a reload's client in gRPC metadata: it names
// the first tenants and counts the rest; the whole listing is its log
// detail.
TEST(ConfigTest, MetricsTokenHashIsNormalizedAndRestartOnly) {
  std::string upper = kKeyA;
  for (char& ch : upper) ch = static_cast<char>(toupper(ch));
  ASSERT_OK_AND_ASSIGN(ServerConfig c,
                       ParseConfig("server: {metrics_api_key_sha256: " + upper +
                                       "}\ntenants: [{name: default}]",
                                   "t"));
  EXPECT_EQ(c.server.metrics_api_key_sha256, kKeyA);
  EXPECT_THAT(ParseError("server: {metrics_api_key_sha256: secret}\n"
                         "tenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.metrics_api_key_sha256: 'secret' is "
                                 "not a SHA-256 hash")));
}

TEST(ConfigErrorTest, ReservedOverLimit) {
  EXPECT_THAT(
      ParseError("tenants: [{name: default, reserved: 64MiB, limit: 32MiB}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("tenants[0].reserved: 64MiB exceeds the tenant's "
                         "limit 32MiB")));
}

TEST(ConfigErrorTest, LimitOverCapacity) {
  EXPECT_THAT(ParseError("kv_cache: {capacity: 64MiB}\n"
                         "tenants: [{name: default, limit: 128MiB}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:2: tenants[0].limit: 128MiB "
                                 "exceeds the KV cache capacity 64MiB")));
}

TEST(ConfigErrorTest, DuplicateTenantName) {
  const std::string yaml =
      "tenants:\n  - {name: a, api_key_sha256: " + std::string(kKeyA) +
      "}\n  - {name: a, api_key_sha256: " + std::string(kKeyB) + "}\n";
  EXPECT_THAT(ParseError(yaml),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("test.yaml:3: tenants[1].name: duplicate "
                                 "tenant name 'a' (also tenants[0])")));
}

TEST(ConfigErrorTest, BadKeyHashHex) {
  EXPECT_THAT(ParseError("tenants: [{name: a, api_key_sha256: abc123}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tenants[0].api_key_sha256: 'abc123' "
                                       "is not a SHA-256"),
                             HasSubstr("kvasir hash-key"))));
  std::string not_hex(64, 'g');
  EXPECT_THAT(ParseError("server: {admin_api_key_sha256: " + not_hex +
                         "}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.admin_api_key_sha256: 'ggg")));
}

TEST(ConfigErrorTest, KeyRulesForTenants) {
  EXPECT_THAT(ParseError("tenants: [{name: alpha}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[0].api_key_sha256: is required for "
                                 "tenant 'alpha'")));
  const std::string same =
      "tenants:\n  - {name: a, api_key_sha256: " + std::string(kKeyA) +
      "}\n  - {name: b, api_key_sha256: " + std::string(kKeyA) + "}\n";
  EXPECT_THAT(ParseError(same),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[1].api_key_sha256: same key hash as "
                                 "tenants[0]")));
  const std::string admin =
      "server: {admin_api_key_sha256: " + std::string(kKeyA) +
      "}\ntenants: [{name: a, api_key_sha256: " + std::string(kKeyA) + "}]";
  EXPECT_THAT(ParseError(admin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("equals server.admin_api_key_sha256")));
  // A scrape token that is also an API key: every tenant's numbers to one
  // tenant, and the key in every scrape config.
  const std::string scrape_tenant =
      "server: {metrics_api_key_sha256: " + std::string(kKeyA) +
      "}\ntenants: [{name: a, api_key_sha256: " + std::string(kKeyA) + "}]";
  EXPECT_THAT(
      ParseError(scrape_tenant),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("server.metrics_api_key_sha256: equals "
                         "tenants[0].api_key_sha256 ('a'); use a separate")));
  const std::string scrape_admin =
      "server: {metrics_api_key_sha256: " + std::string(kKeyA) +
      ", admin_api_key_sha256: " + std::string(kKeyA) +
      "}\ntenants: [{name: default}]";
  EXPECT_THAT(ParseError(scrape_admin),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.metrics_api_key_sha256: equals "
                                 "server.admin_api_key_sha256")));
  EXPECT_THAT(ParseError("tenants: [{name: 'bad name'}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants[0].name: 'bad name' must be")));
}

TEST(ConfigErrorTest, MissingTenantsEmptyFileAndSyntax) {
  EXPECT_THAT(ParseError("server: {listen: '0.0.0.0:1'}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants: at least one tenant is required")));
  EXPECT_THAT(ParseError(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("the config is empty")));
  EXPECT_THAT(
      ParseError("tenants: [{name: default}\nserver: {"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(StartsWith("test.yaml:"), HasSubstr("invalid YAML"))));
}

TEST(ConfigErrorTest, AddressesLoggingAndDurations) {
  EXPECT_THAT(ParseError("server: {listen: nope}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.listen: 'nope' has no host:port")));
  EXPECT_THAT(
      ParseError("server: {listen: 'h:70000'}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("port outside 0..65535")));
  EXPECT_THAT(ParseError("logging: {level: loud}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("logging.level: 'loud' is not one of")));
  EXPECT_THAT(ParseError("logging: {format: xml}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("logging.format: 'xml' is not one of")));
  EXPECT_THAT(
      ParseError("server: {drain_timeout: soon}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("server.drain_timeout: 'soon' is not a duration")));
  EXPECT_THAT(
      ParseError("model: {weights_dtype: f8}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("model.weights_dtype: 'f8'")));
  EXPECT_THAT(
      ParseError("kv_cache: {dtype: fp8}\ntenants: [{name: default}]"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("kv_cache.dtype: 'fp8' is not one of f32, bf16, "
                         "int8")));
  EXPECT_THAT(ParseError("model: {kv_heads_conversion: median}\n"
                         "tenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.kv_heads_conversion: 'median' is not "
                                 "a KV-head conversion (mean, calibrated)")));
  EXPECT_THAT(ParseError("model: {path: 'dummy:'}\ntenants: [{name: default}]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.path: 'dummy:' needs a preset")));
}

TEST(ConfigErrorTest, MissingFileIsNotFound) {
  EXPECT_THAT(LoadConfigFile("/nonexistent/kvasir.yaml"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/kvasir.yaml")));
}

TEST(ConfigOverridesTest, FlagsReplaceFileValuesAndAreValidated) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c,
                       ParseConfig("tenants: [{name: default}]", "t"));
  ConfigOverrides o;
  o.model = "/models/x.gguf";
  o.listen = "127.0.0.1:6000";
  o.metrics_listen = "off";
  ASSERT_OK(o.ApplyTo(&c));
  EXPECT_EQ(c.model.path, "/models/x.gguf");
  EXPECT_FALSE(c.model_defaulted);
  EXPECT_EQ(c.server.listen, "127.0.0.1:6000");
  EXPECT_TRUE(c.server.metrics_listen.empty());
  ConfigOverrides bad;
  bad.listen = "nowhere";
  EXPECT_THAT(bad.ApplyTo(&c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--listen: 'nowhere' has no host:port form")));
  ConfigOverrides bad_metrics;
  bad_metrics.metrics_listen = "127.0.0.1:99999";
  bad_metrics.model = "/models/y.gguf";
  EXPECT_THAT(bad_metrics.ApplyTo(&c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--metrics-listen (or 'off'): "
                                 "'127.0.0.1:99999' has a port outside")));
  // Bad flags change nothing.
  EXPECT_EQ(c.model.path, "/models/x.gguf");
  EXPECT_EQ(c.server.listen, "127.0.0.1:6000");
}

TEST(ConfigErrorTest, ValidateNamesTheSchedulerField) {
  ASSERT_OK_AND_ASSIGN(ServerConfig c,
                       ParseConfig("tenants: [{name: default}]", "t"));
  c.scheduler.max_running = 0;
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t: scheduler.max_running: 0 must be >= 1")));
  c.scheduler.max_running = 4;
  c.scheduler.max_queued = -2;
  EXPECT_THAT(ValidateConfig(c),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("scheduler.max_queued: -2 must be >= 1")));
}

TEST(ConfigEngineTest, MapsToEngineTypes) {
  ASSERT_OK_AND_ASSIGN(
      ServerConfig c,
      ParseConfig(
          R"(
kv_cache: { capacity: 64MiB, block_size: 32, dtype: bf16, prefix_caching: false }
scheduler: { max_batch_tokens: 128, max_running: 8, max_queued: 100 }
tenants:
  - { name: a, api_key_sha256: ")" +
              std::string(kKeyA) +
              R"(", reserved: 1MiB, limit: 2MiB, weight: 3, max_concurrent: 4, max_queued: 5, prefix_caching: false }
  - { name: default }
)",
          "t"));
  const engine::Engine::Options o = ToEngineOptions(c);
  EXPECT_EQ(o.kv_capacity_bytes, int64_t{64} << 20);
  EXPECT_EQ(o.block_size, 32);
  EXPECT_EQ(o.kv_dtype, kvcache::KvDtype::kBF16);
  EXPECT_FALSE(o.prefix_caching);
  ASSERT_OK_AND_ASSIGN(
      ServerConfig int8,
      ParseConfig("kv_cache: { dtype: int8 }\ntenants: [{name: default}]",
                  "t"));
  EXPECT_EQ(int8.kv_cache.dtype, kvcache::KvDtype::kInt8);
  EXPECT_EQ(ToEngineOptions(int8).kv_dtype, kvcache::KvDtype::kInt8);
  EXPECT_EQ(o.max_batch_tokens, 128);
  EXPECT_EQ(o.max_running, 8);
  EXPECT_EQ(o.max_queued, 100);
  const std::vector<engine::TenantConfig> t = ToTenantConfigs(c);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[0].reserved_bytes, 1 << 20);
  EXPECT_EQ(t[0].limit_bytes, 2 << 20);
  EXPECT_EQ(t[0].weight, 3.0);
  EXPECT_EQ(t[0].max_concurrent, 4);
  EXPECT_EQ(t[0].max_queued, 5);
  EXPECT_FALSE(t[0].prefix_caching);
  EXPECT_EQ(t[1].name, "default");
  EXPECT_EQ(t[1].limit_bytes, int64_t{64} << 20);
}

}  // namespace
}  // namespace kvasir::server
