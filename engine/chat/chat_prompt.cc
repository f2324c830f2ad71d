#include "engine/chat/chat_prompt.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"

namespace kvasir::engine::chat {

absl::StatusOr<std::vector<int32_t>> EncodeChat(
    const ChatTemplate* tmpl, const Tokenizer& tokenizer,
    absl::Span<const Message> messages) {
  if (messages.empty()) return FieldError("messages", "must not be empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role.empty()) {
      return FieldError(absl::StrCat("messages[", i, "].role"),
                        "must not be empty");
    }
  }
  if (tmpl == nullptr) {
    return FieldError(
        "messages",
        "the model has no chat template; use a completion (prompt) "
        "request or set model.chat_template");
  }
  absl::StatusOr<RenderedPrompt> rendered = tmpl->Render(messages, true);
  if (!rendered.ok())
    return FieldError("messages", rendered.status().message());

  std::vector<int32_t> ids;
  std::string run;  // plain text not yet encoded
  const EncodeOptions plain{.add_special = false, .parse_special = false};
  auto flush = [&]() -> absl::Status {
    if (run.empty()) return absl::OkStatus();
    absl::StatusOr<std::vector<int32_t>> part = tokenizer.Encode(run, plain);
    if (!part.ok()) {
      return FieldError("messages", absl::StrCat("cannot be encoded: ",
                                                 part.status().message()));
    }
    ids.insert(ids.end(), part->begin(), part->end());
    run.clear();
    return absl::OkStatus();
  };
  for (const RenderedPrompt::Span& span : rendered->spans) {
    if (span.from_content) {
      run += span.text;
      continue;
    }
    for (const TextFragment& f : tokenizer.SplitSpecial(span.text)) {
      if (f.token < 0) {
        run.append(f.text.data(), f.text.size());
        continue;
      }
      if (absl::Status s = flush(); !s.ok()) return s;
      ids.push_back(f.token);
    }
  }
  if (absl::Status s = flush(); !s.ok()) return s;

  // What the vocabulary puts before every prompt: [BOS] or nothing.
  absl::StatusOr<std::vector<int32_t>> prefix = tokenizer.Encode(
      "", EncodeOptions{.add_special = true, .parse_special = false});
  if (!prefix.ok()) return FieldError("messages", prefix.status().message());
  const int32_t bos = tokenizer.bos_id();
  const bool adds_bos = !prefix->empty() && prefix->front() == bos && bos >= 0;
  if (adds_bos && (ids.empty() || ids.front() != bos))
    ids.insert(ids.begin(), bos);
  if (ids.empty())
    return FieldError("messages", "the chat template rendered nothing");
  return ids;
}

}  // namespace kvasir::engine::chat
