#include "server/rpc/admin_service.h"

#include "common/status_macros.h"
#include "server/rpc/call_context.h"
#include "server/rpc/parsed_request.h"
#include "server/rpc/status_mapping.h"

namespace kvasir::server {
namespace {

absl::Status AuthenticateAdmin(ServiceEnv* env,
                               const grpc::CallbackServerContext* context) {
  ASSIGN_OR_RETURN(const std::optional<absl::string_view> authorization,
                   AuthorizationOf(context));
  return env->auth()->table()->AuthenticateAdmin(authorization);
}

absl::Status DoGetStats(ServiceEnv* env,
                        const grpc::CallbackServerContext* context,
                        v1::GetStatsResponse* response) {
  RETURN_IF_ERROR(AuthenticateAdmin(env, context));
  engine::Engine* engine = env->engine();  // stats stay readable while draining
  if (engine == nullptr) {
    return absl::UnavailableError("the model is still loading; retry soon");
  }
  FillStats(engine->Stats(), response);
  return absl::OkStatus();
}

absl::Status DoGetUsage(ServiceEnv* env,
                        const grpc::CallbackServerContext* context,
                        const v1::GetUsageRequest& request,
                        v1::GetUsageResponse* response) {
  RETURN_IF_ERROR(AuthenticateAdmin(env, context));
  engine::Engine* engine = env->engine();  // readable while draining too
  if (engine == nullptr) {
    return absl::UnavailableError("the model is still loading; retry soon");
  }
  FillUsage(engine->Usage(request.reset()), env->clock()->Now(), response);
  return absl::OkStatus();
}

}  // namespace

// The method indexes are the order of the rpcs in admin.proto.
AdminService::AdminService(ServiceEnv* env) : env_(env) {
  MarkMethodCallback(
      0, ParsingUnaryHandler<v1::GetStatsRequest, v1::GetStatsResponse>(
             "kvasir.v1.Admin/GetStats",
             [this](grpc::CallbackServerContext* c,
                    const v1::GetStatsRequest* r, v1::GetStatsResponse* out) {
               return HandleGetStats(c, r, out);
             }));
  MarkMethodCallback(
      1, ParsingUnaryHandler<v1::ReloadConfigRequest, v1::ReloadConfigResponse>(
             "kvasir.v1.Admin/ReloadConfig",
             [this](grpc::CallbackServerContext* c,
                    const v1::ReloadConfigRequest* r,
                    v1::ReloadConfigResponse* out) {
               return HandleReloadConfig(c, r, out);
             }));
  MarkMethodCallback(
      2, ParsingUnaryHandler<v1::GetUsageRequest, v1::GetUsageResponse>(
             "kvasir.v1.Admin/GetUsage",
             [this](grpc::CallbackServerContext* c,
                    const v1::GetUsageRequest* r, v1::GetUsageResponse* out) {
               return HandleGetUsage(c, r, out);
             }));
}

void FillStats(const engine::EngineStats& s, v1::GetStatsResponse* out) {
  out->set_total_blocks(s.kv.total_blocks);
  out->set_free_blocks(s.kv.free_blocks);
  out->set_cached_blocks(s.kv.cached_blocks);
  out->set_block_size(s.kv.block_size);
  out->set_block_bytes(s.kv.block_bytes);
  out->set_kv_bytes_per_token(s.kv.bytes_per_token);
  out->set_prefix_hit_rate(s.kv.prefix_hit_rate);
  out->set_running(s.running);
  out->set_queued(s.queued);
  out->set_steps(s.steps);
  out->set_preemptions(s.preemptions);
  for (const engine::TenantStats& t : s.tenants) {
    v1::TenantStats* o = out->add_tenants();
    o->set_name(t.name);
    o->set_kv_used_bytes(t.kv.used_bytes);
    o->set_kv_reserved_bytes(t.kv.reserved_bytes);
    o->set_kv_limit_bytes(t.kv.limit_bytes);
    o->set_kv_used_blocks(t.kv.used_blocks);
    o->set_kv_reserved_blocks(t.kv.reserved_blocks);
    o->set_kv_limit_blocks(t.kv.limit_blocks);
    o->set_over_limit(t.kv.over_limit());
    o->set_running(t.sched.running);
    o->set_queued(t.queued);
    o->set_tokens_served(t.sched.prompt_tokens_served +
                         t.sched.generated_tokens);
    o->set_prompt_tokens_served(t.sched.prompt_tokens_served);
    o->set_generated_tokens(t.sched.generated_tokens);
    o->set_preemptions(t.sched.preemptions);
    o->set_prefix_hit_tokens(t.sched.cached_prompt_tokens);
    o->set_kv_cached_bytes(t.kv.cached_bytes);
  }
}

void FillUsage(const engine::UsageReport& usage, absl::Time until,
               v1::GetUsageResponse* out) {
  out->set_since_unix_seconds(
      absl::ToDoubleSeconds(usage.since - absl::UnixEpoch()));
  out->set_until_unix_seconds(absl::ToDoubleSeconds(until - absl::UnixEpoch()));
  for (const engine::TenantUsage& t : usage.tenants) {
    v1::TenantUsage* o = out->add_tenants();
    o->set_name(t.name);
    o->set_configured(t.configured);
    for (int i = 0; i < engine::kNumFinishReasons; ++i) {
      (*o->mutable_requests())[std::string(engine::FinishReasonName(
          static_cast<engine::FinishReason>(i)))] = t.finished[i];
    }
    for (int i = 0; i < engine::kNumRefusals; ++i) {
      const auto refusal = static_cast<engine::Refusal>(i);
      if (refusal == engine::Refusal::kUnknownTenant) continue;
      (*o->mutable_refused())[std::string(engine::RefusalName(refusal))] =
          t.refused[i];
    }
    o->set_prompt_tokens(t.prompt_tokens);
    o->set_cached_prompt_tokens(t.cached_prompt_tokens);
    o->set_generated_tokens(t.generated_tokens);
    o->set_kv_byte_seconds(t.kv_byte_seconds);
  }
}

grpc::ServerUnaryReactor* AdminService::HandleGetUsage(
    grpc::CallbackServerContext* context, const v1::GetUsageRequest* request,
    v1::GetUsageResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(DoGetUsage(env_, context, *request, response)));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::HandleGetStats(
    grpc::CallbackServerContext* context, const v1::GetStatsRequest*,
    v1::GetStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(DoGetStats(env_, context, response)));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::HandleReloadConfig(
    grpc::CallbackServerContext* context, const v1::ReloadConfigRequest*,
    v1::ReloadConfigResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = AuthenticateAdmin(env_, context);
  if (status.ok() && env_->draining()) {
    status = absl::UnavailableError(
        "the server is shutting down (draining); reload refused");
  }
  if (status.ok() && !env_->reload) {
    status = absl::UnimplementedError("this server has no config to reload");
  }
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  // Parsing and UpdateTenants run on the reload thread, not on gRPC's.
  env_->reload([reactor, response](absl::StatusOr<ReloadOutcome> outcome) {
    if (outcome.ok()) {
      response->set_config_path(outcome->config_path);
      for (const std::string& s : outcome->applied) response->add_applied(s);
      for (const std::string& s : outcome->restart_required) {
        response->add_restart_required(s);
      }
    }
    reactor->Finish(ToGrpcStatus(outcome.status()));
  });
  return reactor;
}

}  // namespace kvasir::server
