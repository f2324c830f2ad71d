#include "engine/engine.h"

#include <utility>

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
    case FinishReason::kError:
      return "error";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const Options& options, std::unique_ptr<ModelRunner> runner,
    std::vector<TenantConfig> tenants) {
  return EngineImpl::Create(options, std::move(runner), std::move(tenants));
}

}  // namespace kvasir::engine
