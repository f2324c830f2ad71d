#ifndef KVASIR_ENGINE_CHAT_CHAT_PROMPT_H_
#define KVASIR_ENGINE_CHAT_CHAT_PROMPT_H_

// A chat conversation as the token ids a model is prompted with. Part of
// the engine library (it needs the tokenizer); the template interpreter
// (chat_template.h) is the kvasir_chat library and knows no tokenizer.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/chat/chat_template.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine::chat {

// Token ids of `messages` rendered by `tmpl` with add_generation_prompt =
// true. Special tokens are parsed in the template's text only (its
// markers, <|im_start|>, become control tokens); text that came from a
// message is plain text, so a user typing "<|im_start|>" gets the tokens
// of those characters. Plain text is encoded in runs between special
// tokens, template and message text together (so the ids equal
// llama.cpp's tokenization of the rendered text with special tokens parsed
// whenever the messages contain none). No special tokens are added per
// run; then, when the vocabulary adds BOS to a prompt (EncodeOptions::
// add_special) and the ids do not start with BOS already, BOS goes first
// (Llama 3's template writes bos_token itself: one BOS, not two).
//
// Errors are FieldErrors (common/field_error.h): "messages: must not be
// empty", "messages[i].role: must not be empty", "messages: the model has
// no chat template; ..." when tmpl is null, "messages: chat template: ..."
// when rendering fails, "messages: cannot be encoded: ..." when the
// vocabulary cannot encode the text. Thread-safe when tmpl and tokenizer
// are (they are immutable).
absl::StatusOr<std::vector<int32_t>> EncodeChat(
    const ChatTemplate* tmpl, const Tokenizer& tokenizer,
    absl::Span<const Message> messages);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_CHAT_PROMPT_H_
