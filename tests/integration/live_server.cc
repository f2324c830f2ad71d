#include "tests/integration/live_server.h"

#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/sha256.h"
#include "tests/testing/paths.h"

namespace kvasir::integration {

ConfigSpec TwoTenantConfig() {
  ConfigSpec spec;
  spec.capacity = "4000KiB";
  TenantSpec alpha;
  alpha.name = "alpha";
  alpha.api_key = kAlphaKey;
  alpha.reserved = "640KiB";
  alpha.weight = 2;
  TenantSpec beta;
  beta.name = "beta";
  beta.api_key = kBetaKey;
  beta.reserved = "200KiB";
  beta.limit = "960KiB";
  spec.tenants = {alpha, beta};
  return spec;
}

std::string KeyHash(const std::string& key) {
  absl::StatusOr<server::Sha256Digest> d = server::Sha256(key);
  return d.ok() ? server::DigestToHex(*d) : std::string();
}

std::string ConfigYaml(const ConfigSpec& spec) {
  const std::string model =
      spec.model.empty() ? testing::ModelPath("stories260K.gguf") : spec.model;
  // Listen addresses are placeholders: `serve` gets --listen and
  // --metrics-listen with free ports.
  std::string yaml = absl::StrCat(
      "server:\n"
      "  listen: \"127.0.0.1:0\"\n"
      "  http_listen: \"127.0.0.1:0\"\n"
      "  metrics_listen: \"127.0.0.1:0\"\n"
      "  admin_api_key_sha256: \"",
      KeyHash(kAdminKey),
      "\"\n"
      "  drain_timeout: ",
      spec.drain_timeout,
      "\n"
      "model:\n"
      "  path: \"",
      model,
      "\"\n"
      "kv_cache: { capacity: ",
      spec.capacity, ", block_size: ", kBlockSize,
      ", dtype: f32, prefix_caching: true }\n"
      "scheduler: { max_batch_tokens: ",
      spec.max_batch_tokens, ", max_running: ", spec.max_running,
      ", max_queued: 1024 }\n"
      "tenants:\n");
  for (const TenantSpec& t : spec.tenants) {
    absl::StrAppend(&yaml, "  - name: ", t.name, "\n");
    if (!t.api_key.empty()) {
      absl::StrAppend(&yaml, "    api_key_sha256: \"", KeyHash(t.api_key),
                      "\"\n");
    }
    absl::StrAppend(&yaml, "    reserved: ", t.reserved, "\n");
    if (!t.limit.empty()) absl::StrAppend(&yaml, "    limit: ", t.limit, "\n");
    if (!t.cache_share.empty()) {
      absl::StrAppend(&yaml, "    cache_share: ", t.cache_share, "\n");
    }
    absl::StrAppend(&yaml, "    weight: ", t.weight, "\n",
                    "    max_concurrent: ", t.max_concurrent, "\n",
                    "    max_queued: ", t.max_queued, "\n");
    if (!t.rate_limit.empty()) {
      absl::StrAppend(&yaml, "    rate_limit: ", t.rate_limit, "\n");
    }
  }
  absl::StrAppend(&yaml, "logging: { level: info, format: text }\n");
  return yaml;
}

absl::StatusOr<std::unique_ptr<LiveServer>> LiveServer::Start(
    const ConfigSpec& spec) {
  std::unique_ptr<LiveServer> s(new LiveServer());
  s->config_path_ = s->dir_.File("kvasir.yaml");
  s->WriteConfig(ConfigYaml(spec));
  testing::ServerProcess::Options o;
  o.args = {"--config", s->config_path_};
  o.log_path = s->dir_.File("server.log");
  o.ready_timeout = absl::Seconds(120);
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> p =
      testing::ServerProcess::Start(o);
  if (!p.ok()) return p.status();
  s->process_ = *std::move(p);
  s->channel_ = Channel(s->process_->address());
  return s;
}

LiveServer::~LiveServer() {
  channel_.reset();
  process_.reset();
}

void LiveServer::WriteConfig(const std::string& yaml) const {
  EXPECT_TRUE(testing::WriteFileAtomically(config_path_, yaml)) << config_path_;
}

std::unique_ptr<v1::Generation::Stub> LiveServer::Generation() const {
  return v1::Generation::NewStub(channel_);
}

std::unique_ptr<v1::Admin::Stub> LiveServer::Admin() const {
  return v1::Admin::NewStub(channel_);
}

std::unique_ptr<grpc::health::v1::Health::Stub> LiveServer::Health() const {
  return grpc::health::v1::Health::NewStub(channel_);
}

absl::StatusOr<v1::GetStatsResponse> LiveServer::Stats() const {
  auto ctx = Context(kAdminKey, absl::Seconds(30));
  v1::GetStatsResponse stats;
  grpc::Status s = Admin()->GetStats(ctx.get(), v1::GetStatsRequest(), &stats);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("GetStats: ", s.error_message()));
  }
  return stats;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
LiveServer::HealthStatus() const {
  auto ctx = Context("", absl::Seconds(10));
  grpc::health::v1::HealthCheckResponse r;
  grpc::Status s =
      Health()->Check(ctx.get(), grpc::health::v1::HealthCheckRequest(), &r);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return r.status();
}

v1::TenantStats FindTenant(const v1::GetStatsResponse& stats,
                           const std::string& name) {
  for (const v1::TenantStats& t : stats.tenants()) {
    if (t.name() == name) return t;
  }
  return v1::TenantStats();
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& key,
                                             absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
  if (timeout > absl::ZeroDuration()) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoMicroseconds(timeout));
  }
  return ctx;
}

v1::GenerateRequest TextRequest(const std::string& text,
                                int32_t max_new_tokens) {
  v1::GenerateRequest r;
  r.set_text(text);
  r.mutable_stopping()->set_max_new_tokens(max_new_tokens);
  r.mutable_stopping()->set_ignore_eos(true);
  r.mutable_response()->set_token_ids(true);
  r.mutable_response()->set_prompt_token_ids(true);
  return r;
}

namespace {

void Accumulate(const v1::GenerateResponse& m, Outcome* out) {
  out->prompt_ids.insert(out->prompt_ids.end(), m.prompt_token_ids().begin(),
                         m.prompt_token_ids().end());
  out->ids.insert(out->ids.end(), m.token_ids().begin(), m.token_ids().end());
  out->text += m.text();
  if (m.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    out->finish = m.finish_reason();
    out->usage = m.usage();
  }
}

}  // namespace

Outcome RunUnary(v1::Generation::Stub& stub, const std::string& key,
                 const v1::GenerateRequest& request, absl::Duration timeout) {
  auto ctx = Context(key, timeout);
  v1::GenerateResponse response;
  Outcome out;
  out.status = stub.Generate(ctx.get(), request, &response);
  if (out.status.ok()) Accumulate(response, &out);
  return out;
}

Outcome RunStream(v1::Generation::Stub& stub, const std::string& key,
                  const v1::GenerateRequest& request, absl::Duration timeout) {
  OpenStream stream(stub, key, request, timeout);
  return stream.Finish();
}

OpenStream::OpenStream(v1::Generation::Stub& stub, const std::string& key,
                       const v1::GenerateRequest& request,
                       absl::Duration timeout)
    : context_(Context(key, timeout)),
      reader_(stub.GenerateStream(context_.get(), request)) {}

OpenStream::~OpenStream() {
  if (!finished_) {
    context_->TryCancel();
    Finish();
  }
}

bool OpenStream::ReadOne() {
  if (finished_) return false;
  v1::GenerateResponse m;
  if (!reader_->Read(&m)) return false;
  ++outcome_.messages;
  Accumulate(m, &outcome_);
  return true;
}

const Outcome& OpenStream::Finish() {
  if (finished_) return outcome_;
  while (ReadOne()) {
  }
  outcome_.status = reader_->Finish();
  finished_ = true;
  return outcome_;
}

}  // namespace kvasir::integration
