#include "server/metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

engine::FinishInfo Finished(engine::FinishReason reason, int prompt,
                            int generated) {
  engine::FinishInfo info;
  info.reason = reason;
  info.prompt_tokens = prompt;
  info.generated_tokens = generated;
  info.time_to_first_token = absl::Milliseconds(20);
  info.queue_time = absl::Milliseconds(5);
  info.total_time = absl::Milliseconds(200);
  return info;
}

TEST(MetricsTest, CountsRequestsTokensAndLatencies) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Metrics> m, Metrics::Create());
  m->RecordFinished("alpha", Finished(engine::FinishReason::kLength, 5, 10));
  m->RecordFinished("alpha", Finished(engine::FinishReason::kLength, 3, 4));
  m->RecordFinished("beta", Finished(engine::FinishReason::kCancelled, 2, 0));
  m->RecordRejected("alpha", absl::StatusCode::kResourceExhausted);
  m->RecordRejected("", absl::StatusCode::kUnauthenticated);
  m->RecordReload(true);
  m->RecordReload(false);
  const std::string text = m->Render(nullptr, /*ready=*/false, false);
  EXPECT_THAT(text, HasSubstr("# TYPE kvasir_requests_total counter"));
  EXPECT_THAT(text, HasSubstr("kvasir_requests_total{finish_reason=\"length\","
                              "tenant=\"alpha\"} 2"));
  EXPECT_THAT(text, HasSubstr("kvasir_requests_total{finish_reason="
                              "\"cancelled\",tenant=\"beta\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_prompt_tokens_total{tenant=\"alpha\"} 8"));
  // Token counters GetStats also reports come from the engine's stats only.
  EXPECT_THAT(text, Not(HasSubstr("kvasir_generated_tokens_total")));
  EXPECT_THAT(text, Not(HasSubstr("kvasir_cached_prompt_tokens_total")));
  EXPECT_THAT(text, HasSubstr("kvasir_requests_rejected_total{code="
                              "\"RESOURCE_EXHAUSTED\",tenant=\"alpha\"} 1"));
  EXPECT_THAT(text, HasSubstr("kvasir_requests_rejected_total{code="
                              "\"UNAUTHENTICATED\",tenant=\"\"} 1"));
  EXPECT_THAT(text, HasSubstr("kvasir_config_reloads_total{result=\"ok\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_config_reloads_total{result=\"error\"} 1"));
  // 20 ms to the first token falls in the 0.025 s bucket.
  EXPECT_THAT(text, HasSubstr("kvasir_time_to_first_token_seconds_bucket{"
                              "tenant=\"alpha\",le=\"0.025\"} 2"));
  EXPECT_THAT(text, HasSubstr("kvasir_time_to_first_token_seconds_bucket{"
                              "tenant=\"alpha\",le=\"0.01\"} 0"));
  // (200 - 20) ms over 9 gaps = 20 ms per token.
  EXPECT_THAT(text, HasSubstr("kvasir_time_per_output_token_seconds_count{"
                              "tenant=\"alpha\"} 2"));
  EXPECT_THAT(text, HasSubstr("kvasir_request_duration_seconds_count{tenant="
                              "\"beta\"} 1"));
  EXPECT_THAT(text, HasSubstr("kvasir_ready 0"));
  // No engine, no engine gauges.
  EXPECT_THAT(text, Not(HasSubstr("kvasir_queue_depth")));
}

TEST(MetricsTest, EngineGaugesComeFromStats) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Metrics> m, Metrics::Create());
  engine::EngineStats s;
  s.kv.total_blocks = 100;
  s.kv.free_blocks = 60;
  s.kv.cached_blocks = 7;
  s.kv.block_bytes = 4096;
  s.kv.prefix_hit_rate = 0.25;
  s.running = 3;
  s.queued = 2;
  s.steps = 40;
  s.preemptions = 1;
  engine::TenantStats t;
  t.name = "alpha";
  t.kv.used_blocks = 33;
  t.kv.reserved_blocks = 16;
  t.kv.limit_blocks = 32;
  t.kv.prefix_hit_tokens = 48;  // per admission: not what users are billed
  t.kv.cached_bytes = 5 * 4096;
  t.sched.cached_prompt_tokens = 32;
  t.sched.generated_tokens = 70;
  t.sched.running = 3;
  t.sched.preemptions = 1;
  t.queued = 2;
  s.tenants.push_back(t);
  const std::string text = m->Render(&s, /*ready=*/true, /*draining=*/false);
  EXPECT_THAT(text, HasSubstr("kvasir_ready 1"));
  EXPECT_THAT(text, HasSubstr("kvasir_draining 0"));
  EXPECT_THAT(text, HasSubstr("kvasir_queue_depth 2"));
  EXPECT_THAT(text, HasSubstr("kvasir_running_requests 3"));
  EXPECT_THAT(text, HasSubstr("kvasir_kv_blocks{state=\"free\"} 60"));
  EXPECT_THAT(text, HasSubstr("kvasir_kv_blocks{state=\"cached\"} 7"));
  EXPECT_THAT(text, HasSubstr("kvasir_prefix_cache_hit_rate 0.25"));
  EXPECT_THAT(text, HasSubstr("# TYPE kvasir_preemptions_total counter"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_tenant_kv_blocks_used{tenant=\"alpha\"} 33"));
  EXPECT_THAT(text, HasSubstr("kvasir_tenant_over_limit{tenant=\"alpha\"} 1"));
  EXPECT_THAT(text, HasSubstr("kvasir_tenant_running{tenant=\"alpha\"} 3"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_tenant_preemptions_total{tenant=\"alpha\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("kvasir_cached_prompt_tokens_total{tenant=\"alpha\"} 32"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_generated_tokens_total{tenant=\"alpha\"} 70"));
  EXPECT_THAT(text, Not(HasSubstr(" 48\n")));
  EXPECT_THAT(
      text, HasSubstr("kvasir_tenant_kv_blocks_reserved{tenant=\"alpha\"} 16"));
  EXPECT_THAT(text,
              HasSubstr("kvasir_tenant_kv_blocks_limit{tenant=\"alpha\"} 32"));
  EXPECT_THAT(text, HasSubstr("kvasir_tenant_queued{tenant=\"alpha\"} 2"));
  EXPECT_THAT(
      text, HasSubstr("kvasir_tenant_kv_cached_bytes{tenant=\"alpha\"} 20480"));
  EXPECT_THAT(m->Render(&s, true, /*draining=*/true),
              HasSubstr("kvasir_ready 0"));
}

TEST(MetricsTest, UsageCountersComeFromTheSinceStartReport) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Metrics> m, Metrics::Create());
  engine::UsageReport usage;
  engine::TenantUsage t;
  t.name = "gone";
  t.configured = false;  // a removed tenant's counters stay
  t.finished[static_cast<size_t>(engine::FinishReason::kLength)] = 4;
  t.finished[static_cast<size_t>(engine::FinishReason::kCancelled)] = 1;
  t.refused[static_cast<size_t>(engine::Refusal::kTenantQueueFull)] = 2;
  t.prompt_tokens = 120;
  t.cached_prompt_tokens = 32;
  t.generated_tokens = 75;
  t.kv_byte_seconds = 2560.5;
  usage.tenants.push_back(t);
  const engine::EngineStats s;
  const std::string text = m->Render(&s, true, false, &usage);
  EXPECT_THAT(text, HasSubstr("# TYPE kvasir_usage_requests_total counter"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_requests_total{finish_reason="
                              "\"length\",tenant=\"gone\"} 4"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_requests_total{finish_reason="
                              "\"cancelled\",tenant=\"gone\"} 1"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_requests_total{finish_reason="
                              "\"eos\",tenant=\"gone\"} 0"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_refused_total{reason="
                              "\"tenant_queue_full\",tenant=\"gone\"} 2"));
  // Nobody is ever charged an unknown tenant.
  EXPECT_THAT(text, Not(HasSubstr("unknown_tenant")));
  EXPECT_THAT(text,
              HasSubstr("kvasir_usage_prompt_tokens_total{tenant=\"gone\"} "
                        "120"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_cached_prompt_tokens_total{"
                              "tenant=\"gone\"} 32"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_generated_tokens_total{tenant="
                              "\"gone\"} 75"));
  EXPECT_THAT(text, HasSubstr("kvasir_usage_kv_byte_seconds_total{tenant="
                              "\"gone\"} 2560.5"));
  // Without a report, no usage counters.
  EXPECT_THAT(m->Render(&s, true, false),
              Not(HasSubstr("kvasir_usage_requests_total")));
}

}  // namespace
}  // namespace kvasir::server
