#include "tests/server/test_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/sha256.h"
#include "tests/testing/paths.h"

namespace kvasir::server {
namespace {

std::string Hash(const std::string& key) {
  absl::StatusOr<Sha256Digest> d = Sha256(key);
  return d.ok() ? DigestToHex(*d) : std::string();
}

}  // namespace

std::string TestConfigYaml(bool with_default_tenant) {
  std::string yaml = absl::StrCat(R"(
server:
  listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:0"
  metrics_listen: "127.0.0.1:0"
  admin_api_key_sha256: ")",
                                  Hash(kAdminKey), R"("
  drain_timeout: 20s
kv_cache: { capacity: 256KiB, block_size: 16 }
scheduler: { max_running: 4, max_queued: 16 }
tenants:
  - name: alpha
    api_key_sha256: ")",
                                  Hash(kAlphaKey), R"("
    reserved: 64KiB
    limit: 128KiB
    weight: 2
  - name: beta
    api_key_sha256: ")",
                                  Hash(kBetaKey), R"("
    reserved: 32KiB
    limit: 64KiB
)");
  if (with_default_tenant) {
    yaml += "  - { name: default, limit: 32KiB, max_queued: 2 }\n";
  }
  return yaml;
}

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(Options options) {
  std::unique_ptr<TestServer> t(new TestServer());
  t->config_path_ = t->dir_.File("kvasir.yaml");
  t->WriteConfig(options.yaml);
  absl::StatusOr<ServerConfig> config = LoadConfigFile(t->config_path_);
  if (!config.ok()) return config.status();

  absl::StatusOr<TestEngine> engine =
      BuildTestEngine(*config, options.clock, options.step_delay);
  if (!engine.ok()) return engine.status();
  t->engine_ = std::move(engine->engine);
  t->runner_ = engine->runner;
  if (options.start_paused) t->runner_->Pause();

  Server::Options so;
  so.clock = options.clock;
  so.config_poll_interval = options.config_poll_interval;
  so.grpc_shutdown_grace = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Create(
      so, options.attach_engine ? t->engine_.get() : nullptr, *config);
  if (!server.ok()) return server.status();
  t->server_ = *std::move(server);
  absl::Status started = t->server_->Start();
  if (!started.ok()) return started;
  t->channel_ =
      grpc::CreateChannel(t->address(), grpc::InsecureChannelCredentials());
  return t;
}

TestServer::~TestServer() {
  if (runner_ != nullptr) {
    runner_->SetStepDelay(absl::ZeroDuration());
    runner_->Resume();
  }
  if (server_ != nullptr) server_->Shutdown();
  server_.reset();
  engine_.reset();
}

engine::TenantStats TestServer::TenantStats(const std::string& name) const {
  for (const engine::TenantStats& t : engine_->Stats().tenants) {
    if (t.name == name) return t;
  }
  engine::TenantStats none;
  none.name = name;
  return none;
}

std::string TestServer::address() const {
  return absl::StrCat("127.0.0.1:", server_->port());
}

void TestServer::WriteConfig(const std::string& yaml) const {
  ASSERT_TRUE(testing::WriteFileAtomically(config_path_, yaml)) << config_path_;
}

std::unique_ptr<v1::Generation::Stub> TestServer::Generation() const {
  return v1::Generation::NewStub(channel_);
}

std::unique_ptr<v1::Admin::Stub> TestServer::Admin() const {
  return v1::Admin::NewStub(channel_);
}

std::unique_ptr<grpc::health::v1::Health::Stub> TestServer::Health() const {
  return grpc::health::v1::Health::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> TestServer::Context(
    const std::string& key, absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
  if (timeout > absl::ZeroDuration()) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoMicroseconds(timeout));
  }
  return ctx;
}

TestServer::Options NoDefaultTenant() {
  TestServer::Options o;
  o.yaml = TestConfigYaml(/*with_default_tenant=*/false);
  return o;
}

TestServer::Options EngineNotAttached() {
  TestServer::Options o;
  o.attach_engine = false;
  return o;
}

v1::GenerateRequest TextRequest(const std::string& text, int max_new_tokens) {
  v1::GenerateRequest r;
  r.set_text(text);
  r.mutable_stopping()->set_max_new_tokens(max_new_tokens);
  r.mutable_stopping()->set_ignore_eos(true);
  return r;
}

std::string ReplaceOnce(std::string s, const std::string& from,
                        const std::string& to) {
  const size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << "no '" << from << "' in:\n" << s;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

void ServerTest::StartServer(TestServer::Options options) {
  absl::StatusOr<std::unique_ptr<TestServer>> s =
      TestServer::Start(std::move(options));
  ASSERT_TRUE(s.ok()) << s.status();
  server_ = *std::move(s);
  generation_ = server_->Generation();
  admin_ = server_->Admin();
}

}  // namespace kvasir::server
