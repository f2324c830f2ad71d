#ifndef KVASIR_ENGINE_ENGINE_H_
#define KVASIR_ENGINE_ENGINE_H_

// The engine API: what the server (and `kvasir generate` / `kvasir bench`)
// use to run requests. CONTRACT: the server codes against this header; the
// scheduler issue implements it. Change it only with both sides in view.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "engine/model/model_runner.h"
#include "engine/sampling/sampling_params.h"
#include "kvcache/kv_cache_manager.h"
#include "kvcache/kv_layout.h"
#include "kvcache/tenant_budgets.h"

namespace kvasir::engine {

namespace chat {
class ChatTemplate;
}  // namespace chat

using RequestId = uint64_t;

// Why a request ended: the engine says it, front ends only translate it
// (the README's table of outcomes lists each with its gRPC status).
// Chronological states of a request live in the scheduler; this is only
// the outcome.
enum class FinishReason {
  kLength,         // max_new_tokens reached (or the context is full)
  kEos,            // the model produced an end-of-generation token
  kStop,           // a stop sequence matched
  kCancelled,      // Cancel(): the client cancelled or went away
  kDeadline,       // the request's deadline passed
  kDrainTimeout,   // Shutdown's drain time ran out before it finished
  kTenantRemoved,  // UpdateTenants removed its tenant
  kError,          // see FinishInfo::error (e.g. ResourceExhausted: a budget
                   // change left it unable to ever fit)
};
absl::string_view FinishReasonName(FinishReason reason);  // "length", ...
// How many FinishReasons there are (kError is the last); an array indexed
// by static_cast<int>(reason) has this size.
inline constexpr int kNumFinishReasons =
    static_cast<int>(FinishReason::kError) + 1;

// Why Submit refused a request (the sink is never called then). The status
// Submit returns carries it (RefusalOf).
enum class Refusal {
  kInvalidRequest,   // InvalidArgument; FieldOf() names the field
  kPromptTooLong,    // InvalidArgument, FieldOf() "prompt": the prompt
                     // leaves no room in the context, or its text is over
                     // RequestLimits::max_prompt_text_bytes (HTTP: 413)
  kUnknownTenant,    // NotFound: no such tenant (a reload may have removed
                     // it a moment ago)
  kNeverFits,        // ResourceExhausted: prompt + max_new_tokens can never
                     // fit in the tenant's KV limit
  kTenantQueueFull,  // ResourceExhausted: the tenant's max_queued
  kQueueFull,        // ResourceExhausted: the engine's max_queued
  kShuttingDown,     // Unavailable
};
absl::string_view RefusalName(Refusal refusal);  // "invalid_request", ...
// How many Refusals there are (kShuttingDown is the last).
inline constexpr int kNumRefusals =
    static_cast<int>(Refusal::kShuttingDown) + 1;

// `status` (not OK) marked as `refusal`.
absl::Status WithRefusal(absl::Status status, Refusal refusal);
// The refusal a Submit (or EncodePrompt) error carries; kInvalidRequest for
// any other
// InvalidArgument; nullopt for anything else.
std::optional<Refusal> RefusalOf(const absl::Status& status);

// What Submit accepts, checked by ValidateRequest (request_validation.h).
struct RequestLimits {
  int32_t max_stop_sequences = 16;
  int32_t max_stop_sequence_bytes = 256;
  int32_t max_top_logprobs = 20;  // as vLLM's default max_logprobs
  int32_t max_request_id_chars = 128;
  int64_t max_prompt_text_bytes = int64_t{1} << 20;  // EncodePrompt
  // max_new_tokens when the request gives none (less if the context has
  // less room left).
  int32_t default_max_new_tokens = 16;
};

struct StoppingParams {
  // >= 1; unset: RequestLimits::default_max_new_tokens, or the room the
  // context leaves after the prompt if that is less.
  std::optional<int32_t> max_new_tokens;
  // With max_new_tokens unset: as many as fit instead of the default, the
  // room the context leaves and what one sequence of the tenant's KV limit
  // holds after the prompt, whichever is less (OpenAI's max_tokens left
  // out: a tenant's limit below the context does not refuse the request).
  bool fill_room = false;
  std::vector<std::string> stop;  // stop sequences, matched on output text
  bool include_stop = false;      // keep the matched stop text in the output
  bool ignore_eos = false;        // keep going after EOS/EOT/EOM (benchmarks)
};

struct Request {
  std::string tenant;           // a configured tenant name
  std::vector<int32_t> prompt;  // token ids (BOS included if wanted), >= 1
  SamplingParams sampling;
  StoppingParams stopping;
  bool logprobs = false;     // report each chosen token's logprob
  int32_t top_logprobs = 0;  // and the n most likely alternatives (n > 0
                             // implies logprobs); [0, max_top_logprobs]
  int32_t priority = 0;      // higher first, within the tenant
  absl::Time deadline = absl::InfiniteFuture();
  std::string request_id;  // optional client id, for logs
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct GeneratedToken {
  int32_t token = 0;
  float logprob = 0.0f;           // when Request::logprobs
  std::vector<TokenLogprob> top;  // when Request::top_logprobs > 0
};

struct FinishInfo {
  FinishReason reason = FinishReason::kLength;
  absl::Status error;  // not OK iff reason == kError
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  // Prompt tokens served from the prefix cache.
  int32_t cached_prompt_tokens = 0;
  int32_t preemptions = 0;
  // Scheduled at least once (some of its prompt was computed or found in
  // the prefix cache). Usage bills prompt tokens only for such requests: one
  // that ended in the queue (deadline, cancel, drain, removed tenant) cost
  // nothing but its place in line.
  bool started = false;
  absl::Duration queue_time;           // submit -> first scheduled
  absl::Duration time_to_first_token;  // submit -> first token
  absl::Duration total_time;           // submit -> finish
};

// Receives one request's output. Called on the engine thread: must not
// block (hand the data to another thread if it needs to).
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // Tokens accepted this step and the output text they complete. The text
  // is UTF-8-safe (a character split over tokens arrives whole, later) and
  // text that could be the start of a stop sequence is held back until it
  // is known not to be one.
  virtual void OnTokens(absl::Span<const GeneratedToken> tokens,
                        absl::string_view text) = 0;
  // Exactly once, after the last OnTokens.
  virtual void OnFinish(const FinishInfo& info) = 0;
};

// The tenant that serves requests without an API key, when configured; the
// sole tenant of the command-line tools.
inline constexpr absl::string_view kDefaultTenantName = "default";

// A tenant's token-rate limits: token buckets the scheduler consults
// (engine/sched/rate_limiter.h). Unset = no limit. Rules
// (engine/tenant_rules.h): rates finite and > 0; bursts finite and >= 1,
// only with their rate.
struct RateLimit {
  // Generated tokens per second, refilled continuously; a tenant whose
  // bucket is empty has its sequences skipped for the step (they slow
  // down, never fail).
  std::optional<double> tokens_per_second;
  // Bucket size in generated tokens; unset: one second's worth (at least 1).
  std::optional<double> burst;
  // Prompt tokens per second, charged once per request when it first
  // starts (cached tokens included). A prompt larger than the burst waits
  // for a full bucket and leaves it in debt.
  std::optional<double> prompt_tokens_per_second;
  std::optional<double> prompt_burst;  // unset: one second's worth (>= 1)

  bool operator==(const RateLimit&) const = default;
};

// A tenant's policy and KV budget. The rules (engine/tenant_rules.h):
// name [A-Za-z0-9_.-]{1,64}, unique; weight in [0.001, 1000]; caps >= 0;
// 0 <= reserved <= limit <= the KV capacity, floors summing to at most the
// capacity; rate limits as RateLimit says.
struct TenantConfig {
  std::string name;
  int64_t reserved_bytes = 0;  // floor: KV memory nobody else can take
  int64_t limit_bytes = 0;     // ceiling: never exceeded; >= reserved
  double weight = 1.0;         // share of served tokens under contention
  int32_t max_concurrent = 0;  // running requests; 0 = no cap
  int32_t max_queued = 0;      // waiting requests; 0 = no cap beyond global
  bool prefix_caching = true;
  RateLimit rate_limit;  // applies to running requests on UpdateTenants
  // Cached prefix blocks it keeps ahead of over-share tenants when cached
  // blocks are reclaimed; nullopt: reserved_bytes. 0..the KV capacity;
  // reserves nothing (kvcache::TenantBudget::cache_share_bytes).
  std::optional<int64_t> cache_share_bytes = std::nullopt;
};

// The scheduler's counters of one tenant.
struct TenantSchedStats {
  int32_t running = 0;
  int64_t served_tokens = 0;         // all computed tokens
  int64_t prompt_tokens_served = 0;  // computed tokens before decoding
                                     // (recomputation included)
  int64_t generated_tokens = 0;      // logits produced (tokens sampled)
  int64_t preemptions = 0;
  // Prompt tokens found in the prefix cache, once per request at its first
  // admission: the sum of its requests' FinishInfo::cached_prompt_tokens
  // (what a user is billed as cached, like OpenAI's
  // usage.prompt_tokens_details.cached_tokens). A preempted request's
  // resume is not counted again. GetStats and /metrics both read this.
  int64_t cached_prompt_tokens = 0;
};

// One tenant's numbers, each from its one owner: the KV cache, the
// scheduler and the admission queue.
struct TenantStats {
  std::string name;
  kvcache::TenantKvStats kv;
  TenantSchedStats sched;
  int32_t queued = 0;  // waiting to run: accepted, or preempted
};

struct EngineStats {
  kvcache::KvCacheStats kv;  // the pool: blocks, geometry, prefix hits
  int32_t running = 0;
  int32_t queued = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  std::vector<TenantStats> tenants;

  // Work done since Create, for benchmarks and metrics. Step wall time is
  // measured around a whole step (schedule, model, sampling, sinks) with a
  // steady clock.
  int64_t prefill_tokens = 0;      // tokens of prompt chunks (recomputation
                                   // after preemption included)
  int64_t decode_tokens = 0;       // one-token decodes
  int64_t prefill_step_ns = 0;     // steps with at least one prompt chunk
  int64_t decode_step_ns = 0;      // steps of decodes only
  int64_t decode_steps = 0;        // how many of those
  int64_t decode_step_tokens = 0;  // tokens of those decode-only steps
  StepTimings step_timings;        // ModelRunner::last_timings(), summed
  StepTimings decode_timings;      // the same over decode-only steps
};

// What one tenant used over a period (since the engine started, or since
// the last reset of the usage view): what an operator bills. Requests are
// counted when they finish, with the numbers their FinishInfo (and so
// their response's usage) reports; KV byte-seconds accrue at every step.
struct TenantUsage {
  std::string name;
  bool configured = true;  // false: removed from the config since
  // Finished requests, indexed by static_cast<int>(FinishReason).
  std::array<int64_t, kNumFinishReasons> finished{};
  // Requests Submit refused, indexed by static_cast<int>(Refusal) (never
  // kUnknownTenant: such a request has no tenant to charge).
  std::array<int64_t, kNumRefusals> refused{};
  int64_t prompt_tokens = 0;         // sum of FinishInfo::prompt_tokens
  int64_t cached_prompt_tokens = 0;  // ... ::cached_prompt_tokens
  int64_t generated_tokens = 0;      // ... ::generated_tokens
  // The integral over time of the KV bytes the tenant's sequences held
  // (blocks they reference; cached blocks nobody references and unused
  // floors are not counted), in byte-seconds.
  double kv_byte_seconds = 0;
};

struct UsageReport {
  absl::Time since;  // the start of the period
  std::vector<TenantUsage> tenants;
};

class Engine {
 public:
  struct Options {
    int32_t max_batch_tokens = 512;  // tokens per step, all sequences
    int32_t max_running = 64;        // sequences per step
    int32_t max_queued = 1024;       // waiting requests, all tenants
    int64_t kv_capacity_bytes = int64_t{256} << 20;
    int32_t block_size = 16;
    kvcache::KvDtype kv_dtype = kvcache::KvDtype::kF32;
    bool prefix_caching = true;
    RequestLimits request_limits;
    Clock* clock = nullptr;  // not owned; nullptr = system clock
    // The model's chat template (engine/chat/), shared read-only with the
    // front ends; nullptr: the model has none and chat requests are
    // refused.
    std::shared_ptr<const chat::ChatTemplate> chat_template;
  };

  // Validates the options and tenants (sum of floors <= capacity, ...),
  // creates the KV cache and starts the engine thread.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const Options& options, std::unique_ptr<ModelRunner> runner,
      std::vector<TenantConfig> tenants);

  // Shutdown(absl::ZeroDuration()) if still running.
  virtual ~Engine() = default;

  // Thread-safe, never waits for a step. Fills the request's defaults,
  // validates it (ValidateRequest) and queues it. Returns the request's id,
  // or an error carrying its Refusal (see the enum for the codes; messages
  // name the field, value and limit, or the tenant and queue). On error the
  // sink is never called.
  virtual absl::StatusOr<RequestId> Submit(
      Request request, std::shared_ptr<RequestSink> sink) = 0;

  // Thread-safe. Finishes the request with kCancelled at the next step and
  // frees its blocks (kDeadline when its deadline has passed by then: a
  // gRPC call is cancelled when its deadline passes); unknown or finished
  // ids are ignored. Only callers cancel: the engine's own terminations
  // have reasons of their own.
  virtual void Cancel(RequestId id) = 0;

  // Thread-safe. Validates and applies the new tenant set between steps.
  // Removed tenants' queued requests finish with kTenantRemoved; running
  // ones go on to their end within the tenant's old limit. A tenant above
  // its new limit gets no new blocks and is preempted first.
  virtual absl::Status UpdateTenants(std::vector<TenantConfig> tenants) = 0;

  // Thread-safe snapshot (taken at the end of the last step).
  virtual EngineStats Stats() const = 0;

  // Thread-safe. Charges a request that a front end refused before Submit
  // (one it could not convert: a bad field, a prompt text over the limit)
  // to `tenant`, by the refusal `error` carries (RefusalOf; nothing when it
  // carries none, or when `tenant` was never configured). Submit charges
  // its own refusals.
  virtual void ChargeRefusal(absl::string_view tenant,
                             const absl::Status& error) = 0;

  // Thread-safe. Each tenant's usage since the last reset (or the start):
  // configured tenants, and removed ones that used something in that
  // period. With `reset`, the view is zeroed right after it is read, in one
  // step (no usage falls between the report and the reset). Usage survives
  // UpdateTenants.
  virtual UsageReport Usage(bool reset) = 0;
  // Thread-safe. Each tenant's usage since the engine started, never
  // reset (monotonic: the Prometheus counters); every tenant ever
  // configured.
  virtual UsageReport UsageSinceStart() const = 0;

  // Stops accepting (Submit refuses with kShuttingDown), lets running and
  // queued requests finish for up to `drain`, finishes what is left with
  // kDrainTimeout, then stops the engine thread. Every sink has had OnFinish
  // when this returns.
  virtual void Shutdown(absl::Duration drain) = 0;

  virtual const ModelConfig& model_config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual const kvcache::KvLayout& kv_layout() const = 0;
  virtual int64_t kv_capacity_blocks() const = 0;
  virtual const RequestLimits& request_limits() const = 0;
  // Options::chat_template; nullptr when the model has none. Thread-safe.
  virtual const chat::ChatTemplate* chat_template() const = 0;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_ENGINE_H_
