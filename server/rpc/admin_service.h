#ifndef KVASIR_SERVER_RPC_ADMIN_SERVICE_H_
#define KVASIR_SERVER_RPC_ADMIN_SERVICE_H_

#include "kvasir/v1/admin.grpc.pb.h"
#include "server/service_env.h"

namespace kvasir::server {

// kvasir.v1.Admin: GetStats, ReloadConfig and GetUsage, for the admin key
// only.
// ReloadConfig parses the file on the calling gRPC thread (never the engine
// thread). `env` is not owned and outlives the service.
// Requests are parsed by the service (parsed_request.h): one that cannot be
// parsed ends with INVALID_ARGUMENT naming the method.
class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(ServiceEnv* env);

  // Handle*: the methods' bodies, which the constructor registers (named
  // so they do not hide the generated synchronous Service's virtuals).
  grpc::ServerUnaryReactor* HandleGetStats(grpc::CallbackServerContext* context,
                                           const v1::GetStatsRequest* request,
                                           v1::GetStatsResponse* response);
  grpc::ServerUnaryReactor* HandleReloadConfig(
      grpc::CallbackServerContext* context,
      const v1::ReloadConfigRequest* request,
      v1::ReloadConfigResponse* response);
  grpc::ServerUnaryReactor* HandleGetUsage(grpc::CallbackServerContext* context,
                                           const v1::GetUsageRequest* request,
                                           v1::GetUsageResponse* response);

 private:
  ServiceEnv* const env_;
};

// The engine's stats as the Admin API reports them.
void FillStats(const engine::EngineStats& stats, v1::GetStatsResponse* out);
// The engine's usage report (read at `until`) as the Admin API reports it:
// every finish reason and every refusal a tenant can be charged with are
// listed, 0 too.
void FillUsage(const engine::UsageReport& usage, absl::Time until,
               v1::GetUsageResponse* out);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_ADMIN_SERVICE_H_
