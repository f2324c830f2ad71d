#ifndef KVASIR_ENGINE_CHAT_CHAT_TEMPLATE_H_
#define KVASIR_ENGINE_CHAT_CHAT_TEMPLATE_H_

// A model's chat template (the Jinja2 source in a GGUF's
// tokenizer.chat_template or Hugging Face's tokenizer_config.json) turned
// into prompts, as transformers' apply_chat_template renders it: Jinja2's
// ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
// variables `messages` (a list of {role, content} dicts),
// `add_generation_prompt`, `bos_token`, `eos_token`, `date_string`
// ("26 Jul 2026": the clock's date, for Llama 3.x) and the functions
// `raise_exception`, `strftime_now`, `namespace`, `range`, `dict`.
// Variables the caller does not set (`tools`, `enable_thinking`, ...) are
// undefined, as when a client sends none.
//
// The interpreter (interpreter.h) is ours: no C++ Jinja is packaged in
// Debian. It is sandboxed (no file, import or attribute access beyond the
// values passed in) and bounded (Options::limits), so a hostile template in
// a downloaded GGUF can neither read anything nor hang the server.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/chat/ast.h"
#include "engine/chat/interpreter.h"
#include "engine/chat/parser.h"

namespace kvasir::engine::chat {

struct Message {
  std::string role;
  std::string content;
};

// The render as spans: text from the template itself (markers such as
// <|im_start|>, which are control tokens) vs text that came from a message
// (its content or role: user text, never parsed as special tokens, so a
// user typing "<|im_start|>" gets plain text). The distinction survives
// concatenation, `~`, filters and string methods inside the template.
// Adjacent spans have different origins; no span is empty.
struct RenderedPrompt {
  struct Span {
    std::string text;
    bool from_content = false;
  };
  std::vector<Span> spans;
  std::string Text() const;  // all spans concatenated
};

class ChatTemplate {
 public:
  struct Options {
    std::string source;  // the Jinja source (tokenizer.chat_template or a file)
    std::string bos_token;  // the vocabulary's BOS text ("" if none)
    std::string eos_token;
    // strftime_now / date_string; empty = absl::Now(). Dates are UTC.
    std::function<absl::Time()> now;
    // Largest source accepted, in bytes.
    size_t max_source_bytes = size_t{1} << 20;
    ParseLimits parse_limits;
    RenderLimits limits;
  };

  // Parses once. InvalidArgument "chat template: line L: <reason>" on a
  // syntax error (or "chat template: <reason>" for an empty or oversized
  // source, or bad limits).
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Create(Options options);

  // Thread-safe (const, no shared mutable state: each call has its own
  // interpreter and values). add_generation_prompt as in Hugging Face: the
  // template appends the opening of the assistant's turn. InvalidArgument
  // "chat template: <reason>" when rendering fails: raise_exception's
  // message, a type error or undefined value ("line L: ..."), or a limit.
  absl::StatusOr<RenderedPrompt> Render(absl::Span<const Message> messages,
                                        bool add_generation_prompt) const;

 private:
  ChatTemplate(Options options, Body body)
      : options_(std::move(options)), body_(std::move(body)) {}

  Options options_;
  Body body_;
};

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_CHAT_TEMPLATE_H_
