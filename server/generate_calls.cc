#include "server/generate_calls.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/call_context.h"
#include "server/fmt_absl.h"
#include "server/request_convert.h"
#include "server/response_convert.h"
#include "server/status_mapping.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

struct Admission {
  engine::Engine* engine = nullptr;
  engine::Request request;
};

// Everything before Submit. `record->tenant` is set as soon as it is known
// (for the rejection metric).
absl::StatusOr<Admission> Admit(ServiceEnv* env,
                                const grpc::CallbackServerContext* context,
                                const v1::GenerateRequest& request,
                                CallRecord* record) {
  Admission a;
  ASSIGN_OR_RETURN(a.engine, env->AdmitEngine());
  std::shared_ptr<const AuthTable> auth = env->auth()->table();
  ASSIGN_OR_RETURN(record->tenant,
                   auth->AuthenticateTenant(AuthorizationOf(context)));
  ASSIGN_OR_RETURN(a.request, ToEngineRequest(request, a.engine->model_config(),
                                              a.engine->tokenizer(),
                                              env->limits(), record->tenant));
  if (a.request.request_id.empty()) a.request.request_id = env->NewRequestId();
  record->request_id = a.request.request_id;
  a.request.deadline = DeadlineOf(context, env->clock());
  return a;
}

// Submit's errors as the client should see them.
absl::Status SubmitError(const absl::Status& status, absl::string_view tenant) {
  if (status.code() == absl::StatusCode::kNotFound) {
    // The key's tenant was removed by a reload a moment ago.
    return absl::UnauthenticatedError(absl::StrCat(
        "tenant '", tenant, "' is no longer configured: ", status.message()));
  }
  return status;
}

void Reject(ServiceEnv* env, const CallRecord& record, absl::string_view method,
            const absl::Status& status) {
  env->metrics()->RecordRejected(record.tenant, status.code());
  spdlog::debug("{} rejected: tenant='{}' status={} {}", method, record.tenant,
                absl::StatusCodeToString(status.code()), status.message());
}

void LogFinished(ServiceEnv* env, const CallRecord& record,
                 absl::string_view method) {
  env->metrics()->RecordFinished(record.tenant, record.info);
  RequestRecord r;
  r.method = std::string(method);
  r.tenant = record.tenant;
  r.request_id = record.request_id;
  r.info = record.info;
  r.status = record.status;
  env->request_log()->Log(r);
}

}  // namespace

void CancelLatch::SetId(engine::Engine* engine, engine::RequestId id) {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    id_ = id;
    cancel = cancelled_;
  }
  // Outside the lock: the engine may call sinks while it holds its own.
  if (cancel) engine->Cancel(id);
}

void CancelLatch::Cancel(engine::Engine* engine) {
  std::optional<engine::RequestId> id;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    id = id_;
  }
  if (id.has_value() && engine != nullptr) engine->Cancel(*id);
}

// ---------------------------------------------------------------- unary

class UnaryGenerateCall::Sink final : public engine::RequestSink {
 public:
  explicit Sink(UnaryGenerateCall* call) : call_(call) {}

  void OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                absl::string_view text) override {
    v1::GenerateResponse* r = call_->response_;
    r->mutable_text()->append(text.data(), text.size());
    AppendTokens(tokens, call_->request_->response(),
                 call_->engine_->tokenizer(), r);
  }

  void OnFinish(const engine::FinishInfo& info) override {
    UnaryGenerateCall* call = call_;
    call_ = nullptr;  // the call may be gone once Finish returns
    call->record_.info = info;
    call->record_.status = FinishStatus(info);
    if (call->record_.status.ok()) SetFinished(info, call->response_);
    call->Finish(ToGrpcStatus(call->record_.status));
  }

 private:
  UnaryGenerateCall* call_;
};

UnaryGenerateCall::UnaryGenerateCall(ServiceEnv* env,
                                     grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response)
    : env_(env), context_(context), request_(request), response_(response) {
  env_->CallStarted();
}

void UnaryGenerateCall::Start() {
  absl::StatusOr<Admission> admission =
      Admit(env_, context_, *request_, &record_);
  if (!admission.ok()) {
    Reject(env_, record_, "Generate", admission.status());
    Finish(ToGrpcStatus(admission.status()));
    return;
  }
  engine_ = admission->engine;
  response_->set_request_id(record_.request_id);
  if (request_->response().prompt_token_ids()) {
    response_->mutable_prompt_token_ids()->Add(
        admission->request.prompt.begin(), admission->request.prompt.end());
  }
  // Marked before Submit: once submitted, the sink may finish the call on
  // the engine thread at any moment.
  record_.submitted = true;
  absl::StatusOr<engine::RequestId> id = engine_->Submit(
      std::move(admission->request), std::make_shared<Sink>(this));
  if (!id.ok()) {
    record_.submitted = false;
    const absl::Status status = SubmitError(id.status(), record_.tenant);
    Reject(env_, record_, "Generate", status);
    Finish(ToGrpcStatus(status));
    return;
  }
  latch_.SetId(engine_, *id);
}

void UnaryGenerateCall::OnCancel() { latch_.Cancel(engine_); }

void UnaryGenerateCall::OnDone() {
  if (record_.submitted) LogFinished(env_, record_, "Generate");
  env_->CallDone();
  delete this;
}

// ---------------------------------------------------------------- stream

class StreamGenerateCall::Sink final : public engine::RequestSink {
 public:
  explicit Sink(StreamGenerateCall* call) : call_(call) {}

  void OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                absl::string_view text) override {
    call_->Push(tokens, text);
  }
  void OnFinish(const engine::FinishInfo& info) override {
    StreamGenerateCall* call = call_;
    call_ = nullptr;
    call->Close(info);
  }

 private:
  StreamGenerateCall* call_;
};

StreamGenerateCall::StreamGenerateCall(ServiceEnv* env,
                                       grpc::CallbackServerContext* context,
                                       const v1::GenerateRequest* request)
    : env_(env), context_(context), request_(request) {
  env_->CallStarted();
}

void StreamGenerateCall::Start() {
  absl::StatusOr<Admission> admission =
      Admit(env_, context_, *request_, &record_);
  if (!admission.ok()) {
    Reject(env_, record_, "GenerateStream", admission.status());
    Finish(ToGrpcStatus(admission.status()));
    return;
  }
  engine_ = admission->engine;
  if (request_->response().prompt_token_ids()) {
    prompt_ids_ = admission->request.prompt;
  }
  record_.submitted = true;
  absl::StatusOr<engine::RequestId> id = engine_->Submit(
      std::move(admission->request), std::make_shared<Sink>(this));
  if (!id.ok()) {
    record_.submitted = false;
    const absl::Status status = SubmitError(id.status(), record_.tenant);
    Reject(env_, record_, "GenerateStream", status);
    Finish(ToGrpcStatus(status));
    return;
  }
  latch_.SetId(engine_, *id);
}

bool StreamGenerateCall::HasPendingLocked() const {
  return !pending_.text().empty() || pending_.token_ids_size() > 0 ||
         pending_.tokens_size() > 0 || (first_message_ && !prompt_ids_.empty());
}

void StreamGenerateCall::TakePendingLocked() {
  out_.Clear();
  out_.Swap(&pending_);  // both keep their buffers for reuse
  out_.set_request_id(record_.request_id);
  if (first_message_ && !prompt_ids_.empty()) {
    out_.mutable_prompt_token_ids()->Add(prompt_ids_.begin(),
                                         prompt_ids_.end());
  }
  first_message_ = false;
}

StreamGenerateCall::Action StreamGenerateCall::NextLocked() {
  if (finish_started_ || write_in_flight_) return Action::kNone;
  if (broken_) {
    if (!finish_.has_value()) return Action::kNone;  // wait for the engine
    finish_started_ = true;
    final_status_ =
        grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    return Action::kFinish;
  }
  if (finish_.has_value() && record_.status.ok()) {
    TakePendingLocked();
    SetFinished(*finish_, &out_);
    finish_started_ = true;
    return Action::kWriteAndFinish;
  }
  if (HasPendingLocked()) {
    TakePendingLocked();
    write_in_flight_ = true;
    return Action::kWrite;
  }
  if (finish_.has_value()) {
    finish_started_ = true;
    final_status_ = ToGrpcStatus(record_.status);
    return Action::kFinish;
  }
  return Action::kNone;
}

void StreamGenerateCall::Run(Action action) {
  switch (action) {
    case Action::kNone:
      return;
    case Action::kWrite:
      StartWrite(&out_);
      return;
    case Action::kWriteAndFinish:
      StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
      return;
    case Action::kFinish:
      Finish(final_status_);
      return;
  }
}

void StreamGenerateCall::Push(absl::Span<const engine::GeneratedToken> tokens,
                              absl::string_view text) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    if (broken_) return;
    pending_.mutable_text()->append(text.data(), text.size());
    AppendTokens(tokens, request_->response(), engine_->tokenizer(), &pending_);
    action = NextLocked();
  }
  Run(action);
}

void StreamGenerateCall::Close(const engine::FinishInfo& info) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    record_.info = info;
    record_.status = FinishStatus(info);
    finish_ = info;
    action = NextLocked();
  }
  Run(action);
}

void StreamGenerateCall::OnWriteDone(bool ok) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) broken_ = true;
    action = NextLocked();
  }
  Run(action);
}

void StreamGenerateCall::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  latch_.Cancel(engine_);
}

void StreamGenerateCall::OnDone() {
  if (record_.submitted) {
    if (record_.status.ok() && !final_status_.ok()) {
      record_.status = absl::CancelledError(final_status_.error_message());
    }
    LogFinished(env_, record_, "GenerateStream");
  }
  env_->CallDone();
  delete this;
}

}  // namespace kvasir::server
