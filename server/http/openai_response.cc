#include "server/http/openai_response.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"

namespace kvasir::server {
namespace {

using json = nlohmann::json;

bool IsChat(OpenAiEndpoint e) { return e == OpenAiEndpoint::kChatCompletions; }

json Bytes(absl::string_view s) {
  json out = json::array();
  for (char c : s) out.push_back(static_cast<int>(static_cast<uint8_t>(c)));
  return out;
}

json Header(const ResponseMeta& meta, absl::string_view object) {
  json j;
  j["id"] = meta.id;
  j["object"] = object;
  j["created"] = meta.created;
  j["model"] = meta.model;
  return j;
}

}  // namespace

absl::string_view OpenAiFinishReason(engine::FinishReason reason) {
  return reason == engine::FinishReason::kLength ? "length" : "stop";
}

json UsageJson(const engine::FinishInfo& info) {
  json u;
  u["prompt_tokens"] = info.prompt_tokens;
  u["completion_tokens"] = info.generated_tokens;
  u["total_tokens"] = info.prompt_tokens + info.generated_tokens;
  u["prompt_tokens_details"] = {{"cached_tokens", info.cached_prompt_tokens}};
  return u;
}

LogprobsBuilder::LogprobsBuilder(OpenAiEndpoint endpoint, int32_t top_logprobs,
                                 const engine::Tokenizer* tokenizer)
    : endpoint_(endpoint),
      top_logprobs_(top_logprobs),
      tokenizer_(tokenizer),
      decoder_(tokenizer),
      current_(Empty()) {}

json LogprobsBuilder::Empty() const {
  if (IsChat(endpoint_)) return {{"content", json::array()}};
  json j;
  j["tokens"] = json::array();
  j["token_logprobs"] = json::array();
  j["top_logprobs"] = top_logprobs_ > 0 ? json::array() : json(nullptr);
  j["text_offset"] = json::array();
  return j;
}

void LogprobsBuilder::Add(absl::Span<const engine::GeneratedToken> tokens) {
  for (const engine::GeneratedToken& t : tokens) {
    const absl::string_view text = tokenizer_->TokenBytes(t.token);
    if (IsChat(endpoint_)) {
      json entry;
      entry["token"] = std::string(text);
      entry["logprob"] = t.logprob;
      entry["bytes"] = Bytes(text);
      json top = json::array();
      for (const engine::TokenLogprob& alt : t.top) {
        const absl::string_view alt_text = tokenizer_->TokenBytes(alt.token);
        top.push_back({{"token", std::string(alt_text)},
                       {"logprob", alt.logprob},
                       {"bytes", Bytes(alt_text)}});
      }
      entry["top_logprobs"] = std::move(top);
      current_["content"].push_back(std::move(entry));
      continue;
    }
    current_["tokens"].push_back(std::string(text));
    current_["token_logprobs"].push_back(t.logprob);
    current_["text_offset"].push_back(text_offset_);
    if (top_logprobs_ > 0) {
      json top = json::object();
      for (const engine::TokenLogprob& alt : t.top) {
        top[std::string(tokenizer_->TokenBytes(alt.token))] = alt.logprob;
      }
      current_["top_logprobs"].push_back(std::move(top));
    }
    // Offsets count characters of the returned text, as OpenAI's
    // (Python's len): the code points this token completes.
    decoded_.clear();
    decoder_.Add(t.token, &decoded_);
    for (const char c : decoded_) {
      if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++text_offset_;
    }
  }
}

json LogprobsBuilder::Take() {
  json out = std::move(current_);
  current_ = Empty();
  return out;
}

bool LogprobsBuilder::empty() const {
  return IsChat(endpoint_) ? current_["content"].empty()
                           : current_["tokens"].empty();
}

json CompletionJson(const ResponseMeta& meta, absl::string_view text,
                    json logprobs, const engine::FinishInfo& info) {
  const bool chat = IsChat(meta.endpoint);
  json j = Header(meta, chat ? "chat.completion" : "text_completion");
  json choice;
  choice["index"] = 0;
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", std::string(text)}};
  } else {
    choice["text"] = std::string(text);
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = OpenAiFinishReason(info.reason);
  j["choices"] = json::array({std::move(choice)});
  j["usage"] = UsageJson(info);
  return j;
}

json ChunkJson(const ResponseMeta& meta, absl::string_view text, json logprobs,
               bool first, const engine::FinishInfo* finish, bool usage_null) {
  const bool chat = IsChat(meta.endpoint);
  json j = Header(meta, chat ? "chat.completion.chunk" : "text_completion");
  json choice;
  choice["index"] = 0;
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || first) delta["content"] = std::string(text);
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = std::string(text);
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = finish != nullptr
                                ? json(OpenAiFinishReason(finish->reason))
                                : json(nullptr);
  j["choices"] = json::array({std::move(choice)});
  if (usage_null) j["usage"] = nullptr;
  return j;
}

json UsageChunkJson(const ResponseMeta& meta, const engine::FinishInfo& info) {
  json j = Header(meta, IsChat(meta.endpoint) ? "chat.completion.chunk"
                                              : "text_completion");
  j["choices"] = json::array();
  j["usage"] = UsageJson(info);
  return j;
}

json ErrorJson(const absl::Status& status, const HttpError& error) {
  const std::optional<std::string> field = FieldOf(status);
  json e;
  e["message"] = std::string(status.message());
  e["type"] = error.type;
  e["param"] = field.has_value() ? json(*field) : json(nullptr);
  e["code"] = error.code.empty() ? json(nullptr) : json(error.code);
  return {{"error", std::move(e)}};
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SseEvent(const json& j) {
  return absl::StrCat("data: ", Dump(j), "\n\n");
}

}  // namespace kvasir::server
