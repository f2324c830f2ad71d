#ifndef KVASIR_TESTS_INTEGRATION_LIVE_SERVER_H_
#define KVASIR_TESTS_INTEGRATION_LIVE_SERVER_H_

// The real `kvasir serve` process (build/tools/kvasir) on 127.0.0.1 with
// free ports, a config written by the test, and generated gRPC clients for
// it. Shared by the integration tests in this folder.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "kvasir/v1/admin.grpc.pb.h"
#include "kvasir/v1/generation.grpc.pb.h"
#include "tests/testing/paths.h"
#include "tests/testing/server_process.h"
#include "tests/testing/wait_until.h"

namespace kvasir::integration {

// API keys of the test configs (only their SHA-256 goes into the file).
inline constexpr char kAdminKey[] = "admin-key";
inline constexpr char kAlphaKey[] = "alpha-key";
inline constexpr char kBetaKey[] = "beta-key";

// stories260K with an f32 KV cache: 2 * 5 layers * 4 KV heads * 8 dims *
// 4 bytes = 1280 bytes per token; 16-token blocks of 20 KiB.
inline constexpr int64_t kBlockBytes = 20 * 1024;
inline constexpr int32_t kBlockSize = 16;

// How long a call may take before the test gives up on it: generous, so
// that the ASan build (several times slower) never hits it.
inline constexpr absl::Duration kCallTimeout = absl::Seconds(120);

struct TenantSpec {
  std::string name;
  std::string api_key;  // empty: no key hash (only for `default`)
  std::string reserved = "0";
  std::string limit;  // empty: the capacity
  double weight = 1.0;
  int32_t max_concurrent = 0;  // 0 = no cap
  int32_t max_queued = 0;      // 0 = only the global cap
  // The YAML value of `rate_limit` ("{tokens_per_second: 20, burst: 10}");
  // empty: none.
  std::string rate_limit;
  std::string cache_share;  // empty: not written (its reserved)
};

struct ConfigSpec {
  std::string model;                 // empty: ../shared/models/stories260K.gguf
  std::string capacity = "4000KiB";  // 200 blocks
  int32_t max_batch_tokens = 512;
  int32_t max_running = 64;
  std::string drain_timeout = "60s";
  std::vector<TenantSpec> tenants;
};

// The two tenants most tests use (capacity 200 blocks):
//   alpha (kAlphaKey): reserved 32 blocks, limit = capacity, weight 2; a
//     single sequence may hold 190 blocks (3040 tokens), so it runs the long
//     generations (up to the model's 2048-token context).
//   beta (kBetaKey): reserved 10 blocks, limit 48 blocks (768 tokens).
// No `default` tenant: calls without a key are refused.
ConfigSpec TwoTenantConfig();

// The YAML text of `spec`, with the admin key's hash.
std::string ConfigYaml(const ConfigSpec& spec);

// 64 hex digits of SHA-256(key), as the config stores it.
std::string KeyHash(const std::string& key);

class LiveServer {
 public:
  // Writes the config into a fresh temp dir and starts `kvasir serve` on
  // free loopback ports; returns once health is SERVING.
  static absl::StatusOr<std::unique_ptr<LiveServer>> Start(
      const ConfigSpec& spec);
  // Kills the server if it still runs (SIGKILL) and removes the temp dir.
  ~LiveServer();

  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // Replaces the config file (written aside and renamed over, so the
  // server's file watcher never reads half a file).
  void WriteConfig(const std::string& yaml) const;
  const std::string& config_path() const { return config_path_; }

  testing::ServerProcess& process() { return *process_; }
  std::string address() const { return process_->address(); }

  std::unique_ptr<v1::Generation::Stub> Generation() const;
  std::unique_ptr<v1::Admin::Stub> Admin() const;
  std::unique_ptr<grpc::health::v1::Health::Stub> Health() const;

  // Admin.GetStats with the admin key.
  absl::StatusOr<v1::GetStatsResponse> Stats() const;
  // The health service's overall status; Unavailable when unreachable.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
  HealthStatus() const;

 private:
  LiveServer() = default;

  testing::TempDir dir_;  // outlives process_, which logs into it
  std::string config_path_;
  std::unique_ptr<testing::ServerProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

// The stats of tenant `name` in `stats`; a default TenantStats (name empty)
// when it is not there.
v1::TenantStats FindTenant(const v1::GetStatsResponse& stats,
                           const std::string& name);

// A channel to `address` (plaintext HTTP/2).
std::shared_ptr<grpc::Channel> Channel(const std::string& address);

// A context with `authorization: Bearer <key>` (none when key is empty) and
// a deadline `timeout` from now (none when zero).
std::unique_ptr<grpc::ClientContext> Context(
    const std::string& key, absl::Duration timeout = kCallTimeout);

// A text prompt with max_new_tokens, greedy, token ids in the response;
// ignore_eos so that the length is exactly max_new_tokens.
v1::GenerateRequest TextRequest(const std::string& text,
                                int32_t max_new_tokens);

// One generation's outcome, from either RPC.
struct Outcome {
  grpc::Status status;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;
  std::string text;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  v1::Usage usage;
  int messages = 0;  // stream messages received
};

Outcome RunUnary(v1::Generation::Stub& stub, const std::string& key,
                 const v1::GenerateRequest& request,
                 absl::Duration timeout = kCallTimeout);
Outcome RunStream(v1::Generation::Stub& stub, const std::string& key,
                  const v1::GenerateRequest& request,
                  absl::Duration timeout = kCallTimeout);

// A GenerateStream call the test reads at its own pace (the server keeps
// generating meanwhile; unread messages wait in flow-control buffers).
class OpenStream {
 public:
  OpenStream(v1::Generation::Stub& stub, const std::string& key,
             const v1::GenerateRequest& request,
             absl::Duration timeout = kCallTimeout);
  ~OpenStream();  // cancels the call if still open

  // Reads one message into outcome(); false at the end of the stream.
  bool ReadOne();
  // Reads to the end and finishes the call; returns outcome().
  const Outcome& Finish();
  // Cancels the call from the client side (the server sees the client go).
  void Cancel() { context_->TryCancel(); }
  const Outcome& outcome() const { return outcome_; }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader_;
  Outcome outcome_;
  bool finished_ = false;
};

// testing::WaitUntil with the longer patience a real model needs.
inline bool WaitUntil(const std::function<bool()>& condition,
                      absl::Duration timeout = absl::Seconds(60)) {
  return testing::WaitUntil(condition, timeout);
}

}  // namespace kvasir::integration

#endif  // KVASIR_TESTS_INTEGRATION_LIVE_SERVER_H_
