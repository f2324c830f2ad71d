#ifndef KVASIR_SERVER_METRICS_H_
#define KVASIR_SERVER_METRICS_H_

// Prometheus metrics (prometheus-cpp core: registry + text serializer).
//
// Counted as requests finish (labels: tenant, finish_reason / code):
//   kvasir_requests_total, kvasir_requests_rejected_total,
//   kvasir_prompt_tokens_total, kvasir_config_reloads_total{result}
//   kvasir_time_to_first_token_seconds, kvasir_time_per_output_token_seconds,
//   kvasir_request_duration_seconds, kvasir_queue_time_seconds (histograms)
// Taken from engine->Stats() at every scrape:
//   kvasir_ready, kvasir_draining, kvasir_queue_depth, kvasir_running_requests,
//   kvasir_kv_blocks{state=total|free|cached}, kvasir_kv_block_bytes,
//   kvasir_prefix_cache_hit_rate, kvasir_engine_steps_total,
//   kvasir_preemptions_total, and per tenant kvasir_tenant_queued,
//   kvasir_tenant_running, kvasir_tenant_kv_blocks_{used,reserved,limit},
//   kvasir_tenant_over_limit, kvasir_tenant_preemptions_total,
//   kvasir_cached_prompt_tokens_total, kvasir_tenant_kv_cached_bytes,
//   kvasir_generated_tokens_total.
// Taken from engine->UsageSinceStart() at every scrape (per tenant; the
// numbers of Admin.GetUsage, but since start: never reset):
//   kvasir_usage_requests_total{finish_reason},
//   kvasir_usage_refused_total{reason}, kvasir_usage_prompt_tokens_total,
//   kvasir_usage_cached_prompt_tokens_total,
//   kvasir_usage_generated_tokens_total, kvasir_usage_kv_byte_seconds_total.
// A number GetStats also reports is taken from the same engine counter, so
// the two agree exactly (a scrape and a GetStats with no step in between
// show the same values).

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/engine.h"

namespace kvasir::server {

// Thread-safe.
class Metrics {
 public:
  static absl::StatusOr<std::unique_ptr<Metrics>> Create();
  ~Metrics();

  // A request the engine ran, whatever its outcome.
  void RecordFinished(absl::string_view tenant, const engine::FinishInfo& info);
  // A request refused before it reached the engine (or by Submit). `tenant`
  // is "" when the caller was not authenticated.
  void RecordRejected(absl::string_view tenant, absl::StatusCode code);
  void RecordReload(bool ok);

  // Prometheus text exposition format 0.0.4. `stats` is nullptr while the
  // engine is not ready (its gauges are left out then); so is `usage`
  // (engine->UsageSinceStart(); nullptr leaves the usage counters out).
  std::string Render(const engine::EngineStats* stats, bool ready,
                     bool draining,
                     const engine::UsageReport* usage = nullptr) const;

 private:
  struct Impl;
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_METRICS_H_
