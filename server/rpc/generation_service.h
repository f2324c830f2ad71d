#ifndef KVASIR_SERVER_RPC_GENERATION_SERVICE_H_
#define KVASIR_SERVER_RPC_GENERATION_SERVICE_H_

#include "kvasir/v1/generation.grpc.pb.h"
#include "server/service_env.h"

namespace kvasir::server {

// kvasir.v1.Generation on the gRPC callback API. Handlers return at once;
// see generate_calls.h for how output flows back. The methods parse their
// requests themselves (parsed_request.h): a request that cannot be parsed
// ends with INVALID_ARGUMENT naming the method. `env` is not owned and
// outlives the service.
class GenerationService final : public v1::Generation::Service {
 public:
  explicit GenerationService(ServiceEnv* env);

  // Handle*: the methods' bodies, which the constructor registers (named
  // so they do not hide the generated synchronous Service's virtuals).
  grpc::ServerUnaryReactor* HandleGenerate(grpc::CallbackServerContext* context,
                                           const v1::GenerateRequest* request,
                                           v1::GenerateResponse* response);
  grpc::ServerWriteReactor<v1::GenerateResponse>* HandleGenerateStream(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request);
  grpc::ServerUnaryReactor* HandleTokenize(grpc::CallbackServerContext* context,
                                           const v1::TokenizeRequest* request,
                                           v1::TokenizeResponse* response);
  grpc::ServerUnaryReactor* HandleModelInfo(
      grpc::CallbackServerContext* context, const v1::ModelInfoRequest* request,
      v1::ModelInfoResponse* response);

 private:
  ServiceEnv* const env_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_GENERATION_SERVICE_H_
