#ifndef KVASIR_TESTS_ENGINE_CHAT_CHAT_TEST_UTIL_H_
#define KVASIR_TESTS_ENGINE_CHAT_CHAT_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/chat/chat_template.h"

namespace kvasir::engine::chat::testing {

// The conversation the language tables were rendered with (by Python's
// Jinja2 3.1, sandboxed, trim_blocks and lstrip_blocks, Hugging Face's
// tojson, bos "<s>", eos "</s>", 26 Jul 2026).
inline std::vector<Message> TableMessages() {
  return {{"user", "Hi there"}, {"assistant", "Yo"}, {"user", "Bye  "}};
}

inline absl::Time TableNow() {
  return absl::FromCivil(absl::CivilSecond(2026, 7, 26, 12, 0, 0),
                         absl::UTCTimeZone());
}

inline ChatTemplate::Options TableOptions(std::string source) {
  ChatTemplate::Options options;
  options.source = std::move(source);
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.now = TableNow;
  return options;
}

// `source` rendered over `messages` with add_generation_prompt; Create's
// or Render's error otherwise.
inline absl::StatusOr<RenderedPrompt> RenderWith(
    ChatTemplate::Options options, const std::vector<Message>& messages) {
  absl::StatusOr<std::unique_ptr<ChatTemplate>> t =
      ChatTemplate::Create(std::move(options));
  if (!t.ok()) return t.status();
  return (*t)->Render(messages, true);
}

inline absl::StatusOr<std::string> RenderText(std::string source) {
  absl::StatusOr<RenderedPrompt> r =
      RenderWith(TableOptions(std::move(source)), TableMessages());
  if (!r.ok()) return r.status();
  return r->Text();
}

}  // namespace kvasir::engine::chat::testing

#endif  // KVASIR_TESTS_ENGINE_CHAT_CHAT_TEST_UTIL_H_
