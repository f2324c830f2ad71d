#include "server/http/openai_call.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/bounded_text.h"
#include "common/field_error.h"
#include "common/status_macros.h"
#include "engine/chat/chat_template.h"
#include "engine/request_validation.h"
#include "server/fmt_absl.h"
#include "server/http/openai_response.h"
#include "server/http/peer_socket.h"
#include "server/request_log.h"
#include "server/rpc/status_mapping.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

using json = nlohmann::json;

// The engine's output of one request, handed from the engine thread to the
// connection's thread. Thread-safe; the engine side never blocks beyond the
// mutex.
class OutputBuffer final : public engine::RequestSink {
 public:
  struct Batch {
    std::vector<engine::GeneratedToken> tokens;
    std::string text;
    std::optional<engine::FinishInfo> finish;
  };

  void OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    pending_.tokens.insert(pending_.tokens.end(), tokens.begin(), tokens.end());
    pending_.text.append(text.data(), text.size());
  }
  void OnFinish(const engine::FinishInfo& info) override {
    absl::MutexLock lock(&mu_);
    pending_.finish = info;
    finished_ = true;
  }

  // What arrived since the last Take; waits up to `timeout` for something
  // when nothing has (an empty batch then).
  Batch Take(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !pending_.text.empty() || !pending_.tokens.empty() ||
             pending_.finish.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    Batch out = std::move(pending_);
    pending_ = Batch();
    return out;
  }
  // Blocks until OnFinish (which the engine guarantees: at the latest when
  // the drain ends).
  void WaitForFinish() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&finished_));
  }
  // WaitForFinish for at most `timeout`; whether the finish came.
  bool WaitForFinishFor(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&finished_), timeout);
  }

 private:
  absl::Mutex mu_;
  Batch pending_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

std::string MethodName(OpenAiEndpoint endpoint, bool stream) {
  return absl::StrCat(endpoint == OpenAiEndpoint::kCompletions
                          ? "POST /v1/completions"
                          : "POST /v1/chat/completions",
                      stream ? " (stream)" : "");
}

absl::StatusOr<std::optional<absl::string_view>> AuthorizationOf(
    const httplib::Request& req) {
  // A case-insensitive multimap: every spelling of the header counts.
  const auto [begin, end] = req.headers.equal_range("Authorization");
  std::vector<absl::string_view> values;
  for (auto it = begin; it != end; ++it) values.emplace_back(it->second);
  return SingleAuthorization(values, "Authorization");
}

struct Admission {
  engine::Engine* engine = nullptr;
  OpenAiRequest request;
};

absl::StatusOr<Admission> Admit(ServiceEnv* env,
                                const OpenAiCallOptions& options,
                                OpenAiEndpoint endpoint,
                                const httplib::Request& req,
                                absl::string_view body_text,
                                RequestRecord* record) {
  Admission a;
  ASSIGN_OR_RETURN(a.engine, env->AdmitEngine());
  std::shared_ptr<const AuthTable> auth = env->auth()->table();
  ASSIGN_OR_RETURN(const std::optional<absl::string_view> authorization,
                   AuthorizationOf(req));
  ASSIGN_OR_RETURN(record->tenant, auth->AuthenticateTenant(authorization));
  ASSIGN_OR_RETURN(const json body, ParseJsonBody(body_text));
  OpenAiModelInfo model;
  model.id = options.model_id;
  model.tokenizer = &a.engine->tokenizer();
  model.limits = &a.engine->request_limits();
  if (endpoint == OpenAiEndpoint::kCompletions) {
    ASSIGN_OR_RETURN(a.request, ParseCompletionRequest(body, model));
  } else {
    ASSIGN_OR_RETURN(a.request, ParseChatRequest(body, model));
    // The model's chat template renders the conversation (engine/chat/):
    // its markers become control tokens, the messages' text never does. No
    // template: a 400 saying so.
    std::vector<engine::chat::Message> messages;
    messages.reserve(a.request.messages.size());
    for (const ChatMessageIn& m : a.request.messages) {
      messages.push_back({m.role, m.content});
    }
    absl::StatusOr<std::vector<int32_t>> prompt = engine::EncodeChatPrompt(
        messages, a.engine->chat_template(), a.engine->tokenizer(),
        a.engine->request_limits());
    if (!prompt.ok()) return ToOpenAiField(prompt.status(), a.request);
    a.request.engine.prompt = *std::move(prompt);
  }
  record->method = MethodName(endpoint, a.request.stream);
  record->user = a.request.user;
  engine::Request& r = a.request.engine;
  r.tenant = record->tenant;
  r.request_id = req.get_header_value("X-Request-Id");
  if (r.request_id.empty()) r.request_id = env->NewRequestId();
  record->request_id = r.request_id;
  ASSIGN_OR_RETURN(r.deadline, RequestDeadline(req, env->clock()));
  return a;
}

void Reject(ServiceEnv* env, const RequestRecord& record,
            const absl::Status& status, httplib::Response& res) {
  env->metrics()->RecordRejected(record.tenant, status.code());
  spdlog::debug("{} rejected: tenant='{}' status={} {}", record.method,
                record.tenant, absl::StatusCodeToString(status.code()),
                status.message());
  WriteOpenAiError(status, res);
}

void LogFinished(ServiceEnv* env, const RequestRecord& record) {
  env->metrics()->RecordFinished(record.tenant, record.info);
  env->request_log()->Log(record);
}

// The live-call count of the env over one handler's scope, or handed on
// to a stream (which ends the call after its last write).
class LiveCall {
 public:
  explicit LiveCall(ServiceEnv* env) : env_(env) { env_->CallStarted(); }
  ~LiveCall() {
    if (env_ != nullptr) env_->CallDone();
  }
  LiveCall(const LiveCall&) = delete;
  LiveCall& operator=(const LiveCall&) = delete;
  LiveCall(LiveCall&& other) : env_(std::exchange(other.env_, nullptr)) {}

 private:
  ServiceEnv* env_;
};

// A streaming response: Provide writes SSE events on the connection's
// thread (httplib calls it until it calls sink.done() or fails); Release
// (from ~Response) cancels the request if the stream did not end, waits
// for the engine's finish, and logs it. Used from that one thread only.
class StreamCall {
 public:
  StreamCall(ServiceEnv* env, LiveCall live, engine::Engine* engine,
             engine::RequestId id, std::shared_ptr<OutputBuffer> output,
             const OpenAiRequest& request, RequestRecord record,
             ResponseMeta meta, absl::Duration keep_alive)
      : env_(env),
        live_(std::move(live)),
        engine_(engine),
        id_(id),
        output_(std::move(output)),
        record_(std::move(record)),
        meta_(std::move(meta)),
        logprobs_(meta_.endpoint, request.engine.top_logprobs,
                  &engine->tokenizer()),
        want_logprobs_(request.logprobs),
        include_usage_(request.include_usage),
        keep_alive_(keep_alive) {}

  bool Provide(httplib::DataSink& sink) {
    OutputBuffer::Batch batch = output_->Take(keep_alive_);
    std::string out;
    // Tokens whose text is held back (a possible stop string's start) make
    // no chunk of their own, unless their logprobs are wanted: an empty
    // delta mid-stream breaks clients that join delta.content.
    const bool has_output =
        !batch.text.empty() || (want_logprobs_ && !batch.tokens.empty());
    const bool chat = meta_.endpoint == OpenAiEndpoint::kChatCompletions;
    if (has_output || (first_ && chat && batch.finish.has_value())) {
      json lp = nullptr;
      if (want_logprobs_) {
        logprobs_.Add(batch.tokens);
        lp = logprobs_.Take();
      }
      out += SseEvent(ChunkJson(meta_, batch.text, std::move(lp), first_,
                                nullptr, include_usage_));
      first_ = false;
    }
    if (batch.finish.has_value()) {
      Finish(*batch.finish, &out);
      if (!sink.write(out.data(), out.size())) return false;
      sink.done();
      return true;
    }
    if (out.empty()) out = std::string(kSseKeepAlive);
    return sink.write(out.data(), out.size());
  }

  void Release() {
    if (!finished_) {
      // The client went away (a write failed) or the server stopped
      // before the end: the request must not run on for nobody.
      engine_->Cancel(id_);
      output_->WaitForFinish();
      OutputBuffer::Batch rest = output_->Take(absl::ZeroDuration());
      record_.info = *rest.finish;
      record_.status =
          rest.finish->reason == engine::FinishReason::kCancelled
              ? absl::CancelledError("the client went away mid-stream")
              : FinishStatus(*rest.finish, env_->drain_timeout());
    }
    LogFinished(env_, record_);
  }

 private:
  void Finish(const engine::FinishInfo& info, std::string* out) {
    finished_ = true;
    record_.info = info;
    record_.status = FinishStatus(info, env_->drain_timeout());
    if (!record_.status.ok()) {
      *out += SseEvent(ErrorJson(record_.status, ToHttpError(record_.status)));
      return;
    }
    *out +=
        SseEvent(ChunkJson(meta_, "", nullptr, first_, &info, include_usage_));
    if (include_usage_) *out += SseEvent(UsageChunkJson(meta_, info));
    absl::StrAppend(out, kSseDone);
  }

  ServiceEnv* const env_;
  LiveCall live_;
  engine::Engine* const engine_;
  const engine::RequestId id_;
  const std::shared_ptr<OutputBuffer> output_;
  RequestRecord record_;
  const ResponseMeta meta_;
  LogprobsBuilder logprobs_;
  const bool want_logprobs_;
  const bool include_usage_;
  const absl::Duration keep_alive_;
  bool first_ = true;
  bool finished_ = false;
};

}  // namespace

void WriteOpenAiError(const absl::Status& status, httplib::Response& res) {
  const HttpError e = ToHttpError(status);
  res.status = e.status;
  res.set_content(Dump(ErrorJson(status, e)), "application/json");
}

absl::StatusOr<absl::Time> RequestDeadline(const httplib::Request& req,
                                           Clock* clock) {
  if (!req.has_header("X-Request-Timeout")) return absl::InfiniteFuture();
  const std::string value = req.get_header_value("X-Request-Timeout");
  double seconds = 0;
  if (!absl::SimpleAtod(value, &seconds) || !(seconds > 0) || seconds > 1e9) {
    return FieldError("X-Request-Timeout",
                      absl::StrCat(Quoted(value),
                                   " is not a timeout (seconds > 0, e.g. "
                                   "30 or 0.5)"));
  }
  return clock->Now() + absl::Seconds(seconds);
}

void HandleOpenAiGenerate(ServiceEnv* env, const OpenAiCallOptions& options,
                          OpenAiEndpoint endpoint, const httplib::Request& req,
                          absl::string_view body, httplib::Response& res) {
  LiveCall live(env);
  RequestRecord record;
  record.method = MethodName(endpoint, false);
  absl::StatusOr<Admission> admission =
      Admit(env, options, endpoint, req, body, &record);
  if (!admission.ok()) {
    // Refused before the engine saw it, but after its tenant was known
    // (a body that does not convert): the tenant's usage counts it.
    engine::Engine* known = env->engine();
    if (known != nullptr && !record.tenant.empty()) {
      known->ChargeRefusal(record.tenant, admission.status());
    }
    Reject(env, record, admission.status(), res);
    return;
  }
  engine::Engine* engine = admission->engine;
  const OpenAiRequest& request = admission->request;
  ResponseMeta meta;
  meta.endpoint = endpoint;
  // The server's own request id (the log's) when it gave one; never the
  // client's X-Request-Id, which two requests may share.
  meta.id = absl::StrCat(
      endpoint == OpenAiEndpoint::kCompletions ? "cmpl-" : "chatcmpl-",
      req.has_header("X-Request-Id") ? env->NewUniqueSuffix()
                                     : record.request_id);
  meta.created = absl::ToUnixSeconds(env->clock()->Now());
  meta.model = options.model_id;

  auto output = std::make_shared<OutputBuffer>();
  absl::StatusOr<engine::RequestId> id =
      engine->Submit(admission->request.engine, output);
  if (!id.ok()) {
    Reject(env, record, RefusalStatus(ToOpenAiField(id.status(), request)),
           res);
    return;
  }

  if (request.stream) {
    auto call = std::make_shared<StreamCall>(
        env, std::move(live), engine, *id, std::move(output), request,
        std::move(record), std::move(meta), options.keep_alive);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [call](size_t /*offset*/, httplib::DataSink& sink) {
          return call->Provide(sink);
        },
        [call](bool /*success*/) { call->Release(); });
    return;
  }

  // A client that went away is noticed within client_check and its
  // request cancelled (its KV blocks freed), as a stream's is. The socket
  // is looked for once the request outlasts one check, so short requests
  // skip the search; without it (PeerSocket::Find failed) the request runs
  // to its end.
  std::optional<absl::StatusOr<PeerSocket>> peer;
  bool gone = false;
  while (!output->WaitForFinishFor(options.client_check)) {
    if (!peer.has_value()) peer = PeerSocket::Find(req);
    if (peer->ok() && (*peer)->PeerClosed()) {
      gone = true;
      engine->Cancel(*id);
      output->WaitForFinish();
      break;
    }
  }
  OutputBuffer::Batch all = output->Take(absl::ZeroDuration());
  record.info = *all.finish;
  record.status =
      gone && all.finish->reason == engine::FinishReason::kCancelled
          ? absl::CancelledError("the client went away before the response")
          : FinishStatus(*all.finish, env->drain_timeout());
  if (record.status.ok()) {
    json lp = nullptr;
    if (request.logprobs) {
      LogprobsBuilder builder(endpoint, request.engine.top_logprobs,
                              &engine->tokenizer());
      builder.Add(all.tokens);
      lp = builder.Take();
    }
    res.status = 200;
    res.set_content(
        Dump(CompletionJson(meta, all.text, std::move(lp), *all.finish)),
        "application/json");
  } else {
    WriteOpenAiError(record.status, res);
  }
  LogFinished(env, record);
}

}  // namespace kvasir::server
