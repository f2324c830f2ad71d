#include "engine/sched/usage_meter.h"

#include <algorithm>
#include <utility>

namespace kvasir::engine::sched {
namespace {

bool AnyUsage(const TenantUsage& u) {
  for (int64_t n : u.finished) {
    if (n != 0) return true;
  }
  for (int64_t n : u.refused) {
    if (n != 0) return true;
  }
  return u.prompt_tokens != 0 || u.cached_prompt_tokens != 0 ||
         u.generated_tokens != 0 || u.kv_byte_seconds != 0;
}

void AddFinished(const FinishInfo& info, TenantUsage* u) {
  ++u->finished[static_cast<size_t>(info.reason)];
  if (info.started) {
    u->prompt_tokens += info.prompt_tokens;
    u->cached_prompt_tokens += info.cached_prompt_tokens;
  }
  u->generated_tokens += info.generated_tokens;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UsageMeter>> UsageMeter::Create(
    const Options& options) {
  if (options.clock == nullptr) {
    return absl::InvalidArgumentError("usage meter: the clock is required");
  }
  return std::unique_ptr<UsageMeter>(new UsageMeter(options));
}

UsageMeter::UsageMeter(const Options& options)
    : clock_(options.clock),
      start_(options.clock->Now()),
      last_accrual_(start_),
      reset_time_(start_) {}

void UsageMeter::SetTenants(absl::Span<const std::string> names) {
  absl::MutexLock lock(&mu_);
  for (Record& r : records_) {
    r.since_start.configured = false;
    r.since_reset.configured = false;
  }
  for (const std::string& name : names) {
    auto [it, inserted] =
        slots_.try_emplace(name, static_cast<int32_t>(records_.size()));
    if (inserted) {
      records_.emplace_back();
      records_.back().since_start.name = name;
      records_.back().since_reset.name = name;
    }
    Record& r = records_[static_cast<size_t>(it->second)];
    r.since_start.configured = true;
    r.since_reset.configured = true;
  }
}

int32_t UsageMeter::Slot(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = slots_.find(name);
  return it == slots_.end() ? -1 : it->second;
}

UsageMeter::Record* UsageMeter::Find(absl::string_view name) {
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr
                            : &records_[static_cast<size_t>(it->second)];
}

void UsageMeter::RecordFinished(absl::string_view tenant,
                                const FinishInfo& info) {
  absl::MutexLock lock(&mu_);
  Record* r = Find(tenant);
  if (r == nullptr) return;
  AddFinished(info, &r->since_start);
  AddFinished(info, &r->since_reset);
}

void UsageMeter::RecordRefusal(absl::string_view tenant, Refusal refusal) {
  if (refusal == Refusal::kUnknownTenant) return;
  absl::MutexLock lock(&mu_);
  Record* r = Find(tenant);
  if (r == nullptr) return;
  ++r->since_start.refused[static_cast<size_t>(refusal)];
  ++r->since_reset.refused[static_cast<size_t>(refusal)];
}

void UsageMeter::ChargeKvLocked(absl::Time now) {
  // A clock set back (FakeClock::Set) charges nothing rather than a
  // negative amount.
  const double seconds =
      std::max(0.0, absl::ToDoubleSeconds(now - last_accrual_));
  if (now > last_accrual_) last_accrual_ = now;
  if (seconds == 0) return;
  for (Record& r : records_) {
    if (r.held_bytes == 0) continue;
    const double byte_seconds = static_cast<double>(r.held_bytes) * seconds;
    r.since_start.kv_byte_seconds += byte_seconds;
    r.since_reset.kv_byte_seconds += byte_seconds;
  }
}

void UsageMeter::AccrueKv(absl::Span<const KvHeld> held) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ChargeKvLocked(now);
  for (Record& r : records_) r.held_bytes = 0;
  for (const KvHeld& h : held) {
    if (h.slot < 0 || static_cast<size_t>(h.slot) >= records_.size()) continue;
    records_[static_cast<size_t>(h.slot)].held_bytes =
        std::max<int64_t>(0, h.bytes);
  }
}

UsageReport UsageMeter::Report(bool reset) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ChargeKvLocked(now);
  UsageReport report;
  report.since = reset_time_;
  for (Record& r : records_) {
    if (r.since_reset.configured || AnyUsage(r.since_reset)) {
      report.tenants.push_back(r.since_reset);
    }
    if (reset) {
      TenantUsage zero;
      zero.name = std::move(r.since_reset.name);
      zero.configured = r.since_reset.configured;
      r.since_reset = std::move(zero);
    }
  }
  if (reset) reset_time_ = std::max(now, reset_time_);
  return report;
}

UsageReport UsageMeter::ReportSinceStart() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ChargeKvLocked(now);
  UsageReport report;
  report.since = start_;
  report.tenants.reserve(records_.size());
  for (const Record& r : records_) report.tenants.push_back(r.since_start);
  return report;
}

}  // namespace kvasir::engine::sched
