#include "server/http/openai_request.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/bounded_text.h"
#include "common/field_error.h"
#include "common/status_macros.h"
#include "engine/request_validation.h"

namespace kvasir::server {
namespace {

using json = nlohmann::json;

std::string TypeName(const json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

// The member `key`, or nullptr when absent or null (both mean "default").
const json* Member(const json& body, absl::string_view key) {
  auto it = body.find(std::string(key));
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status WrongType(absl::string_view field, absl::string_view want,
                       const json& got) {
  return FieldError(field,
                    absl::StrCat("must be ", want, ", got ", TypeName(got)));
}

absl::StatusOr<std::optional<double>> Number(const json& body,
                                             absl::string_view key) {
  const json* v = Member(body, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return WrongType(key, "a number", *v);
  return v->get<double>();
}

// A number the engine keeps as a float: one beyond float's range is an
// error here, with the value as sent (converted, it would be inf).
absl::StatusOr<std::optional<float>> Float(const json& body,
                                           absl::string_view key) {
  ASSIGN_OR_RETURN(std::optional<double> v, Number(body, key));
  if (!v.has_value()) return std::nullopt;
  if (std::abs(*v) > std::numeric_limits<float>::max()) {
    // The JSON's own shortest spelling of the number, all its digits.
    return FieldError(key, absl::StrCat(Member(body, key)->dump(),
                                        " is out of range (at most about "
                                        "3.4e38 in magnitude)"));
  }
  return static_cast<float>(*v);
}

// An integer; a float with an integral value (1.0) counts, as JSON does not
// tell them apart.
absl::StatusOr<std::optional<int64_t>> Integer(const json& body,
                                               absl::string_view key) {
  const json* v = Member(body, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) {
      return static_cast<int64_t>(d);
    }
  }
  return WrongType(key, "an integer", *v);
}

// `parent`: the path of `body` in the request, as String's (below).
absl::StatusOr<std::optional<bool>> Bool(const json& body,
                                         absl::string_view key,
                                         absl::string_view parent = "") {
  const json* v = Member(body, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    return WrongType(
        parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key),
        "true or false", *v);
  }
  return v->get<bool>();
}

// `parent`: the path of `body` inside the request ("messages[0]"), which
// the error names before the key; empty for the top level.
absl::StatusOr<std::optional<std::string>> String(
    const json& body, absl::string_view key, absl::string_view parent = "") {
  const json* v = Member(body, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    return WrongType(
        parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key),
        "a string", *v);
  }
  return v->get<std::string>();
}

int32_t ClampToInt32(int64_t v) {
  return static_cast<int32_t>(
      std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                          std::numeric_limits<int32_t>::max()));
}

// OpenAI fields Kvasir does not implement: accepted when absent, null or
// at their default, a 400 naming the field otherwise.
struct Unsupported {
  const char* key;
  bool (*is_default)(const json&);
  const char* why;
};

bool IsOne(const json& v) { return v.is_number() && v.get<double>() == 1.0; }
bool IsZero(const json& v) { return v.is_number() && v.get<double>() == 0.0; }
bool IsFalse(const json& v) { return v.is_boolean() && !v.get<bool>(); }
bool IsTrue(const json& v) { return v.is_boolean() && v.get<bool>(); }
bool IsEmpty(const json& v) {
  return (v.is_string() || v.is_array() || v.is_object()) && v.empty();
}
bool IsNoTool(const json& v) {
  return v.is_string() && (v == "none" || v == "auto");
}
bool IsTextFormat(const json& v) {
  // json::value() throws when "type" is there but not a string.
  if (!v.is_object() || v.size() != 1) return false;
  const json* type = Member(v, "type");
  return type != nullptr && *type == "text";
}
bool IsTextModality(const json& v) {
  return v.is_array() && v.size() == 1 && v[0] == "text";
}
bool Never(const json&) { return false; }

constexpr Unsupported kUnsupported[] = {
    {"n", IsOne, "Kvasir returns one choice per request"},
    {"best_of", IsOne, "Kvasir returns one choice per request"},
    {"echo", IsFalse, "the prompt is not echoed"},
    {"suffix", IsEmpty, "insertion (suffix) is not supported"},
    {"frequency_penalty", IsZero, "use repetition_penalty instead"},
    {"presence_penalty", IsZero, "use repetition_penalty instead"},
    {"logit_bias", IsEmpty, "logit biases are not supported"},
    {"tools", IsEmpty, "tool calling is not supported"},
    {"functions", IsEmpty, "function calling is not supported"},
    {"tool_choice", IsNoTool, "tool calling is not supported"},
    {"function_call", IsNoTool, "function calling is not supported"},
    {"response_format", IsTextFormat, "only text output is supported"},
    {"modalities", IsTextModality, "only text output is supported"},
    {"audio", Never, "audio output is not supported"},
    {"prediction", Never, "predicted outputs are not supported"},
    {"reasoning_effort", Never, "reasoning effort is not supported"},
    {"web_search_options", Never, "web search is not supported"},
    // vLLM's chat template options: refused rather than silently ignored.
    {"add_generation_prompt", IsTrue, "the assistant's turn is always opened"},
    {"continue_final_message", IsFalse,
     "a final assistant message is not continued"},
    {"chat_template_kwargs", IsEmpty,
     "the chat template takes no extra variables"},
};

absl::Status CheckUnsupported(const json& body) {
  for (const Unsupported& u : kUnsupported) {
    const json* v = Member(body, u.key);
    if (v == nullptr || u.is_default(*v)) continue;
    return FieldError(u.key, absl::StrCat(v->dump(), " is not supported (",
                                          u.why, "; leave it unset)"));
  }
  return absl::OkStatus();
}

// Fields both endpoints share: model, stream, sampling, stopping, user.
absl::Status ParseCommon(const json& body, const OpenAiModelInfo& model,
                         OpenAiRequest* out) {
  RETURN_IF_ERROR(CheckUnsupported(body));
  ASSIGN_OR_RETURN(std::optional<std::string> name, String(body, "model"));
  if (name.has_value()) {
    out->model = *name;
    if (*name != model.id) {
      // NotFound (HTTP 404), naming the field like the other errors.
      const absl::Status field = FieldError(
          "model", absl::StrCat(Quoted(*name),
                                " is not served here; this server serves '",
                                model.id, "' (GET /v1/models), or omit it"));
      absl::Status not_found(absl::StatusCode::kNotFound, field.message());
      field.ForEachPayload([&](absl::string_view url, const absl::Cord& v) {
        not_found.SetPayload(url, v);
      });
      return not_found;
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> user, String(body, "user"));
  out->user = user.value_or("");

  ASSIGN_OR_RETURN(std::optional<bool> stream, Bool(body, "stream"));
  out->stream = stream.value_or(false);
  if (const json* so = Member(body, "stream_options")) {
    if (!out->stream) {
      return FieldError("stream_options",
                        "is only allowed when `stream` is true");
    }
    if (!so->is_object()) return WrongType("stream_options", "an object", *so);
    for (const auto& [key, value] : so->items()) {
      if (key != "include_usage") {
        return FieldError(absl::StrCat("stream_options.", key),
                          "is not supported (only include_usage is)");
      }
    }
    ASSIGN_OR_RETURN(std::optional<bool> usage,
                     Bool(*so, "include_usage", "stream_options"));
    out->include_usage = usage.value_or(false);
  }

  engine::SamplingParams& s = out->engine.sampling;
  ASSIGN_OR_RETURN(std::optional<float> temperature,
                   Float(body, "temperature"));
  // OpenAI's default is 1 (vLLM's too); the engine's own is greedy.
  s.temperature = temperature.value_or(1.0f);
  ASSIGN_OR_RETURN(std::optional<float> top_p, Float(body, "top_p"));
  if (top_p.has_value()) s.top_p = *top_p;
  ASSIGN_OR_RETURN(std::optional<float> min_p, Float(body, "min_p"));
  if (min_p.has_value()) s.min_p = *min_p;
  ASSIGN_OR_RETURN(std::optional<float> rep, Float(body, "repetition_penalty"));
  if (rep.has_value()) s.repetition_penalty = *rep;
  ASSIGN_OR_RETURN(std::optional<int64_t> top_k, Integer(body, "top_k"));
  // vLLM's "off" is -1; the engine's is 0.
  if (top_k.has_value()) s.top_k = *top_k == -1 ? 0 : ClampToInt32(*top_k);
  ASSIGN_OR_RETURN(std::optional<int64_t> seed, Integer(body, "seed"));
  if (seed.has_value()) s.seed = static_cast<uint64_t>(*seed);

  engine::StoppingParams& stop = out->engine.stopping;
  if (out->endpoint == OpenAiEndpoint::kCompletions) {
    // No max_tokens: the engine's default, 16 (OpenAI's and vLLM's for
    // completions).
    if (Member(body, "max_completion_tokens") != nullptr) {
      return FieldError("max_completion_tokens",
                        "is a chat completions field; /v1/completions takes "
                        "max_tokens");
    }
  } else {
    // No max_tokens: as many as fit (the rest of the context, within what
    // the tenant's KV limit holds), as vLLM's chat.
    stop.fill_room = true;
  }
  // Chat's max_completion_tokens replaced max_tokens; either works, the
  // newer one wins when both are there.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    ASSIGN_OR_RETURN(std::optional<int64_t> n, Integer(body, key));
    if (!n.has_value()) continue;
    if (*n != ClampToInt32(*n)) {
      // (As sent: clamped, it would read 2147483647 in the engine's error.)
      return FieldError(
          key, absl::StrCat(Member(body, key)->dump(), " is out of range [1, ",
                            std::numeric_limits<int32_t>::max(), "]"));
    }
    stop.max_new_tokens = static_cast<int32_t>(*n);
    stop.fill_room = false;
    out->max_tokens_field = key;
  }
  ASSIGN_OR_RETURN(std::optional<bool> ignore_eos, Bool(body, "ignore_eos"));
  stop.ignore_eos = ignore_eos.value_or(false);
  if (const json* v = Member(body, "stop")) {
    if (v->is_string()) {
      stop.stop.push_back(v->get<std::string>());
      out->stop_is_string = true;
    } else if (v->is_array()) {
      for (size_t i = 0; i < v->size(); ++i) {
        const json& e = (*v)[i];
        if (!e.is_string()) {
          return WrongType(absl::StrCat("stop[", i, "]"), "a string", e);
        }
        stop.stop.push_back(e.get<std::string>());
      }
    } else {
      return WrongType("stop", "a string or an array of strings", *v);
    }
  }
  return absl::OkStatus();
}

// A token id array ("prompt" or "prompt[0]").
absl::StatusOr<std::vector<int32_t>> TokenArray(const json& v,
                                                absl::string_view field) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const json& e = v[i];
    if (!e.is_number_integer()) {
      return WrongType(absl::StrCat(field, "[", i, "]"), "a token id", e);
    }
    const bool beyond_32_bits =
        e.is_number_unsigned()
            ? e.get<uint64_t>() >
                  static_cast<uint64_t>(std::numeric_limits<int32_t>::max())
            : e.get<int64_t>() != ClampToInt32(e.get<int64_t>());
    if (beyond_32_bits) {
      // (As sent: clamped, it would read 2147483647 or -2147483648.)
      return FieldError(absl::StrCat(field, "[", i, "]"),
                        absl::StrCat(e.dump(), " is outside the vocabulary"));
    }
    ids.push_back(ClampToInt32(e.get<int64_t>()));
  }
  return ids;
}

absl::StatusOr<std::vector<int32_t>> CompletionPrompt(
    const json& body, const OpenAiModelInfo& model) {
  const json* p = Member(body, "prompt");
  if (p == nullptr) {
    return FieldError("prompt",
                      "is missing: a string or an array of token ids");
  }
  // Special-token text in a completions prompt ("<|im_start|>") is the
  // special token, as vLLM's and llama.cpp's: clients send prompts they
  // rendered themselves. `"parse_special": false` keeps it text. (Chat
  // content is always text.)
  ASSIGN_OR_RETURN(std::optional<bool> parse_special,
                   Bool(body, "parse_special"));
  auto encode = [&](const std::string& text) {
    return engine::EncodeText(
        text,
        {.add_special = true, .parse_special = parse_special.value_or(true)},
        *model.tokenizer, *model.limits);
  };
  if (p->is_string()) return encode(p->get<std::string>());
  if (!p->is_array()) {
    return WrongType("prompt", "a string or an array of token ids", *p);
  }
  if (p->empty()) return FieldError("prompt", "is an empty array");
  const json& first = (*p)[0];
  if (first.is_number_integer()) return TokenArray(*p, "prompt");
  // A batch of prompts: Kvasir takes one.
  if (p->size() > 1) {
    return FieldError("prompt",
                      absl::StrCat("is a batch of ", p->size(),
                                   " prompts; send one prompt per request"));
  }
  if (first.is_string()) {
    absl::StatusOr<std::vector<int32_t>> ids = encode(first.get<std::string>());
    if (!ids.ok()) return RenameField(ids.status(), "prompt[0]");
    return ids;
  }
  if (first.is_array()) return TokenArray(first, "prompt[0]");
  return WrongType("prompt[0]", "a string or an array of token ids", first);
}

absl::StatusOr<std::vector<ChatMessageIn>> ChatMessages(const json& body) {
  const json* m = Member(body, "messages");
  if (m == nullptr) return FieldError("messages", "is missing");
  if (!m->is_array()) return WrongType("messages", "an array", *m);
  if (m->empty()) {
    return FieldError("messages", "is empty: send at least one message");
  }
  std::vector<ChatMessageIn> out;
  for (size_t i = 0; i < m->size(); ++i) {
    const json& msg = (*m)[i];
    const std::string path = absl::StrCat("messages[", i, "]");
    if (!msg.is_object()) return WrongType(path, "an object", msg);
    ChatMessageIn in;
    ASSIGN_OR_RETURN(std::optional<std::string> role,
                     String(msg, "role", path));
    if (!role.has_value() || role->empty()) {
      return FieldError(path + ".role", "is missing");
    }
    in.role = *role;
    for (const char* key : {"tool_calls", "function_call", "audio"}) {
      const json* v = Member(msg, key);
      if (v != nullptr && !IsEmpty(*v)) {
        return FieldError(absl::StrCat(path, ".", key),
                          "is not supported (tool and function calling are "
                          "not implemented)");
      }
    }
    if (const json* c = Member(msg, "content")) {
      if (c->is_string()) {
        in.content = c->get<std::string>();
      } else if (c->is_array()) {
        for (size_t j = 0; j < c->size(); ++j) {
          const json& part = (*c)[j];
          const std::string ppath = absl::StrCat(path, ".content[", j, "]");
          if (!part.is_object()) return WrongType(ppath, "an object", part);
          ASSIGN_OR_RETURN(std::optional<std::string> type,
                           String(part, "type", ppath));
          if (type.value_or("") != "text") {
            return FieldError(
                ppath + ".type",
                absl::StrCat(Quoted(type.value_or("")),
                             " is not supported (only text parts are)"));
          }
          ASSIGN_OR_RETURN(std::optional<std::string> text,
                           String(part, "text", ppath));
          if (!text.has_value()) {
            return FieldError(ppath + ".text", "is missing");
          }
          // Parts joined by newlines, as vLLM's.
          if (j > 0) in.content += '\n';
          in.content += *text;
        }
      } else {
        return WrongType(path + ".content",
                         "a string or an array of text parts", *c);
      }
    } else if (in.role != "assistant") {
      // As OpenAI's: only an assistant turn may come without content.
      return FieldError(path + ".content", "is missing");
    }
    out.push_back(std::move(in));
  }
  return out;
}

// Whether `body` nests arrays and objects more than `limit` levels deep
// (strings skipped, their escapes honoured; whatever else is wrong is the
// parser's to say). One pass, no allocation.
bool NestsDeeperThan(absl::string_view body, int limit) {
  bool in_string = false;
  bool escaped = false;
  int depth = 0;
  for (const char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<json> ParseJsonBody(absl::string_view body) {
  // The body cap bounds the bytes, not the tree: 4 MiB of "[[[[..." is two
  // million nested arrays, ~150 MB as a json. Checked before parsing, not
  // in a parser callback: nlohmann's callback parser scans an object's
  // members at the end of each member object (a 4 MB body of {"k": {}, ...}
  // took minutes).
  if (NestsDeeperThan(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request body nests JSON arrays and objects more "
                     "than ",
                     kMaxJsonDepth, " levels deep"));
  }
  json j = json::parse(body.begin(), body.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        "the request body is not valid JSON (send a JSON object with "
        "Content-Type: application/json)");
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request body must be a JSON object, got ", TypeName(j)));
  }
  return j;
}

absl::StatusOr<OpenAiRequest> ParseCompletionRequest(
    const json& body, const OpenAiModelInfo& model) {
  OpenAiRequest out;
  out.endpoint = OpenAiEndpoint::kCompletions;
  RETURN_IF_ERROR(ParseCommon(body, model, &out));
  // Completions' logprobs: how many alternatives per token (0: the chosen
  // token's logprob only); null: none.
  ASSIGN_OR_RETURN(std::optional<int64_t> logprobs, Integer(body, "logprobs"));
  if (logprobs.has_value()) {
    out.logprobs = true;
    out.engine.logprobs = true;
    out.engine.top_logprobs = ClampToInt32(*logprobs);
  }
  ASSIGN_OR_RETURN(out.engine.prompt, CompletionPrompt(body, model));
  return out;
}

absl::StatusOr<OpenAiRequest> ParseChatRequest(const json& body,
                                               const OpenAiModelInfo& model) {
  OpenAiRequest out;
  out.endpoint = OpenAiEndpoint::kChatCompletions;
  RETURN_IF_ERROR(ParseCommon(body, model, &out));
  // Chat's logprobs: a boolean, and top_logprobs alternatives with it.
  ASSIGN_OR_RETURN(std::optional<bool> logprobs, Bool(body, "logprobs"));
  out.logprobs = logprobs.value_or(false);
  out.engine.logprobs = out.logprobs;
  ASSIGN_OR_RETURN(std::optional<int64_t> top, Integer(body, "top_logprobs"));
  if (top.has_value()) {
    if (!out.logprobs && *top != 0) {
      return FieldError("top_logprobs", "needs `logprobs` set to true");
    }
    out.engine.top_logprobs = ClampToInt32(*top);
  }
  ASSIGN_OR_RETURN(std::optional<bool> parse_special,
                   Bool(body, "parse_special"));
  if (parse_special.value_or(false)) {
    return FieldError("parse_special",
                      "true is not supported in chat (message content is "
                      "always text; send a rendered prompt to "
                      "/v1/completions, which parses special tokens)");
  }
  ASSIGN_OR_RETURN(out.messages, ChatMessages(body));
  return out;
}

absl::Status ToOpenAiField(const absl::Status& status,
                           const OpenAiRequest& request) {
  const std::optional<std::string> path = FieldOf(status);
  if (!path.has_value()) return status;
  const bool chat = request.endpoint == OpenAiEndpoint::kChatCompletions;
  std::string renamed = *path;
  if (*path == "prompt" || absl::StartsWith(*path, "prompt[")) {
    if (chat) renamed = "messages";
  } else if (*path == "stopping.max_new_tokens") {
    renamed = request.max_tokens_field;
  } else if (absl::StartsWith(*path, "sampling.")) {
    renamed = path->substr(9);
  } else if (absl::StartsWith(*path, "stopping.stop")) {
    renamed = request.stop_is_string ? std::string("stop")
                                     : absl::StrCat("stop", path->substr(13));
  } else if (*path == "top_logprobs") {
    renamed = chat ? "top_logprobs" : "logprobs";
  } else if (*path == "request_id") {
    renamed = "X-Request-Id";
  }
  return RenameField(status, renamed);
}

}  // namespace kvasir::server
