#ifndef KVASIR_SERVER_RPC_CALL_CONTEXT_H_
#define KVASIR_SERVER_RPC_CALL_CONTEXT_H_

// Reading what a call brings (auth metadata, deadline). Included only by
// the service implementations (it pulls in gRPC).

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/server_context.h"

namespace kvasir::server {

// The `authorization` metadata value, or nullopt when absent;
// UNAUTHENTICATED when the call carries it more than once
// (SingleAuthorization).
absl::StatusOr<std::optional<absl::string_view>> AuthorizationOf(
    const grpc::CallbackServerContext* context);

// The call's deadline on `clock`'s time line (the time left, added to
// clock->Now()), or InfiniteFuture when the call has none.
absl::Time DeadlineOf(const grpc::CallbackServerContext* context, Clock* clock);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_CALL_CONTEXT_H_
