#include "server/rpc/call_context.h"

#include <chrono>

#include "absl/container/inlined_vector.h"
#include "server/auth.h"

namespace kvasir::server {

absl::StatusOr<std::optional<absl::string_view>> AuthorizationOf(
    const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  const auto [begin, end] = metadata.equal_range("authorization");
  absl::InlinedVector<absl::string_view, 1> values;
  for (auto it = begin; it != end; ++it) {
    values.emplace_back(it->second.data(), it->second.size());
  }
  return SingleAuthorization(values, "authorization");
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
