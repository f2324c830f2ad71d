#ifndef KVASIR_SERVER_RPC_STATUS_MAPPING_H_
#define KVASIR_SERVER_RPC_STATUS_MAPPING_H_

// THE table of outcomes for gRPC clients: how each engine outcome (a
// Submit refusal or a finish reason, both said by the engine) ends the
// call, and the conversion of absl::Status to grpc::Status. The README's
// table of outcomes is this file in prose; keep them together.

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "grpcpp/support/status.h"

namespace kvasir::server {

// A Submit error as the client sees it. By its engine::Refusal:
// kInvalidRequest INVALID_ARGUMENT (the caller renames the field first),
// kUnknownTenant UNAUTHENTICATED (the key authenticated a moment ago, but a
// reload removed its tenant), kNeverFits / kTenantQueueFull / kQueueFull
// RESOURCE_EXHAUSTED, kShuttingDown UNAVAILABLE. Anything else keeps its
// code.
absl::Status RefusalStatus(const absl::Status& submit_error);

// How a finished request's call ends: OK for length, EOS and stop;
// CANCELLED (kCancelled: the client cancelled or went away, or its gRPC
// deadline passed; kTenantRemoved: a reload removed its tenant);
// DEADLINE_EXCEEDED (kDeadline); UNAVAILABLE (kDrainTimeout: the server is
// shutting down, the client may retry on another replica; the message names
// `drain_timeout`); the engine's error (kError).
absl::Status FinishStatus(const engine::FinishInfo& info,
                          absl::Duration drain_timeout);

// Same code (the two enums share their numbering), same message. Codes
// gRPC does not know become UNKNOWN with the original code named in the
// message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_STATUS_MAPPING_H_
