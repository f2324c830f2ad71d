#ifndef KVASIR_SERVER_RPC_RESPONSE_CONVERT_H_
#define KVASIR_SERVER_RPC_RESPONSE_CONVERT_H_

// Engine output -> Generation protos. How a finished request ends its RPC
// is status_mapping.h's.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/engine.h"

namespace kvasir::v1 {
class GenerateResponse;
class ModelInfoResponse;
class ResponseOptions;
}  // namespace kvasir::v1

namespace kvasir::server {

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

#endif  // KVASIR_SERVER_RPC_RESPONSE_CONVERT_H_
