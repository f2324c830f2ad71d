#include "engine/sched/admission_control.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"

namespace kvasir::engine::sched {

void AdmissionControl::SetTenants(std::vector<TenantLimits> tenants) {
  absl::MutexLock lock(&mu_);
  for (auto& [name, entry] : tenants_) entry.configured = false;
  for (TenantLimits& t : tenants) {
    Entry& e = tenants_[t.name];
    e.configured = true;
    e.max_queued = t.max_queued;
    e.max_kv_tokens = t.max_kv_tokens;
    e.limit_bytes = t.limit_bytes;
  }
  // Forget removed tenants with nothing queued (the map stays small).
  absl::erase_if(tenants_, [](const auto& kv) {
    return !kv.second.configured && kv.second.queued == 0;
  });
}

absl::Status AdmissionControl::TryEnqueue(absl::string_view tenant,
                                          int64_t kv_tokens) {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end() || !it->second.configured) {
    return WithRefusal(
        absl::NotFoundError(absl::StrCat("unknown tenant '", tenant, "'")),
        Refusal::kUnknownTenant);
  }
  Entry& e = it->second;
  if (kv_tokens > e.max_kv_tokens) {
    return WithRefusal(
        absl::ResourceExhaustedError(absl::StrCat(
            "the request needs ", kv_tokens,
            " tokens of KV cache (prompt + max_new_tokens - 1) but tenant '",
            tenant, "' can hold at most ", e.max_kv_tokens,
            " tokens in one sequence (KV limit ", e.limit_bytes,
            " bytes, less the other tenants' reserved floors); it could never "
            "run")),
        Refusal::kNeverFits);
  }
  if (e.max_queued > 0 && e.queued >= e.max_queued) {
    return WithRefusal(absl::ResourceExhaustedError(absl::StrCat(
                           "tenant '", tenant, "' queue is full: ", e.queued,
                           " requests waiting, max_queued ", e.max_queued)),
                       Refusal::kTenantQueueFull);
  }
  if (queued_total_ >= max_queued_) {
    return WithRefusal(absl::ResourceExhaustedError(absl::StrCat(
                           "the engine's global queue is full: ", queued_total_,
                           " requests waiting, max_queued ", max_queued_)),
                       Refusal::kQueueFull);
  }
  ++e.queued;
  ++queued_total_;
  return absl::OkStatus();
}

void AdmissionControl::Dequeued(absl::string_view tenant) {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it != tenants_.end() && it->second.queued > 0) --it->second.queued;
  if (queued_total_ > 0) --queued_total_;
}

void AdmissionControl::Requeued(absl::string_view tenant) {
  absl::MutexLock lock(&mu_);
  ++tenants_[tenant].queued;
  ++queued_total_;
}

int32_t AdmissionControl::queued(absl::string_view tenant) const {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 0 : it->second.queued;
}

int64_t AdmissionControl::max_kv_tokens(absl::string_view tenant) const {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() || !it->second.configured
             ? 0
             : it->second.max_kv_tokens;
}

int32_t AdmissionControl::queued_total() const {
  absl::MutexLock lock(&mu_);
  return queued_total_;
}

}  // namespace kvasir::engine::sched
