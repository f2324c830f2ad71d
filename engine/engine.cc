#include "engine/engine.h"

#include <utility>

#include "absl/strings/cord.h"
#include "engine/engine_impl.h"

namespace kvasir::engine {

absl::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kDeadline:
      return "deadline";
    case FinishReason::kDrainTimeout:
      return "drain_timeout";
    case FinishReason::kTenantRemoved:
      return "tenant_removed";
    case FinishReason::kError:
      return "error";
  }
  return "?";
}

namespace {

constexpr absl::string_view kRefusalPayload = "type.kvasir.dev/refusal";
constexpr Refusal kRefusals[] = {
    Refusal::kInvalidRequest,  Refusal::kPromptTooLong,
    Refusal::kUnknownTenant,   Refusal::kNeverFits,
    Refusal::kTenantQueueFull, Refusal::kQueueFull,
    Refusal::kShuttingDown,
};

}  // namespace

absl::string_view RefusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::kInvalidRequest:
      return "invalid_request";
    case Refusal::kPromptTooLong:
      return "prompt_too_long";
    case Refusal::kUnknownTenant:
      return "unknown_tenant";
    case Refusal::kNeverFits:
      return "never_fits";
    case Refusal::kTenantQueueFull:
      return "tenant_queue_full";
    case Refusal::kQueueFull:
      return "queue_full";
    case Refusal::kShuttingDown:
      return "shutting_down";
  }
  return "?";
}

absl::Status WithRefusal(absl::Status status, Refusal refusal) {
  status.SetPayload(kRefusalPayload, absl::Cord(RefusalName(refusal)));
  return status;
}

std::optional<Refusal> RefusalOf(const absl::Status& status) {
  if (const auto name = status.GetPayload(kRefusalPayload); name.has_value()) {
    for (Refusal r : kRefusals) {
      if (*name == RefusalName(r)) return r;
    }
  }
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    return Refusal::kInvalidRequest;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const Options& options, std::unique_ptr<ModelRunner> runner,
    std::vector<TenantConfig> tenants) {
  return EngineImpl::Create(options, std::move(runner), std::move(tenants));
}

}  // namespace kvasir::engine
