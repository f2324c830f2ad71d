#include "server/rpc/generate_calls.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/fmt_absl.h"
#include "server/rpc/call_context.h"
#include "server/rpc/request_convert.h"
#include "server/rpc/response_convert.h"
#include "server/rpc/status_mapping.h"
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
                                RequestRecord* record) {
  Admission a;
  ASSIGN_OR_RETURN(a.engine, env->AdmitEngine());
  std::shared_ptr<const AuthTable> auth = env->auth()->table();
  ASSIGN_OR_RETURN(const std::optional<absl::string_view> authorization,
                   AuthorizationOf(context));
  ASSIGN_OR_RETURN(record->tenant, auth->AuthenticateTenant(authorization));
  ASSIGN_OR_RETURN(
      a.request,
      ToEngineRequest(request, a.engine->tokenizer(), a.engine->chat_template(),
                      a.engine->request_limits(), record->tenant));
  if (a.request.request_id.empty()) a.request.request_id = env->NewRequestId();
  record->request_id = a.request.request_id;
  a.request.deadline = DeadlineOf(context, env->clock());
  return a;
}

void Reject(ServiceEnv* env, const RequestRecord& record,
            const absl::Status& status) {
  env->metrics()->RecordRejected(record.tenant, status.code());
  spdlog::debug("{} rejected: tenant='{}' status={} {}", record.method,
                record.tenant, absl::StatusCodeToString(status.code()),
                status.message());
}

void LogFinished(ServiceEnv* env, const RequestRecord& record) {
  env->metrics()->RecordFinished(record.tenant, record.info);
  env->request_log()->Log(record);
}

}  // namespace

void CancelLatch::SetId(engine::Engine* engine, engine::RequestId id) {
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    engine_ = engine;
    id_ = id;
    cancel = cancelled_;
  }
  // Outside the lock: the engine may call sinks while it holds its own.
  if (cancel) engine->Cancel(id);
}

void CancelLatch::Cancel() {
  engine::Engine* engine = nullptr;
  std::optional<engine::RequestId> id;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    engine = engine_;
    id = id_;
  }
  if (id.has_value()) engine->Cancel(*id);
}

// ---------------------------------------------------------------- core

GenerateCallCore::GenerateCallCore(ServiceEnv* env,
                                   grpc::CallbackServerContext* context,
                                   const v1::GenerateRequest* request,
                                   absl::string_view method)
    : env_(env), context_(context), request_(request) {
  record_.method = std::string(method);
  env_->CallStarted();
}

absl::Status GenerateCallCore::Submit(
    std::shared_ptr<engine::RequestSink> sink,
    absl::FunctionRef<void(const engine::Request&)> before_submit) {
  absl::StatusOr<Admission> admission =
      Admit(env_, context_, *request_, &record_);
  if (!admission.ok()) {
    // Refused before the engine saw it, but after its tenant was known
    // (a field that does not convert): the tenant's usage counts it.
    engine::Engine* engine = env_->engine();
    if (engine != nullptr && !record_.tenant.empty()) {
      engine->ChargeRefusal(record_.tenant, admission.status());
    }
    Reject(env_, record_, admission.status());
    return admission.status();
  }
  engine_ = admission->engine;
  before_submit(admission->request);
  // Marked before Submit: once submitted, the sink may finish the call on
  // the engine thread at any moment.
  submitted_ = true;
  absl::StatusOr<engine::RequestId> id =
      engine_->Submit(std::move(admission->request), std::move(sink));
  if (!id.ok()) {
    submitted_ = false;
    const absl::Status status =
        RefusalStatus(ToGenerateRequestField(id.status(), *request_));
    Reject(env_, record_, status);
    return status;
  }
  latch_.SetId(engine_, *id);
  return absl::OkStatus();
}

void GenerateCallCore::Finish(const engine::FinishInfo& info) {
  record_.info = info;
  record_.status = FinishStatus(info, env_->drain_timeout());
}

void GenerateCallCore::Done() {
  if (submitted_) LogFinished(env_, record_);
  env_->CallDone();
}

// ---------------------------------------------------------------- unary

class UnaryGenerateCall::Sink final : public engine::RequestSink {
 public:
  explicit Sink(UnaryGenerateCall* call) : call_(call) {}

  void OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                absl::string_view text) override {
    v1::GenerateResponse* r = call_->response_;
    r->mutable_text()->append(text.data(), text.size());
    AppendTokens(tokens, call_->core_.request().response(),
                 call_->core_.engine()->tokenizer(), r);
  }

  void OnFinish(const engine::FinishInfo& info) override {
    UnaryGenerateCall* call = call_;
    call_ = nullptr;  // the call may be gone once Finish returns
    call->core_.Finish(info);
    const absl::Status& status = call->core_.record().status;
    if (status.ok()) SetFinished(info, call->response_);
    call->Finish(ToGrpcStatus(status));
  }

 private:
  UnaryGenerateCall* call_;
};

UnaryGenerateCall::UnaryGenerateCall(ServiceEnv* env,
                                     grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response)
    : core_(env, context, request, "Generate"), response_(response) {}

void UnaryGenerateCall::Start() {
  const absl::Status status = core_.Submit(
      std::make_shared<Sink>(this), [this](const engine::Request& r) {
        response_->set_request_id(r.request_id);
        if (core_.request().response().prompt_token_ids()) {
          response_->mutable_prompt_token_ids()->Add(r.prompt.begin(),
                                                     r.prompt.end());
        }
      });
  if (!status.ok()) Finish(ToGrpcStatus(status));
}

void UnaryGenerateCall::OnCancel() { core_.Cancel(); }

void UnaryGenerateCall::OnDone() {
  core_.Done();
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
    : core_(env, context, request, "GenerateStream") {}

void StreamGenerateCall::Start() {
  const absl::Status status = core_.Submit(
      std::make_shared<Sink>(this), [this](const engine::Request& r) {
        if (core_.request().response().prompt_token_ids()) {
          prompt_ids_ = r.prompt;
        }
      });
  if (!status.ok()) Finish(ToGrpcStatus(status));
}

bool StreamGenerateCall::HasPendingLocked() const {
  return !pending_.text().empty() || pending_.token_ids_size() > 0 ||
         pending_.tokens_size() > 0 || (first_message_ && !prompt_ids_.empty());
}

void StreamGenerateCall::TakePendingLocked() {
  out_.Clear();
  out_.Swap(&pending_);  // both keep their buffers for reuse
  out_.set_request_id(core_.record().request_id);
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
    final_status_ = absl::CancelledError("the client went away");
    return Action::kFinish;
  }
  if (finish_.has_value() && core_.record().status.ok()) {
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
    final_status_ = core_.record().status;
    return Action::kFinish;
  }
  return Action::kNone;
}

void StreamGenerateCall::Run(StreamGenerateCall* call, Action action) {
  switch (action) {
    case Action::kNone:
      return;
    case Action::kWrite:
      call->StartWrite(&call->out_);
      return;
    case Action::kWriteAndFinish:
      call->StartWriteAndFinish(&call->out_, grpc::WriteOptions(),
                                grpc::Status::OK);
      return;
    case Action::kFinish:
      call->Finish(ToGrpcStatus(call->final_status_));
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
    AppendTokens(tokens, core_.request().response(),
                 core_.engine()->tokenizer(), &pending_);
    action = NextLocked();
  }
  Run(this, action);
}

void StreamGenerateCall::Close(const engine::FinishInfo& info) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    core_.Finish(info);
    finish_ = info;
    action = NextLocked();
  }
  Run(this, action);
}

void StreamGenerateCall::OnWriteDone(bool ok) {
  Action action;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) broken_ = true;
    action = NextLocked();
  }
  Run(this, action);
}

void StreamGenerateCall::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }
  core_.Cancel();
}

void StreamGenerateCall::OnDone() {
  RequestRecord& record = core_.record();
  if (record.status.ok()) record.status = final_status_;
  core_.Done();
  delete this;
}

}  // namespace kvasir::server
