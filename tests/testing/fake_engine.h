#ifndef KVASIR_TESTS_TESTING_FAKE_ENGINE_H_
#define KVASIR_TESTS_TESTING_FAKE_ENGINE_H_

// A deterministic engine::Engine for server tests: no model, an engine
// thread that steps every `step_interval` of real time, and hooks that let a
// test hold requests still (Pause) and see what the server asked for.
//
// Generation: the token after t is (t + 1) % vocab, starting from the last
// prompt token; text comes from AsciiTokenizer (tests/testing). So the text
// prompt "ab" (BOS, ' ', 'a', 'b') continues "cdefg...". A request ends with
//   kLength  after max_new_tokens,
//   kEos     when the next token is EOS (id 2) and ignore_eos is off,
//   kStop    when the output text contains a stop sequence (text that could
//            start one is held back, as the real engine does),
//   kDeadline once the clock passes Request::deadline (checked every step,
//            also while paused),
//   kCancelled after Cancel(), UpdateTenants removing a queued request's
//            tenant, or a Shutdown drain that ran out of time.
// Submit enforces what the real engine does: unknown tenant (NotFound),
// shutting down (Unavailable), bad prompt / context (InvalidArgument),
// tenant or global queue full and requests that could never fit the
// tenant's KV limit (ResourceExhausted, saying which).
// KV accounting: a running request holds ceil((prompt + max_new_tokens) /
// block_size) blocks, taken when it starts (if they fit), freed at finish.
//
// Thread-safe.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "tests/testing/ascii_tokenizer.h"

namespace kvasir::testing {

class FakeEngine final : public engine::Engine {
 public:
  struct Options {
    int32_t context_length = 256;
    int32_t block_size = 16;
    int64_t capacity_blocks = 64;
    int32_t max_running = 4;  // running requests, all tenants
    int32_t max_queued = 16;  // waiting requests, all tenants
    int32_t tokens_per_step = 1;
    absl::Duration step_interval = absl::Milliseconds(2);  // real time
    Clock* clock = nullptr;  // not owned; nullptr = system clock
    bool start_paused = false;
    engine::RequestLimits request_limits;
  };

  static absl::StatusOr<std::unique_ptr<FakeEngine>> Create(
      const Options& options, std::vector<engine::TenantConfig> tenants);
  ~FakeEngine() override;

  // engine::Engine
  absl::StatusOr<engine::RequestId> Submit(
      engine::Request request,
      std::shared_ptr<engine::RequestSink> sink) override;
  void Cancel(engine::RequestId id) override;
  absl::Status UpdateTenants(
      std::vector<engine::TenantConfig> tenants) override;
  engine::EngineStats Stats() const override;
  void Shutdown(absl::Duration drain) override;
  const engine::ModelConfig& model_config() const override { return model_; }
  const engine::Tokenizer& tokenizer() const override { return tokenizer_; }
  const kvcache::KvLayout& kv_layout() const override { return layout_; }
  int64_t kv_capacity_blocks() const override {
    return options_.capacity_blocks;
  }
  const engine::RequestLimits& request_limits() const override {
    return options_.request_limits;
  }

  // ---- test hooks
  // While paused no request starts or generates; cancels, deadlines and
  // tenant updates still apply.
  void Pause();
  void Resume();
  // The next UpdateTenants fails with `status` (once).
  void FailNextUpdateTenants(absl::Status status);

  std::vector<engine::Request> submitted() const;
  std::vector<engine::RequestId> cancel_calls() const;
  std::vector<std::vector<engine::TenantConfig>> tenant_updates() const;
  std::vector<engine::TenantConfig> tenants() const;
  // Finished requests and how they ended, in finish order.
  std::vector<std::pair<engine::RequestId, engine::FinishInfo>> finished()
      const;
  int shutdown_calls() const;
  int active_requests() const;  // queued + running

  // Polls `condition` every millisecond until it holds or `timeout` (real
  // time) passes; returns whether it held. For waiting on the engine
  // thread, never for measuring time.
  static bool WaitUntil(const std::function<bool()>& condition,
                        absl::Duration timeout = absl::Seconds(20));

 private:
  struct Active {
    engine::Request request;
    std::shared_ptr<engine::RequestSink> sink;
    bool running = false;
    std::optional<engine::FinishReason> cancel;  // why, once cancelled
    int32_t generated = 0;
    int32_t last_token = 0;
    int64_t blocks = 0;
    std::string text;    // all output text so far
    size_t emitted = 0;  // bytes of `text` handed to the sink
    absl::Time submitted;
    std::optional<absl::Time> scheduled;
    std::optional<absl::Time> first_token;
  };
  struct Event {
    std::shared_ptr<engine::RequestSink> sink;
    std::vector<engine::GeneratedToken> tokens;
    std::string text;
    std::optional<engine::FinishInfo> finish;
  };
  struct TenantState {
    engine::TenantConfig config;
    int64_t prompt_tokens = 0;
    int64_t generated_tokens = 0;
  };

  FakeEngine(const Options& options, Clock* clock);
  absl::Status ValidateTenants(
      const std::vector<engine::TenantConfig>& tenants) const;
  int64_t BlocksFor(const engine::Request& r) const;
  int64_t LimitBlocks(const engine::TenantConfig& t) const;
  void Loop();
  void StepLocked(std::vector<Event>* events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartRequestsLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Generates for one running request; true when it finished.
  bool GenerateLocked(engine::RequestId id, Active& a, absl::Time now,
                      std::vector<Event>* events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(engine::RequestId id, Active& a,
                    engine::FinishReason reason, absl::Time now, Event* event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* const clock_;
  SystemClock system_clock_;
  AsciiTokenizer tokenizer_;
  engine::ModelConfig model_;
  kvcache::KvLayout layout_;

  mutable absl::Mutex mu_;
  std::map<engine::RequestId, Active> active_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TenantState> tenants_ ABSL_GUARDED_BY(mu_);
  engine::RequestId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool cancel_all_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t steps_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> fail_next_update_ ABSL_GUARDED_BY(mu_);
  std::vector<engine::Request> submitted_ ABSL_GUARDED_BY(mu_);
  std::vector<engine::RequestId> cancel_calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<engine::TenantConfig>> tenant_updates_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<engine::RequestId, engine::FinishInfo>> finished_
      ABSL_GUARDED_BY(mu_);
  int shutdown_calls_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex shutdown_mu_;  // serializes Shutdown
  std::thread thread_;
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_FAKE_ENGINE_H_
