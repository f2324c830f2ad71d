#ifndef KVASIR_SERVER_RPC_STATUS_MAPPING_H_
#define KVASIR_SERVER_RPC_STATUS_MAPPING_H_

// THE table of outcomes for gRPC and HTTP clients: how each engine outcome
// (a Submit refusal or a finish reason, both said by the engine) ends the
// call, the conversion of absl::Status to grpc::Status, and the HTTP status
// of the same absl::Status for the OpenAI-compatible API (ToHttpError). Both
// front ends get the absl::Status from the same functions (RefusalStatus,
// FinishStatus), so a gRPC code and an HTTP status always tell the same
// outcome. The README's table of outcomes is this file in prose; keep them
// together.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
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

// An error as the OpenAI-compatible HTTP API reports it: the HTTP status
// and the `type` and `code` of OpenAI's error object.
struct HttpError {
  int status = 500;
  std::string type;  // "invalid_request_error", "rate_limit_error", ...
  std::string code;  // machine-readable detail, e.g. "tenant_queue_full"
};

// The HTTP side of the table, by code (and the engine's refusal where one
// code has several causes):
//   INVALID_ARGUMENT      400 invalid_request_error (the field is named);
//                         code context_length_exceeded when the refusal is
//                         kPromptTooLong (the prompt leaves no room in the
//                         context; 400 as OpenAI's and vLLM's)
//   FAILED_PRECONDITION   400 invalid_request_error (e.g. chat on a model
//                         without a chat template)
//   OUT_OF_RANGE          413 invalid_request_error (the body is over
//                         server.http_max_body_bytes: BodyTooLargeError)
//   UNAUTHENTICATED       401 authentication_error (missing or unknown key)
//   PERMISSION_DENIED     403 permission_error
//   NOT_FOUND             404 invalid_request_error (unknown model or path)
//   RESOURCE_EXHAUSTED    429 rate_limit_error (tenant or engine queue full,
//                         or the request can never fit the tenant's budget;
//                         code = the refusal: tenant_queue_full, queue_full,
//                         never_fits)
//   CANCELLED             499 (nginx's "client closed request": the client is
//                         gone, so only logs see it) request_cancelled
//   UNAVAILABLE           503 service_unavailable_error (draining, loading,
//                         or cancelled by the drain timeout)
//   DEADLINE_EXCEEDED     504 timeout_error
//   UNIMPLEMENTED         501; anything else 500 server_error.
HttpError ToHttpError(const absl::Status& status);

// OUT_OF_RANGE naming the cap: a request body of `size` bytes (-1: unknown,
// sent chunked) over server.http_max_body_bytes.
absl::Status BodyTooLargeError(int64_t size, int64_t max_bytes);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_STATUS_MAPPING_H_
