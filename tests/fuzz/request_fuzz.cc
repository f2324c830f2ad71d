// gRPC request conversion: bytes -> GenerateRequest (protobuf parse) ->
// ToEngineRequest (text encoded, token ids taken, messages rendered by a
// ChatML template) -> engine::ValidateRequest, as GenerationService and
// Engine::Submit do. Every refusal must be InvalidArgument; a request the
// engine accepts must meet the rules Submit relies on.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/model/model.h"
#include "engine/request_validation.h"
#include "kvasir/v1/generation.pb.h"
#include "server/rpc/request_convert.h"
#include "tests/fuzz/fuzz_util.h"

namespace kvasir::fuzz {
namespace {

void CheckRefusal(const absl::Status& status, absl::string_view stage) {
  Check(status.code() == absl::StatusCode::kInvalidArgument,
        absl::StrCat(stage, ": not InvalidArgument: ", status.ToString()));
}

}  // namespace
}  // namespace kvasir::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  const engine::Tokenizer& tok = fuzz::FuzzSpmTokenizer(true);
  engine::ModelConfig model;
  model.vocab_size = tok.vocab_size();
  model.context_length = 64;
  engine::RequestLimits limits;
  limits.max_prompt_text_bytes = 4096;

  auto converted = server::ToEngineRequest(
      request, tok, &fuzz::FuzzChatTemplate(), limits, "fuzz");
  if (!converted.ok()) {
    fuzz::CheckRefusal(converted.status(), "ToEngineRequest");
    return 0;
  }
  engine::Request& r = *converted;
  const absl::Status valid = engine::ValidateRequest(model, limits, r);
  if (!valid.ok()) {
    fuzz::CheckRefusal(valid, "ValidateRequest");
    fuzz::CheckRefusal(server::ToGenerateRequestField(valid, request),
                       "ToGenerateRequestField");
    return 0;
  }
  fuzz::Check(!r.prompt.empty(), "accepted an empty prompt");
  for (int32_t id : r.prompt) {
    fuzz::Check(id >= 0 && id < model.vocab_size,
                "accepted an id out of range");
  }
  fuzz::Check(
      r.stopping.max_new_tokens.has_value() &&
          *r.stopping.max_new_tokens >= 1 &&
          static_cast<int64_t>(r.prompt.size()) + *r.stopping.max_new_tokens <=
              model.context_length,
      "accepted a request that does not fit the context");
  fuzz::Check(r.top_logprobs >= 0 && r.top_logprobs <= limits.max_top_logprobs,
              "accepted top_logprobs out of range");
  fuzz::Check(
      static_cast<int32_t>(r.stopping.stop.size()) <= limits.max_stop_sequences,
      "accepted too many stop sequences");
  return 0;
}
