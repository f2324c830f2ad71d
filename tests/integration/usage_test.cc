// Admin.GetUsage on the real `kvasir serve` process (stories260K.gguf, the
// two-tenant config): what each tenant used, read through the generated
// client, through the `kvasir client usage --json` process and from
// /metrics; --reset zeroes the report but not
// the Prometheus counters; the admin key is required.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/http_client.h"
#include "tests/integration/live_server.h"
#include "tests/testing/child_process.h"

namespace kvasir::integration {
namespace {

using Json = nlohmann::json;

std::string Tenant(const std::string& name) {
  return absl::StrCat("tenant=\"", name, "\"");
}
std::string Labels(const std::string& key, const std::string& value,
                   const std::string& tenant) {
  return absl::StrCat(key, "=\"", value, "\",", Tenant(tenant));
}

absl::StatusOr<v1::GetUsageResponse> GetUsage(LiveServer& server,
                                              const std::string& key,
                                              bool reset = false) {
  auto ctx = Context(key);
  v1::GetUsageRequest request;
  request.set_reset(reset);
  v1::GetUsageResponse response;
  const grpc::Status s =
      server.Admin()->GetUsage(ctx.get(), request, &response);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        s.error_message());
  }
  return response;
}

v1::TenantUsage FindUsage(const v1::GetUsageResponse& usage,
                          const std::string& name) {
  for (const v1::TenantUsage& t : usage.tenants()) {
    if (t.name() == name) return t;
  }
  ADD_FAILURE() << "tenant " << name << " is not in GetUsage";
  return v1::TenantUsage();
}

int64_t Count(const google::protobuf::Map<std::string, int64_t>& m,
              const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? -1 : it->second;
}

// `kvasir client usage --json [--reset] --api-key <admin key>`, the
// process.
Json ClientUsage(LiveServer& server, bool reset, int* code) {
  std::vector<std::string> args = {"usage", "--json", "--api-key", kAdminKey};
  if (reset) args.push_back("--reset");
  absl::StatusOr<testing::CommandResult> r = server.process().Client(args);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return Json();
  *code = r->exit_code;
  EXPECT_EQ(r->err, "");
  return Json::parse(r->out, nullptr, /*allow_exceptions=*/false);
}

// The tenant `name` of a `client usage --json` object (proto3 JSON: int64
// as strings).
Json JsonTenant(const Json& usage, const std::string& name) {
  if (usage.contains("tenants")) {
    for (const Json& t : usage["tenants"]) {
      if (t.value("name", "") == name) return t;
    }
  }
  ADD_FAILURE() << "tenant " << name << " is not in " << usage.dump();
  return Json::object();
}

int64_t JsonInt(const Json& j) {
  int64_t v = -1;
  if (j.is_string() && absl::SimpleAtoi(j.get<std::string>(), &v)) return v;
  return j.is_number_integer() ? j.get<int64_t>() : -1;
}

// A generation long enough (about a second of work in the Release build)
// that a cancel after its first message always finds it running; alpha
// may hold it (beta's limit is 768 tokens).
constexpr int32_t kLong = 2000;

constexpr char kPrompt[] =
    "Once upon a time, there was a little girl named Lily. She loved to "
    "play outside.";

TEST(UsageTest, GetUsageCountsWhatEachTenantUsedAndResetZeroesIt) {
  absl::StatusOr<std::unique_ptr<LiveServer>> started =
      LiveServer::Start(TwoTenantConfig());
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  auto stub = server.Generation();

  // beta: two requests that end at max_tokens (the second finds the
  // first's prompt blocks in the prefix cache).
  const Outcome b1 = RunUnary(*stub, kBetaKey, TextRequest(kPrompt, 6));
  const Outcome b2 = RunStream(*stub, kBetaKey, TextRequest(kPrompt, 9));
  ASSERT_TRUE(b1.status.ok()) << b1.status.error_message();
  ASSERT_TRUE(b2.status.ok()) << b2.status.error_message();
  ASSERT_EQ(b1.finish, v1::FINISH_REASON_LENGTH);
  ASSERT_EQ(b2.finish, v1::FINISH_REASON_LENGTH);
  // alpha: one long stream the client cancels after its first message.
  {
    OpenStream stream(*stub, kAlphaKey, TextRequest(kPrompt, kLong));
    ASSERT_TRUE(stream.ReadOne());
    stream.Cancel();
    EXPECT_EQ(stream.Finish().status.error_code(), grpc::StatusCode::CANCELLED);
  }
  // beta: one refused (an empty stop sequence is invalid).
  v1::GenerateRequest bad = TextRequest(kPrompt, 4);
  bad.mutable_stopping()->add_stop_sequences("");
  EXPECT_EQ(RunUnary(*stub, kBetaKey, bad).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<v1::GetStatsResponse> s = server.Stats();
    return s.ok() && s->running() == 0 && s->queued() == 0 &&
           FindTenant(*s, "alpha").kv_used_blocks() == 0;
  }));

  absl::StatusOr<v1::GetUsageResponse> usage = GetUsage(server, kAdminKey);
  ASSERT_TRUE(usage.ok()) << usage.status();
  absl::StatusOr<v1::GetStatsResponse> stats = server.Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  const HttpReply metrics =
      HttpGet(server.process().metrics_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_LE(usage->since_unix_seconds(), usage->until_unix_seconds());

  // beta: exactly the responses' usage.
  const v1::TenantUsage beta = FindUsage(*usage, "beta");
  EXPECT_TRUE(beta.configured());
  EXPECT_EQ(Count(beta.requests(), "length"), 2);
  for (const char* reason : {"eos", "stop", "cancelled", "deadline", "error"}) {
    EXPECT_EQ(Count(beta.requests(), reason), 0) << reason;
  }
  EXPECT_EQ(Count(beta.refused(), "invalid_request"), 1);
  EXPECT_EQ(Count(beta.refused(), "tenant_queue_full"), 0);
  EXPECT_EQ(Count(FindUsage(*usage, "alpha").refused(), "invalid_request"), 0);
  EXPECT_EQ(beta.prompt_tokens(),
            b1.usage.prompt_tokens() + b2.usage.prompt_tokens());
  EXPECT_EQ(beta.cached_prompt_tokens(),
            b1.usage.cached_prompt_tokens() + b2.usage.cached_prompt_tokens());
  EXPECT_GT(b2.usage.cached_prompt_tokens(), 0);  // the premise
  EXPECT_EQ(beta.generated_tokens(), 6 + 9);
  EXPECT_EQ(beta.generated_tokens(),
            b1.usage.generated_tokens() + b2.usage.generated_tokens());
  EXPECT_GT(beta.kv_byte_seconds(), 0);
  // alpha: the cancelled request; its prompt is beta's, its tokens what
  // the server generated before the cancel (GetStats counts the same).
  const v1::TenantUsage alpha = FindUsage(*usage, "alpha");
  EXPECT_EQ(Count(alpha.requests(), "cancelled"), 1);
  EXPECT_EQ(Count(alpha.requests(), "length"), 0);
  EXPECT_EQ(alpha.prompt_tokens(), b1.usage.prompt_tokens());
  EXPECT_GE(alpha.generated_tokens(), 1);
  EXPECT_LT(alpha.generated_tokens(), kLong);
  EXPECT_EQ(alpha.generated_tokens(),
            FindTenant(*stats, "alpha").generated_tokens());
  EXPECT_GT(alpha.kv_byte_seconds(), 0);
  // The cached tokens are the ones GetStats reports (one source).
  EXPECT_EQ(beta.cached_prompt_tokens(),
            FindTenant(*stats, "beta").prefix_hit_tokens());

  // /metrics: the same numbers as counters.
  const std::string& m = metrics.body;
  for (const v1::TenantUsage* t : {&beta, &alpha}) {
    SCOPED_TRACE(t->name());
    const std::string l = Tenant(t->name());
    EXPECT_EQ(MetricSample(m, "kvasir_usage_prompt_tokens_total", l),
              static_cast<double>(t->prompt_tokens()));
    EXPECT_EQ(MetricSample(m, "kvasir_usage_cached_prompt_tokens_total", l),
              static_cast<double>(t->cached_prompt_tokens()));
    EXPECT_EQ(MetricSample(m, "kvasir_usage_generated_tokens_total", l),
              static_cast<double>(t->generated_tokens()));
    EXPECT_NEAR(MetricSample(m, "kvasir_usage_kv_byte_seconds_total", l),
                t->kv_byte_seconds(), 1e-9 * t->kv_byte_seconds());
    for (const char* reason : {"length", "cancelled", "eos"}) {
      EXPECT_EQ(MetricSample(m, "kvasir_usage_requests_total",
                             Labels("finish_reason", reason, t->name())),
                static_cast<double>(Count(t->requests(), reason)))
          << reason;
    }
    EXPECT_EQ(MetricSample(m, "kvasir_usage_refused_total",
                           Labels("reason", "queue_full", t->name())),
              0);
    EXPECT_EQ(MetricSample(m, "kvasir_usage_refused_total",
                           Labels("reason", "invalid_request", t->name())),
              static_cast<double>(Count(t->refused(), "invalid_request")));
  }

  // `kvasir client usage --json`: the same numbers; with --reset, then
  // zero.
  int code = -1;
  const Json before = ClientUsage(server, /*reset=*/true, &code);
  ASSERT_EQ(code, 0);
  const Json jbeta = JsonTenant(before, "beta");
  EXPECT_EQ(JsonInt(jbeta["prompt_tokens"]), beta.prompt_tokens());
  EXPECT_EQ(JsonInt(jbeta["cached_prompt_tokens"]),
            beta.cached_prompt_tokens());
  EXPECT_EQ(JsonInt(jbeta["generated_tokens"]), beta.generated_tokens());
  EXPECT_EQ(JsonInt(jbeta["requests"]["length"]), 2);
  EXPECT_EQ(jbeta["kv_byte_seconds"].get<double>(), beta.kv_byte_seconds());
  const Json jalpha = JsonTenant(before, "alpha");
  EXPECT_EQ(JsonInt(jbeta["refused"]["invalid_request"]), 1);
  EXPECT_EQ(JsonInt(jalpha["requests"]["cancelled"]), 1);
  EXPECT_EQ(JsonInt(jalpha["generated_tokens"]), alpha.generated_tokens());

  const Json after = ClientUsage(server, /*reset=*/false, &code);
  ASSERT_EQ(code, 0);
  for (const char* name : {"beta", "alpha"}) {
    SCOPED_TRACE(name);
    const Json t = JsonTenant(after, name);
    EXPECT_EQ(JsonInt(t["prompt_tokens"]), 0);
    EXPECT_EQ(JsonInt(t["cached_prompt_tokens"]), 0);
    EXPECT_EQ(JsonInt(t["generated_tokens"]), 0);
    EXPECT_EQ(JsonInt(t["requests"]["length"]), 0);
    EXPECT_EQ(JsonInt(t["requests"]["cancelled"]), 0);
    EXPECT_EQ(JsonInt(t["refused"]["invalid_request"]), 0);
    EXPECT_EQ(t["kv_byte_seconds"].get<double>(), 0);
  }
  // The Prometheus counters never go back.
  const HttpReply metrics2 =
      HttpGet(server.process().metrics_port(), "/metrics");
  ASSERT_EQ(metrics2.status, 200);
  EXPECT_EQ(MetricSample(metrics2.body, "kvasir_usage_prompt_tokens_total",
                         Tenant("beta")),
            static_cast<double>(beta.prompt_tokens()));
  EXPECT_EQ(MetricSample(metrics2.body, "kvasir_usage_requests_total",
                         Labels("finish_reason", "cancelled", "alpha")),
            1);

  // New work after the reset counts from zero.
  const Outcome b3 = RunUnary(*stub, kBetaKey, TextRequest(kPrompt, 3));
  ASSERT_TRUE(b3.status.ok()) << b3.status.error_message();
  usage = GetUsage(server, kAdminKey);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(FindUsage(*usage, "beta").generated_tokens(), 3);
  EXPECT_EQ(FindUsage(*usage, "beta").prompt_tokens(),
            b3.usage.prompt_tokens());
  EXPECT_EQ(Count(FindUsage(*usage, "beta").requests(), "length"), 1);
}

TEST(UsageTest, NeedsTheAdminKey) {
  absl::StatusOr<std::unique_ptr<LiveServer>> started =
      LiveServer::Start(TwoTenantConfig());
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  EXPECT_EQ(GetUsage(server, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetUsage(server, "not-a-key").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(GetUsage(server, kAlphaKey, /*reset=*/true).status().code(),
            absl::StatusCode::kPermissionDenied);
  // The command line says so too (exit code = the status code).
  absl::StatusOr<testing::CommandResult> r =
      server.process().Client({"usage", "--reset", "--api-key", kBetaKey});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code,
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_THAT(r->err, ::testing::HasSubstr("PERMISSION_DENIED"));
  EXPECT_TRUE(GetUsage(server, kAdminKey).ok());
}

// A reload keeps every tenant's usage; a tenant it removes stays listed
// (configured: false) until a reset, and its Prometheus counters stay.
TEST(UsageTest, UsageSurvivesAReloadAndARemovedTenantStaysUntilReset) {
  absl::StatusOr<std::unique_ptr<LiveServer>> started =
      LiveServer::Start(TwoTenantConfig());
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  auto stub = server.Generation();
  const Outcome a = RunUnary(*stub, kAlphaKey, TextRequest(kPrompt, 5));
  const Outcome b = RunUnary(*stub, kBetaKey, TextRequest(kPrompt, 7));
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();

  // beta removed, alpha's limit changed.
  ConfigSpec cut = TwoTenantConfig();
  cut.tenants.pop_back();
  ASSERT_EQ(cut.tenants[0].name, "alpha");
  cut.tenants[0].limit = "2000KiB";
  server.WriteConfig(ConfigYaml(cut));
  {
    auto ctx = Context(kAdminKey);
    v1::ReloadConfigResponse response;
    const grpc::Status reloaded = server.Admin()->ReloadConfig(
        ctx.get(), v1::ReloadConfigRequest(), &response);
    ASSERT_TRUE(reloaded.ok()) << reloaded.error_message();
  }
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<v1::GetStatsResponse> s = server.Stats();
    return s.ok() && FindTenant(*s, "alpha").kv_limit_bytes() == 2000 * 1024;
  }));

  absl::StatusOr<v1::GetUsageResponse> usage = GetUsage(server, kAdminKey);
  ASSERT_TRUE(usage.ok()) << usage.status();
  const v1::TenantUsage alpha = FindUsage(*usage, "alpha");
  EXPECT_TRUE(alpha.configured());
  EXPECT_EQ(alpha.generated_tokens(), 5);
  EXPECT_EQ(alpha.prompt_tokens(), a.usage.prompt_tokens());
  const v1::TenantUsage beta = FindUsage(*usage, "beta");
  EXPECT_FALSE(beta.configured());
  EXPECT_EQ(beta.generated_tokens(), 7);
  EXPECT_EQ(Count(beta.requests(), "length"), 1);
  EXPECT_GT(beta.kv_byte_seconds(), 0);

  usage = GetUsage(server, kAdminKey, /*reset=*/true);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(FindUsage(*usage, "beta").generated_tokens(), 7);
  usage = GetUsage(server, kAdminKey);
  ASSERT_TRUE(usage.ok()) << usage.status();
  ASSERT_EQ(usage->tenants_size(), 1);
  EXPECT_EQ(usage->tenants(0).name(), "alpha");
  const HttpReply metrics =
      HttpGet(server.process().metrics_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(MetricSample(metrics.body, "kvasir_usage_generated_tokens_total",
                         Tenant("beta")),
            7);
  EXPECT_EQ(MetricSample(metrics.body, "kvasir_usage_generated_tokens_total",
                         Tenant("alpha")),
            5);
}

}  // namespace
}  // namespace kvasir::integration
