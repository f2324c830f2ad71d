#include "tools/client.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kvasir/v1/admin.grpc.pb.h"
#include "kvasir/v1/generation.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kvasir::tools {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 14;

// A message as protobuf's JSON printer writes it (the proto3 JSON
// mapping): the .proto's snake_case field names, zeros and empty lists
// printed, 64-bit integers as strings.
std::string ProtoJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) {
    return "{}";  // only for invalid UTF-8 strings, which the server never
                  // sends in these messages
  }
  return out;
}

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "UNAVAILABLE" etc.: gRPC's codes are absl's codes, with absl's names.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Prints a failed call and returns its exit code (the status code).
int Fail(const grpc::Status& status, const ClientOptions& o, std::ostream& out,
         std::ostream& err) {
  if (o.json) {
    Json j;
    j["error"] = {{"code", CodeName(status.error_code())},
                  {"code_number", static_cast<int>(status.error_code())},
                  {"message", status.error_message()}};
    out << Dump(j) << "\n";
  }
  err << "error: " << CodeName(status.error_code()) << ": "
      << status.error_message() << "\n";
  return static_cast<int>(status.error_code());
}

void Prepare(const ClientOptions& o, double default_timeout,
             grpc::ClientContext* ctx) {
  if (!o.api_key.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + o.api_key);
  }
  const double timeout =
      o.timeout_seconds > 0 ? o.timeout_seconds : default_timeout;
  if (timeout > 0) {
    ctx->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::microseconds(static_cast<int64_t>(timeout * 1e6)));
  }
}

const char* FinishName(v1::FinishReason r) {
  switch (r) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_EOS:
      return "eos";
    case v1::FINISH_REASON_STOP:
      return "stop";
    default:
      break;
  }
  return "unspecified";
}

v1::GenerateRequest BuildRequest(const ClientOptions& o) {
  v1::GenerateRequest r;
  r.set_request_id(o.request_id);
  if (!o.token_ids.empty()) {
    r.mutable_token_ids()->mutable_ids()->Add(o.token_ids.begin(),
                                              o.token_ids.end());
  } else {
    r.set_text(o.prompt);
    if (o.parse_special) r.set_parse_special(true);
  }
  v1::SamplingParameters* s = r.mutable_sampling();
  if (o.temperature) s->set_temperature(*o.temperature);
  if (o.top_k) s->set_top_k(*o.top_k);
  if (o.top_p) s->set_top_p(*o.top_p);
  if (o.min_p) s->set_min_p(*o.min_p);
  if (o.repetition_penalty) s->set_repetition_penalty(*o.repetition_penalty);
  if (o.seed) s->set_seed(*o.seed);
  v1::StoppingCriteria* st = r.mutable_stopping();
  if (o.max_tokens) st->set_max_new_tokens(*o.max_tokens);
  for (const std::string& stop : o.stop) st->add_stop_sequences(stop);
  st->set_include_stop_sequence(o.include_stop);
  st->set_ignore_eos(o.ignore_eos);
  v1::ResponseOptions* ro = r.mutable_response();
  ro->set_prompt_token_ids(o.json);
  ro->set_token_ids(o.json);
  ro->set_logprobs(o.logprobs);
  ro->set_top_logprobs(o.top_logprobs);
  r.set_priority(o.priority);
  return r;
}

// Accumulates Generate / GenerateStream output into the JSON object the
// client prints.
class Result {
 public:
  void Add(const v1::GenerateResponse& m) {
    if (!m.request_id().empty()) request_id_ = m.request_id();
    text_ += m.text();
    for (int32_t id : m.prompt_token_ids()) prompt_ids_.push_back(id);
    for (int32_t id : m.token_ids()) token_ids_.push_back(id);
    for (const v1::TokenInfo& t : m.tokens()) {
      Json e = {{"token_id", t.token_id()},
                {"text", t.text()},
                {"logprob", t.logprob()}};
      if (t.top_logprobs_size() > 0) {
        Json top = Json::array();
        for (const v1::TopLogprob& alt : t.top_logprobs()) {
          top.push_back({{"token_id", alt.token_id()},
                         {"text", alt.text()},
                         {"logprob", alt.logprob()}});
        }
        e["top_logprobs"] = std::move(top);
      }
      logprobs_.push_back(std::move(e));
    }
    if (m.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      finish_ = m.finish_reason();
      usage_ = m.usage();
    }
  }

  Json ToJson() const {
    Json j;
    j["request_id"] = request_id_;
    j["prompt_token_ids"] = prompt_ids_;
    j["token_ids"] = token_ids_;
    j["text"] = text_;
    j["finish_reason"] = FinishName(finish_);
    j["usage"] = Json::parse(ProtoJson(usage_));
    if (!logprobs_.empty()) j["logprobs"] = logprobs_;
    return j;
  }

 private:
  std::string request_id_;
  std::string text_;
  std::vector<int32_t> prompt_ids_;
  std::vector<int32_t> token_ids_;
  Json logprobs_ = Json::array();
  v1::FinishReason finish_ = v1::FINISH_REASON_UNSPECIFIED;
  v1::Usage usage_;
};

int Generate(const std::shared_ptr<grpc::Channel>& channel,
             const ClientOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::GenerateResponse response;
  grpc::Status status = stub->Generate(&ctx, BuildRequest(o), &response);
  if (!status.ok()) return Fail(status, o, out, err);
  if (o.json) {
    Result r;
    r.Add(response);
    out << Dump(r.ToJson()) << "\n";
  } else {
    out << response.text() << "\n";
  }
  return 0;
}

int Stream(const std::shared_ptr<grpc::Channel>& channel,
           const ClientOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub->GenerateStream(&ctx, BuildRequest(o));
  v1::GenerateResponse m;
  Result r;
  while (reader->Read(&m)) {
    if (o.json) {
      r.Add(m);
    } else {
      out << m.text() << std::flush;  // as it arrives
    }
  }
  grpc::Status status = reader->Finish();
  if (!o.json) out << "\n";
  if (!status.ok()) return Fail(status, o, out, err);
  if (o.json) out << Dump(r.ToJson()) << "\n";
  return 0;
}

// One chat turn: `history` (ending with the user's message) rendered by the
// server; the reply streamed to `out` and appended to `history`. On failure
// the user's message is taken back, so the conversation can go on.
int ChatTurn(v1::Generation::Stub* stub, const ClientOptions& o,
             v1::ChatMessages* history, std::ostream& out, std::ostream& err) {
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::GenerateRequest request = BuildRequest(o);
  *request.mutable_messages() = *history;
  if (!o.max_tokens) {
    request.mutable_stopping()->set_max_new_tokens(kChatDefaultMaxTokens);
  }
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub->GenerateStream(&ctx, request);
  v1::GenerateResponse m;
  Result r;
  std::string reply;
  while (reader->Read(&m)) {
    reply += m.text();
    if (o.json) {
      r.Add(m);
    } else {
      out << m.text() << std::flush;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!o.json) out << "\n";
  if (!status.ok()) {
    history->mutable_messages()->RemoveLast();
    return Fail(status, o, out, err);
  }
  if (o.json) out << Dump(r.ToJson()) << "\n";
  v1::ChatMessage* answer = history->add_messages();
  answer->set_role("assistant");
  answer->set_content(reply);
  return 0;
}

int Tokenize(const std::shared_ptr<grpc::Channel>& channel,
             const ClientOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::TokenizeRequest request;
  request.set_text(o.prompt);
  request.set_add_bos(!o.no_bos);
  if (o.parse_special) request.set_parse_special(true);
  request.set_return_pieces(true);
  v1::TokenizeResponse response;
  grpc::Status status = stub->Tokenize(&ctx, request, &response);
  if (!status.ok()) return Fail(status, o, out, err);
  if (o.json) {
    Json j;
    j["token_ids"] = std::vector<int32_t>(response.token_ids().begin(),
                                          response.token_ids().end());
    j["pieces"] = std::vector<std::string>(response.pieces().begin(),
                                           response.pieces().end());
    j["token_count"] = response.token_count();
    out << Dump(j) << "\n";
  } else {
    for (int i = 0; i < response.token_ids_size(); ++i) {
      out << (i == 0 ? "" : " ") << response.token_ids(i);
    }
    out << "\n";
  }
  return 0;
}

int Info(const std::shared_ptr<grpc::Channel>& channel, const ClientOptions& o,
         std::ostream& out, std::ostream& err) {
  auto stub = v1::Generation::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::ModelInfoResponse m;
  grpc::Status status = stub->ModelInfo(&ctx, v1::ModelInfoRequest(), &m);
  if (!status.ok()) return Fail(status, o, out, err);
  const std::string mode =
      m.attention_mode() == v1::ATTENTION_MODE_MHA   ? "MHA"
      : m.attention_mode() == v1::ATTENTION_MODE_GQA ? "GQA"
      : m.attention_mode() == v1::ATTENTION_MODE_MQA ? "MQA"
                                                     : "unknown";
  Json j;
  j["name"] = m.name();
  j["architecture"] = m.architecture();
  j["vocab_size"] = m.vocab_size();
  j["dim"] = m.dim();
  j["n_layers"] = m.n_layers();
  j["n_heads"] = m.n_heads();
  j["n_kv_heads"] = m.n_kv_heads();
  j["head_dim"] = m.head_dim();
  j["attention_mode"] = mode;
  j["group_size"] = m.group_size();
  j["context_length"] = m.context_length();
  j["bos_id"] = m.bos_id();
  j["eos_id"] = m.eos_id();
  j["kv_dtype"] = m.kv_dtype();
  j["kv_bytes_per_token"] = m.kv_bytes_per_token();
  j["block_size"] = m.block_size();
  j["kv_capacity_blocks"] = m.kv_capacity_blocks();
  j["kv_capacity_tokens"] = m.kv_capacity_tokens();
  if (o.json) {
    out << Dump(j) << "\n";
  } else {
    for (const auto& [key, value] : j.items()) {
      out << key << ": "
          << (value.is_string() ? value.get<std::string>() : value.dump())
          << "\n";
    }
  }
  return 0;
}

int Stats(const std::shared_ptr<grpc::Channel>& channel, const ClientOptions& o,
          std::ostream& out, std::ostream& err) {
  auto stub = v1::Admin::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::GetStatsResponse s;
  grpc::Status status = stub->GetStats(&ctx, v1::GetStatsRequest(), &s);
  if (!status.ok()) return Fail(status, o, out, err);
  if (o.json) {
    out << ProtoJson(s) << "\n";
    return 0;
  }
  out << "blocks: " << s.total_blocks() << " total, " << s.free_blocks()
      << " free, " << s.cached_blocks() << " cached (" << s.block_size()
      << " tokens, " << s.block_bytes() << " bytes each)\n"
      << "requests: " << s.running() << " running, " << s.queued()
      << " queued; steps " << s.steps() << ", preemptions " << s.preemptions()
      << ", prefix hit rate " << s.prefix_hit_rate() << "\n";
  for (const v1::TenantStats& t : s.tenants()) {
    out << "tenant " << t.name() << ": kv blocks " << t.kv_used_blocks()
        << " used / " << t.kv_reserved_blocks() << " reserved / "
        << t.kv_limit_blocks() << " limit" << (t.over_limit() ? " (OVER)" : "")
        << "; " << t.running() << " running, " << t.queued()
        << " queued; tokens served " << t.tokens_served() << "; preemptions "
        << t.preemptions() << "\n";
  }
  return 0;
}

// "cancelled 1, length 3": the nonzero counts of a map by name (a proto
// map's own order is unspecified), or "none".
std::string NonZero(const google::protobuf::Map<std::string, int64_t>& m) {
  const std::map<std::string, int64_t> sorted(m.begin(), m.end());
  std::string s;
  for (const auto& [name, n] : sorted) {
    if (n == 0) continue;
    s += (s.empty() ? "" : ", ") + name + " " + std::to_string(n);
  }
  return s.empty() ? "none" : s;
}

int Usage(const std::shared_ptr<grpc::Channel>& channel, const ClientOptions& o,
          std::ostream& out, std::ostream& err) {
  auto stub = v1::Admin::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::GetUsageRequest request;
  request.set_reset(o.reset);
  v1::GetUsageResponse u;
  grpc::Status status = stub->GetUsage(&ctx, request, &u);
  if (!status.ok()) return Fail(status, o, out, err);
  if (o.json) {
    out << ProtoJson(u) << "\n";
    return 0;
  }
  out << "usage over " << u.until_unix_seconds() - u.since_unix_seconds()
      << " s" << (o.reset ? " (now reset to zero)" : "") << "\n";
  for (const v1::TenantUsage& t : u.tenants()) {
    out << "tenant " << t.name() << (t.configured() ? "" : " (removed)")
        << ": requests " << NonZero(t.requests()) << "; refused "
        << NonZero(t.refused()) << "; prompt tokens " << t.prompt_tokens()
        << " (" << t.cached_prompt_tokens() << " cached), generated "
        << t.generated_tokens() << "; kv byte-seconds " << t.kv_byte_seconds()
        << "\n";
  }
  return 0;
}

int Reload(const std::shared_ptr<grpc::Channel>& channel,
           const ClientOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = v1::Admin::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, 0, &ctx);
  v1::ReloadConfigResponse r;
  grpc::Status status = stub->ReloadConfig(&ctx, v1::ReloadConfigRequest(), &r);
  if (!status.ok()) return Fail(status, o, out, err);
  if (o.json) {
    Json j;
    j["config_path"] = r.config_path();
    j["applied"] =
        std::vector<std::string>(r.applied().begin(), r.applied().end());
    j["restart_required"] = std::vector<std::string>(
        r.restart_required().begin(), r.restart_required().end());
    out << Dump(j) << "\n";
    return 0;
  }
  out << "reloaded " << r.config_path() << "\n";
  if (r.applied_size() == 0 && r.restart_required_size() == 0) {
    out << "no changes\n";
  }
  for (const std::string& c : r.applied()) out << "applied: " << c << "\n";
  for (const std::string& c : r.restart_required()) {
    out << "not applied: " << c << "\n";
  }
  return 0;
}

int Health(const std::shared_ptr<grpc::Channel>& channel,
           const ClientOptions& o, std::ostream& out, std::ostream& err) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  Prepare(o, /*default_timeout=*/5, &ctx);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(o.service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&ctx, request, &response);
  if (!status.ok()) return Fail(status, o, out, err);
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
          response.status());
  if (o.json) {
    out << Dump(Json{{"status", name}}) << "\n";
  } else {
    out << name << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? 0
             : kExitUnavailable;
}

}  // namespace

int RunChat(const ClientOptions& o, std::istream& in, bool interactive,
            std::ostream& out, std::ostream& err) {
  if (!o.token_ids.empty()) {
    err << "error: chat takes text (--prompt or lines of input), not "
           "--token-ids\n";
    return kExitUsage;
  }
  auto stub = v1::Generation::NewStub(
      grpc::CreateChannel(o.addr, grpc::InsecureChannelCredentials()));
  v1::ChatMessages history;
  if (!o.system.empty()) {
    v1::ChatMessage* system = history.add_messages();
    system->set_role("system");
    system->set_content(o.system);
  }
  auto say = [&](const std::string& text) {
    v1::ChatMessage* user = history.add_messages();
    user->set_role("user");
    user->set_content(text);
    return ChatTurn(stub.get(), o, &history, out, err);
  };
  if (!o.prompt.empty()) return say(o.prompt);
  std::string line;
  while (true) {
    if (interactive) out << "> " << std::flush;
    if (!std::getline(in, line)) break;
    if (line.empty()) continue;
    if (interactive && (line == "/exit" || line == "/quit")) break;
    const int code = say(line);
    if (code != 0 && !interactive) return code;
  }
  if (interactive) out << "\n";
  return 0;
}

int RunClient(const ClientOptions& o, std::ostream& out, std::ostream& err) {
  const bool generates = o.command == "generate" || o.command == "stream";
  if (generates && o.prompt.empty() && o.token_ids.empty()) {
    err << "error: " << o.command << " needs --prompt TEXT or --token-ids\n";
    return kExitUsage;
  }
  // gRPC aborts the process on a header value outside printable ASCII.
  for (size_t i = 0; i < o.api_key.size(); ++i) {
    const auto c = static_cast<unsigned char>(o.api_key[i]);
    if (c < 0x20 || c > 0x7e) {
      err << "error: --api-key has a control or non-ASCII byte at offset " << i
          << " (a trailing newline from a file?); keys are printable "
             "ASCII\n";
      return kExitUsage;
    }
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(o.addr, grpc::InsecureChannelCredentials());
  if (o.command == "generate") return Generate(channel, o, out, err);
  if (o.command == "stream") return Stream(channel, o, out, err);
  if (o.command == "chat") {
    return RunChat(o, std::cin, isatty(STDIN_FILENO) == 1, out, err);
  }
  if (o.command == "tokenize") return Tokenize(channel, o, out, err);
  if (o.command == "info") return Info(channel, o, out, err);
  if (o.command == "stats") return Stats(channel, o, out, err);
  if (o.command == "reload") return Reload(channel, o, out, err);
  if (o.command == "usage") return Usage(channel, o, out, err);
  if (o.command == "health") return Health(channel, o, out, err);
  err << "error: unknown client command '" << o.command
      << "' (generate, stream, chat, tokenize, info, stats, health, "
         "reload, usage)\n";
  return kExitUsage;
}

}  // namespace kvasir::tools
