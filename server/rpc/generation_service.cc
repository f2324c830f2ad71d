#include "server/rpc/generation_service.h"

#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "common/status_macros.h"
#include "engine/request_validation.h"
#include "server/rpc/call_context.h"
#include "server/rpc/generate_calls.h"
#include "server/rpc/parsed_request.h"
#include "server/rpc/request_convert.h"
#include "server/rpc/response_convert.h"
#include "server/rpc/status_mapping.h"

namespace kvasir::server {
namespace {

// Checks the gate and the caller for the small unary calls.
absl::StatusOr<engine::Engine*> AdmitSmallCall(
    ServiceEnv* env, const grpc::CallbackServerContext* context) {
  ASSIGN_OR_RETURN(engine::Engine * engine, env->AdmitEngine());
  ASSIGN_OR_RETURN(const std::optional<absl::string_view> authorization,
                   AuthorizationOf(context));
  RETURN_IF_ERROR(
      env->auth()->table()->AuthenticateTenant(authorization).status());
  return engine;
}

absl::Status DoTokenize(ServiceEnv* env,
                        const grpc::CallbackServerContext* context,
                        const v1::TokenizeRequest& request,
                        v1::TokenizeResponse* response) {
  ASSIGN_OR_RETURN(engine::Engine * engine, AdmitSmallCall(env, context));
  const engine::Tokenizer& tokenizer = engine->tokenizer();
  const engine::EncodeOptions options = {
      .add_special = request.has_add_bos() ? request.add_bos() : true,
      .parse_special = request.has_parse_special() && request.parse_special()};
  absl::StatusOr<std::vector<int32_t>> encoded = engine::EncodeText(
      request.text(), options, tokenizer, engine->request_limits());
  if (!encoded.ok()) return RenameField(encoded.status(), "text");
  const std::vector<int32_t>& ids = *encoded;
  response->mutable_token_ids()->Add(ids.begin(), ids.end());
  response->set_token_count(static_cast<int32_t>(ids.size()));
  if (request.return_pieces()) {
    for (int32_t id : ids) {
      absl::string_view piece = tokenizer.Piece(id);
      response->add_pieces(piece.data(), piece.size());
    }
  }
  return absl::OkStatus();
}

}  // namespace

// The method indexes are the order of the rpcs in generation.proto (what
// the generated WithCallbackMethod_* classes use).
GenerationService::GenerationService(ServiceEnv* env) : env_(env) {
  MarkMethodCallback(
      0, ParsingUnaryHandler<v1::GenerateRequest, v1::GenerateResponse>(
             "kvasir.v1.Generation/Generate",
             [this](grpc::CallbackServerContext* c,
                    const v1::GenerateRequest* r, v1::GenerateResponse* out) {
               return HandleGenerate(c, r, out);
             }));
  MarkMethodCallback(
      1,
      ParsingStreamHandler<v1::GenerateRequest, v1::GenerateResponse>(
          "kvasir.v1.Generation/GenerateStream",
          [this](grpc::CallbackServerContext* c, const v1::GenerateRequest* r) {
            return HandleGenerateStream(c, r);
          }));
  MarkMethodCallback(
      2, ParsingUnaryHandler<v1::TokenizeRequest, v1::TokenizeResponse>(
             "kvasir.v1.Generation/Tokenize",
             [this](grpc::CallbackServerContext* c,
                    const v1::TokenizeRequest* r, v1::TokenizeResponse* out) {
               return HandleTokenize(c, r, out);
             }));
  MarkMethodCallback(
      3, ParsingUnaryHandler<v1::ModelInfoRequest, v1::ModelInfoResponse>(
             "kvasir.v1.Generation/ModelInfo",
             [this](grpc::CallbackServerContext* c,
                    const v1::ModelInfoRequest* r, v1::ModelInfoResponse* out) {
               return HandleModelInfo(c, r, out);
             }));
}

grpc::ServerUnaryReactor* GenerationService::HandleGenerate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request,
    v1::GenerateResponse* response) {
  auto* call = new UnaryGenerateCall(env_, context, request, response);
  call->Start();
  return call;
}

grpc::ServerWriteReactor<v1::GenerateResponse>*
GenerationService::HandleGenerateStream(grpc::CallbackServerContext* context,
                                        const v1::GenerateRequest* request) {
  auto* call = new StreamGenerateCall(env_, context, request);
  call->Start();
  return call;
}

grpc::ServerUnaryReactor* GenerationService::HandleTokenize(
    grpc::CallbackServerContext* context, const v1::TokenizeRequest* request,
    v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(DoTokenize(env_, context, *request, response)));
  return reactor;
}

grpc::ServerUnaryReactor* GenerationService::HandleModelInfo(
    grpc::CallbackServerContext* context, const v1::ModelInfoRequest*,
    v1::ModelInfoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<engine::Engine*> engine = AdmitSmallCall(env_, context);
  if (engine.ok()) FillModelInfo(**engine, response);
  reactor->Finish(ToGrpcStatus(engine.status()));
  return reactor;
}

}  // namespace kvasir::server
