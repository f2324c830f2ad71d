#ifndef KVASIR_TESTS_SERVER_TEST_SERVER_H_
#define KVASIR_TESTS_SERVER_TEST_SERVER_H_

// A real server::Server on 127.0.0.1 (ports picked by the OS) in front of
// the real engine on the deterministic FakeRunner (test_engine.h), with
// generated gRPC clients, for the service tests.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "kvasir/v1/admin.grpc.pb.h"
#include "kvasir/v1/generation.grpc.pb.h"
#include "server/config/config.h"
#include "server/server.h"
#include "tests/server/test_engine.h"
#include "tests/testing/fake_runner.h"
#include "tests/testing/paths.h"

namespace kvasir::server {

// API keys of the test config (only their hashes are in it).
inline constexpr char kAlphaKey[] = "alpha-key";
inline constexpr char kBetaKey[] = "beta-key";
inline constexpr char kAdminKey[] = "admin-key";

// The config the tests start from: tenants alpha, beta and default; the
// test model's blocks are 4 KiB (16 tokens of 256 bytes), capacity 64
// blocks, at most 4 requests running.
//   alpha: reserved 16 blocks, limit 32; beta: reserved 8, limit 16;
//   default: limit 8 blocks (128 tokens), max_queued 2.
std::string TestConfigYaml(bool with_default_tenant = true);

class TestServer {
 public:
  struct Options {
    std::string yaml = TestConfigYaml();
    // The runner's pacing (FakeRunner::SetStepDelay) from the start.
    absl::Duration step_delay = absl::ZeroDuration();
    // Start with the runner paused (FakeRunner::Pause): the first step
    // blocks, and with it the engine thread, until runner().Resume().
    bool start_paused = false;
    bool attach_engine = true;  // false: the model is "still loading"
    absl::Duration config_poll_interval = absl::ZeroDuration();
    Clock* clock = nullptr;  // server and engine; nullptr = system
  };

  static absl::StatusOr<std::unique_ptr<TestServer>> Start(Options options);
  // Resumes the runner at full speed, then shuts the server down (its drain
  // lets running requests finish).
  ~TestServer();

  engine::Engine& engine() { return *engine_; }
  testing::FakeRunner& runner() { return *runner_; }
  // The engine's stats of one tenant (all zero when it has none).
  engine::TenantStats TenantStats(const std::string& name) const;
  Server& server() { return *server_; }
  const std::string& config_path() const { return config_path_; }
  std::string address() const;

  // Replaces the config file's text (for reloads).
  void WriteConfig(const std::string& yaml) const;
  // Attaches the engine when started with attach_engine = false.
  void AttachEngine() { server_->SetEngine(engine_.get()); }

  std::unique_ptr<v1::Generation::Stub> Generation() const;
  std::unique_ptr<v1::Admin::Stub> Admin() const;
  std::unique_ptr<grpc::health::v1::Health::Stub> Health() const;
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // A context with `authorization: Bearer <key>` (none when key is empty)
  // and a deadline `timeout` from now (none when zero).
  static std::unique_ptr<grpc::ClientContext> Context(
      const std::string& key = kAlphaKey,
      absl::Duration timeout = absl::Seconds(30));

 private:
  TestServer() = default;

  testing::TempDir dir_;
  std::string config_path_;
  std::unique_ptr<engine::Engine> engine_;
  testing::FakeRunner* runner_ = nullptr;  // owned by engine_
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Options of a server whose config has no default tenant.
TestServer::Options NoDefaultTenant();
// Options of a server whose engine is not attached yet (model loading).
TestServer::Options EngineNotAttached();

// A text-prompt request with max_new_tokens and ignore_eos.
v1::GenerateRequest TextRequest(const std::string& text, int max_new_tokens);

// `s` with the first `from` replaced by `to`; fails the test when `s` has
// no `from` (a test editing a config must not silently edit nothing).
std::string ReplaceOnce(std::string s, const std::string& from,
                        const std::string& to);

// The fixture of the gRPC service tests: a test body calls StartServer
// (with the options it needs) and talks to server_ through the stubs.
class ServerTest : public ::testing::Test {
 protected:
  void StartServer(TestServer::Options options = {});

  // For tests that drive time by hand (options.clock = &clock_). Declared
  // before server_ so that it outlives the server's threads.
  FakeClock clock_{absl::Now()};
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::Generation::Stub> generation_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

}  // namespace kvasir::server

#endif  // KVASIR_TESTS_SERVER_TEST_SERVER_H_
