#ifndef KVASIR_SERVER_RPC_GENERATE_CALLS_H_
#define KVASIR_SERVER_RPC_GENERATE_CALLS_H_

// The reactors of Generation.Generate (unary) and .GenerateStream (server
// streaming). Each call authenticates, validates, submits to the engine and
// returns at once: the handler never waits for the engine. Output comes
// back through an engine::RequestSink on the engine thread.
//
// Streaming hand-off: the sink appends new tokens to a pending message
// under a mutex; at most one write is in flight; when it completes, all
// tokens that arrived meanwhile go out as one message (coalescing keeps a
// slow client from queueing one message per token). The last message
// carries finish_reason and usage. A client that goes away (OnCancel)
// cancels the engine request; the call ends when the engine reports the
// finish, so every sink reference is gone before the reactor is deleted.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "kvasir/v1/generation.pb.h"
#include "server/request_log.h"
#include "server/service_env.h"

namespace kvasir::server {

// The engine request id of a call and a cancellation that may arrive before
// Submit returns it. Thread-safe.
class CancelLatch {
 public:
  // After a successful Submit to `engine`. Cancels at once if OnCancel came
  // first.
  void SetId(engine::Engine* engine, engine::RequestId id);
  // From OnCancel (any thread): cancels now, or as soon as SetId is called.
  void Cancel();

 private:
  mutable absl::Mutex mu_;
  engine::Engine* engine_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::optional<engine::RequestId> id_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// What Generate and GenerateStream share: admission (auth, validation,
// conversion), Submit, cancellation, the finish status and the finish log
// line. Counts as a live call of `env` from construction to Done().
class GenerateCallCore {
 public:
  // `method` ("Generate", "GenerateStream") names the call in logs.
  GenerateCallCore(ServiceEnv* env, grpc::CallbackServerContext* context,
                   const v1::GenerateRequest* request,
                   absl::string_view method);

  // Admits the request and submits it with `sink`. `before_submit` sees the
  // valid engine request just before Submit (after Submit the sink may
  // finish the call on the engine thread at any moment). On error nothing
  // is submitted, the rejection is counted, and the error is what the call
  // must finish with.
  absl::Status Submit(
      std::shared_ptr<engine::RequestSink> sink,
      absl::FunctionRef<void(const engine::Request&)> before_submit);

  // From OnCancel: cancels the engine request (now or once submitted).
  void Cancel() { latch_.Cancel(); }

  // Records the engine's finish and how the call ends in record().status
  // (OK, or the error for the client: FinishStatus in status_mapping.h).
  void Finish(const engine::FinishInfo& info);

  // From OnDone: logs a submitted request's finish, then the call is no
  // longer live.
  void Done();

  engine::Engine* engine() const { return engine_; }
  const v1::GenerateRequest& request() const { return *request_; }
  // What the call knows, filled as it goes (method at construction, tenant
  // once authenticated, request id once converted, finish and status at
  // the end): the finish log line and the metrics read it.
  RequestRecord& record() { return record_; }

 private:
  ServiceEnv* const env_;
  grpc::CallbackServerContext* const context_;
  const v1::GenerateRequest* const request_;
  engine::Engine* engine_ = nullptr;
  CancelLatch latch_;
  RequestRecord record_;
  bool submitted_ = false;
};

class UnaryGenerateCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryGenerateCall(ServiceEnv* env, grpc::CallbackServerContext* context,
                    const v1::GenerateRequest* request,
                    v1::GenerateResponse* response);

  // Admits and submits, or finishes the call with the error.
  void Start();

  void OnCancel() override;
  void OnDone() override;

 private:
  class Sink;

  GenerateCallCore core_;                 // its record is written before Finish
  v1::GenerateResponse* const response_;  // gRPC's; written by the sink
};

class StreamGenerateCall final
    : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  StreamGenerateCall(ServiceEnv* env, grpc::CallbackServerContext* context,
                     const v1::GenerateRequest* request);

  void Start();

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class Sink;
  enum class Action { kNone, kWrite, kWriteAndFinish, kFinish };

  // Engine thread (via Sink).
  void Push(absl::Span<const engine::GeneratedToken> tokens,
            absl::string_view text);
  void Close(const engine::FinishInfo& info);

  // Decides the next stream operation; fills out_ for writes.
  Action NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts it. Must be the caller's last use of the call: a finish may
  // delete it before Run returns. Static, because once the lock is released
  // with kNone another thread may already have finished and deleted the
  // call, and even a member call on it is undefined (UBSan's vptr check
  // reads the deleted object): for kNone Run does not touch `call`.
  static void Run(StreamGenerateCall* call, Action action);
  bool HasPendingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakePendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  GenerateCallCore core_;            // its record is complete before the finish
  std::vector<int32_t> prompt_ids_;  // sent first when asked for

  absl::Mutex mu_;
  v1::GenerateResponse pending_ ABSL_GUARDED_BY(mu_);
  v1::GenerateResponse out_;  // the message in flight; gRPC reads it
  bool first_message_ ABSL_GUARDED_BY(mu_) = true;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_started_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // client gone
  std::optional<engine::FinishInfo> finish_ ABSL_GUARDED_BY(mu_);
  absl::Status final_status_;  // for kFinish, set with finish_started_
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_GENERATE_CALLS_H_
