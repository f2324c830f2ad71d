#include "server/rpc/call_context.h"

#include <chrono>

namespace kvasir::server {

std::optional<absl::string_view> AuthorizationOf(
    const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

absl::Time DeadlineOf(const grpc::CallbackServerContext* context,
                      Clock* clock) {
  const auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  const absl::Duration left =
      absl::FromChrono(deadline - std::chrono::system_clock::now());
  return clock->Now() + left;
}

}  // namespace kvasir::server
