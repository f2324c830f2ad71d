#include "server/metrics.h"

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/fmt_absl.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

using prometheus::ClientMetric;
using prometheus::Counter;
using prometheus::Histogram;
using prometheus::MetricFamily;
using prometheus::MetricType;

const Histogram::BucketBoundaries& TtftBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *b;
}
const Histogram::BucketBoundaries& TokenBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  return *b;
}
const Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  return *b;
}

// Builds one family of scrape-time values.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help, MetricType type) {
    family_.name = std::move(name);
    family_.help = std::move(help);
    family_.type = type;
  }
  FamilyBuilder& Add(double value,
                     std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (family_.type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    family_.metric.push_back(std::move(m));
    return *this;
  }
  MetricFamily Build() { return std::move(family_); }

 private:
  MetricFamily family_;
};

void AddEngineFamilies(const engine::EngineStats& s,
                       std::vector<MetricFamily>* out) {
  auto gauge = [](std::string name, std::string help) {
    return FamilyBuilder(std::move(name), std::move(help), MetricType::Gauge);
  };
  auto counter = [](std::string name, std::string help) {
    return FamilyBuilder(std::move(name), std::move(help), MetricType::Counter);
  };
  out->push_back(gauge("kvasir_queue_depth", "Requests waiting, all tenants")
                     .Add(s.queued)
                     .Build());
  out->push_back(
      gauge("kvasir_running_requests", "Requests running, all tenants")
          .Add(s.running)
          .Build());
  out->push_back(gauge("kvasir_kv_blocks", "KV-cache blocks by state")
                     .Add(s.kv.total_blocks, {{"state", "total"}})
                     .Add(s.kv.free_blocks, {{"state", "free"}})
                     .Add(s.kv.cached_blocks, {{"state", "cached"}})
                     .Build());
  out->push_back(gauge("kvasir_kv_block_bytes", "Bytes per KV-cache block")
                     .Add(s.kv.block_bytes)
                     .Build());
  out->push_back(gauge("kvasir_prefix_cache_hit_rate",
                       "Prompt tokens found in the prefix cache / looked up")
                     .Add(s.kv.prefix_hit_rate)
                     .Build());
  out->push_back(counter("kvasir_engine_steps_total", "Engine steps run")
                     .Add(s.steps)
                     .Build());
  out->push_back(counter("kvasir_preemptions_total",
                         "Requests preempted (KV blocks freed, recomputed)")
                     .Add(s.preemptions)
                     .Build());
  FamilyBuilder queued = gauge("kvasir_tenant_queued", "Requests waiting");
  FamilyBuilder running = gauge("kvasir_tenant_running", "Requests running");
  FamilyBuilder used =
      gauge("kvasir_tenant_kv_blocks_used", "KV blocks the tenant holds");
  FamilyBuilder reserved = gauge("kvasir_tenant_kv_blocks_reserved",
                                 "The tenant's KV floor in blocks");
  FamilyBuilder limit = gauge("kvasir_tenant_kv_blocks_limit",
                              "The tenant's KV ceiling in blocks");
  FamilyBuilder over = gauge("kvasir_tenant_over_limit",
                             "1 while the tenant holds more than its limit");
  FamilyBuilder preempted = counter("kvasir_tenant_preemptions_total",
                                    "The tenant's requests preempted");
  // Counted by the engine, so that GetStats reports the same numbers
  // (one source each; see TenantSchedStats).
  FamilyBuilder cached =
      counter("kvasir_cached_prompt_tokens_total",
              "Prompt tokens served from the prefix cache, once per request "
              "(at its first admission)");
  FamilyBuilder cached_bytes =
      gauge("kvasir_tenant_kv_cached_bytes",
            "Bytes of the tenant's prefix-cache blocks no request references "
            "(reclaimable; over-share tenants' first)");
  FamilyBuilder generated =
      counter("kvasir_generated_tokens_total", "Tokens generated (sampled)");
  for (const engine::TenantStats& t : s.tenants) {
    std::vector<ClientMetric::Label> l = {{"tenant", t.name}};
    queued.Add(t.queued, l);
    running.Add(t.sched.running, l);
    used.Add(static_cast<double>(t.kv.used_blocks), l);
    reserved.Add(static_cast<double>(t.kv.reserved_blocks), l);
    limit.Add(static_cast<double>(t.kv.limit_blocks), l);
    over.Add(t.kv.over_limit() ? 1 : 0, l);
    preempted.Add(static_cast<double>(t.sched.preemptions), l);
    cached.Add(static_cast<double>(t.sched.cached_prompt_tokens), l);
    cached_bytes.Add(static_cast<double>(t.kv.cached_bytes), l);
    generated.Add(static_cast<double>(t.sched.generated_tokens), l);
  }
  for (FamilyBuilder* f : {&queued, &running, &used, &reserved, &limit, &over,
                           &preempted, &cached, &cached_bytes, &generated}) {
    out->push_back(f->Build());
  }
}

// Admin.GetUsage's numbers as counters. GetUsage can be reset, counters
// must never go backwards (Prometheus would read a reset as a restart and
// rate() would jump), so these are the since-start values the usage meter
// keeps beside its since-reset ones; a GetUsage reset does not touch them.
void AddUsageFamilies(const engine::UsageReport& usage,
                      std::vector<MetricFamily>* out) {
  auto counter = [](std::string name, std::string help) {
    return FamilyBuilder(std::move(name), std::move(help), MetricType::Counter);
  };
  FamilyBuilder requests = counter("kvasir_usage_requests_total",
                                   "Finished requests by finish reason");
  FamilyBuilder refused = counter("kvasir_usage_refused_total",
                                  "Requests the engine refused, by reason");
  FamilyBuilder prompt = counter("kvasir_usage_prompt_tokens_total",
                                 "Prompt tokens of finished requests");
  FamilyBuilder cached =
      counter("kvasir_usage_cached_prompt_tokens_total",
              "Prompt tokens of finished requests served from the prefix "
              "cache");
  FamilyBuilder generated = counter("kvasir_usage_generated_tokens_total",
                                    "Tokens finished requests generated");
  FamilyBuilder kv = counter(
      "kvasir_usage_kv_byte_seconds_total",
      "KV bytes the tenant's running sequences held, integrated over time");
  for (const engine::TenantUsage& t : usage.tenants) {
    for (int i = 0; i < engine::kNumFinishReasons; ++i) {
      // Labels in name order, as the registry's own families print them.
      requests.Add(
          static_cast<double>(t.finished[i]),
          {{"finish_reason", std::string(engine::FinishReasonName(
                                 static_cast<engine::FinishReason>(i)))},
           {"tenant", t.name}});
    }
    for (int i = 0; i < engine::kNumRefusals; ++i) {
      const auto refusal = static_cast<engine::Refusal>(i);
      if (refusal == engine::Refusal::kUnknownTenant) continue;
      refused.Add(static_cast<double>(t.refused[i]),
                  {{"reason", std::string(engine::RefusalName(refusal))},
                   {"tenant", t.name}});
    }
    const std::vector<ClientMetric::Label> l = {{"tenant", t.name}};
    prompt.Add(static_cast<double>(t.prompt_tokens), l);
    cached.Add(static_cast<double>(t.cached_prompt_tokens), l);
    generated.Add(static_cast<double>(t.generated_tokens), l);
    kv.Add(t.kv_byte_seconds, l);
  }
  for (FamilyBuilder* f :
       {&requests, &refused, &prompt, &cached, &generated, &kv}) {
    out->push_back(f->Build());
  }
}

}  // namespace

struct Metrics::Impl {
  // Members are built in declaration order: the registry first, then the
  // families registered in it.
  Impl()
      : requests(prometheus::BuildCounter()
                     .Name("kvasir_requests_total")
                     .Help("Requests the engine ran, by tenant and finish "
                           "reason")
                     .Register(registry)),
        rejected(prometheus::BuildCounter()
                     .Name("kvasir_requests_rejected_total")
                     .Help("Requests refused before running, by tenant and "
                           "gRPC status code")
                     .Register(registry)),
        prompt_tokens(prometheus::BuildCounter()
                          .Name("kvasir_prompt_tokens_total")
                          .Help("Prompt tokens of finished requests")
                          .Register(registry)),
        reloads(prometheus::BuildCounter()
                    .Name("kvasir_config_reloads_total")
                    .Help("Config reloads by result (ok, error)")
                    .Register(registry)),
        ttft(prometheus::BuildHistogram()
                 .Name("kvasir_time_to_first_token_seconds")
                 .Help("Time from accepting a request to its first token")
                 .Register(registry)),
        tpot(prometheus::BuildHistogram()
                 .Name("kvasir_time_per_output_token_seconds")
                 .Help("Mean time between a request's generated tokens")
                 .Register(registry)),
        duration(prometheus::BuildHistogram()
                     .Name("kvasir_request_duration_seconds")
                     .Help("Time from accepting a request to its end")
                     .Register(registry)),
        queue_time(prometheus::BuildHistogram()
                       .Name("kvasir_queue_time_seconds")
                       .Help("Time a request waited before its first step")
                       .Register(registry)) {}

  prometheus::Registry registry;
  prometheus::Family<Counter>& requests;
  prometheus::Family<Counter>& rejected;
  prometheus::Family<Counter>& prompt_tokens;
  prometheus::Family<Counter>& reloads;
  prometheus::Family<Histogram>& ttft;
  prometheus::Family<Histogram>& tpot;
  prometheus::Family<Histogram>& duration;
  prometheus::Family<Histogram>& queue_time;
};

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create() {
  // prometheus-cpp reports bad names, labels or buckets by throwing.
  try {
    return std::unique_ptr<Metrics>(new Metrics(std::make_unique<Impl>()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot create the metrics registry: ", e.what()));
  }
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Metrics::~Metrics() = default;

void Metrics::RecordFinished(absl::string_view tenant,
                             const engine::FinishInfo& info) {
  const std::string t(tenant);
  try {
    impl_->requests
        .Add({{"tenant", t},
              {"finish_reason",
               std::string(engine::FinishReasonName(info.reason))}})
        .Increment();
    impl_->prompt_tokens.Add({{"tenant", t}}).Increment(info.prompt_tokens);
    impl_->duration.Add({{"tenant", t}}, DurationBuckets())
        .Observe(absl::ToDoubleSeconds(info.total_time));
    impl_->queue_time.Add({{"tenant", t}}, DurationBuckets())
        .Observe(absl::ToDoubleSeconds(info.queue_time));
    if (info.generated_tokens > 0) {
      impl_->ttft.Add({{"tenant", t}}, TtftBuckets())
          .Observe(absl::ToDoubleSeconds(info.time_to_first_token));
    }
    if (info.generated_tokens > 1) {
      const absl::Duration decode = info.total_time - info.time_to_first_token;
      impl_->tpot.Add({{"tenant", t}}, TokenBuckets())
          .Observe(absl::ToDoubleSeconds(decode) / (info.generated_tokens - 1));
    }
  } catch (const std::exception& e) {
    spdlog::warn("metrics: cannot record a finished request: {}", e.what());
  }
}

void Metrics::RecordRejected(absl::string_view tenant, absl::StatusCode code) {
  try {
    impl_->rejected
        .Add({{"tenant", std::string(tenant)},
              {"code", absl::StatusCodeToString(code)}})
        .Increment();
  } catch (const std::exception& e) {
    spdlog::warn("metrics: cannot record a rejected request: {}", e.what());
  }
}

void Metrics::RecordReload(bool ok) {
  try {
    impl_->reloads.Add({{"result", ok ? "ok" : "error"}}).Increment();
  } catch (const std::exception& e) {
    spdlog::warn("metrics: cannot record a reload: {}", e.what());
  }
}

std::string Metrics::Render(const engine::EngineStats* stats, bool ready,
                            bool draining,
                            const engine::UsageReport* usage) const {
  try {
    std::vector<MetricFamily> families = impl_->registry.Collect();
    families.push_back(
        FamilyBuilder("kvasir_ready",
                      "1 when the model is loaded and the server is not "
                      "draining",
                      MetricType::Gauge)
            .Add(ready && !draining ? 1 : 0)
            .Build());
    families.push_back(FamilyBuilder("kvasir_draining",
                                     "1 while shutting down (SIGTERM)",
                                     MetricType::Gauge)
                           .Add(draining ? 1 : 0)
                           .Build());
    if (stats != nullptr) AddEngineFamilies(*stats, &families);
    if (usage != nullptr) AddUsageFamilies(*usage, &families);
    return prometheus::TextSerializer().Serialize(families);
  } catch (const std::exception& e) {
    spdlog::warn("metrics: cannot render: {}", e.what());
    return absl::StrCat("# kvasir: metrics unavailable: ", e.what(), "\n");
  }
}

}  // namespace kvasir::server
