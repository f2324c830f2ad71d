#ifndef KVASIR_SERVER_RESPONSE_CONVERT_H_
#define KVASIR_SERVER_RESPONSE_CONVERT_H_

// Engine output -> Generation protos, and how a finished request ends its
// RPC.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/engine.h"

namespace kvasir::v1 {
class GenerateResponse;
class ModelInfoResponse;
class ResponseOptions;
}  // namespace kvasir::v1

namespace kvasir::server {

// Who cancelled a request the engine finished with kCancelled. The engine
// does not say; the server knows what it did itself.
enum class CancelCause {
  kClient,         // the call was cancelled: the client cancelled or went away,
                   // or its gRPC deadline passed
  kShutdown,       // the server is shutting down and its drain timeout ran out
  kTenantRemoved,  // neither: the engine dropped the request because a
                   // config reload removed its tenant
};

// How a finished request's RPC ends: OK for length, EOS and stop;
// DEADLINE_EXCEEDED; the engine's error; and for kCancelled by `cause`:
// CANCELLED (kClient, kTenantRemoved) or UNAVAILABLE (kShutdown: the client
// may retry on another replica; the message names `drain_timeout`).
absl::Status FinishStatus(const engine::FinishInfo& info, CancelCause cause,
                          absl::Duration drain_timeout);

// Appends the tokens' ids (when options.token_ids) and logprobs (when
// options.logprobs or top_logprobs) to `response`; text is the caller's.
void AppendTokens(absl::Span<const engine::GeneratedToken> tokens,
                  const v1::ResponseOptions& options,
                  const engine::Tokenizer& tokenizer,
                  v1::GenerateResponse* response);

// Sets finish_reason and usage (counts, times) from a successful finish.
void SetFinished(const engine::FinishInfo& info,
                 v1::GenerateResponse* response);

void FillModelInfo(const engine::Engine& engine,
                   v1::ModelInfoResponse* response);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RESPONSE_CONVERT_H_
