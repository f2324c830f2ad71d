#include "engine/chat/chat_template.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/builtins.h"
#include "engine/chat/lexer.h"

namespace kvasir::engine::chat {
namespace {

absl::Status Prefixed(const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("chat template: ", s.message()));
}

}  // namespace

std::string RenderedPrompt::Text() const {
  std::string out;
  for (const Span& s : spans) out += s.text;
  return out;
}

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Create(
    Options options) {
  if (options.source.empty()) {
    return absl::InvalidArgumentError("chat template: the source is empty");
  }
  if (options.source.size() > options.max_source_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template: the source is ", options.source.size(),
                     " bytes, at most ", options.max_source_bytes));
  }
  const RenderLimits& l = options.limits;
  if (l.max_steps < 1 || l.max_call_depth < 1 || l.max_output_bytes < 1 ||
      l.max_list_items < 1 || options.parse_limits.max_depth < 1) {
    return absl::InvalidArgumentError(
        "chat template: limits must be positive (max_steps, max_call_depth, "
        "max_output_bytes, max_list_items, parse_limits.max_depth)");
  }
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(options.source);
  if (!tokens.ok()) return Prefixed(tokens.status());
  absl::StatusOr<Body> body = Parse(*std::move(tokens), options.parse_limits);
  if (!body.ok()) return Prefixed(body.status());
  return std::unique_ptr<ChatTemplate>(
      new ChatTemplate(std::move(options), *std::move(body)));
}

absl::StatusOr<RenderedPrompt> ChatTemplate::Render(
    absl::Span<const Message> messages, bool add_generation_prompt) const {
  List list;
  list.reserve(messages.size());
  for (const Message& m : messages) {
    auto dict = std::make_shared<Dict>();
    dict->items = {
        {"role", Value::String(Text(m.role, /*from_content=*/true))},
        {"content", Value::String(Text(m.content, /*from_content=*/true))}};
    list.push_back(Value::MakeDict(std::move(dict)));
  }
  Interpreter interpreter(options_.limits, options_.now);
  std::vector<std::pair<std::string, Value>> globals = GlobalFunctions();
  globals.emplace_back("messages", Value::MakeList(std::move(list)));
  globals.emplace_back("add_generation_prompt",
                       Value::Bool(add_generation_prompt));
  globals.emplace_back("bos_token", Value::String(options_.bos_token));
  globals.emplace_back("eos_token", Value::String(options_.eos_token));
  globals.emplace_back(
      "date_string", Value::String(absl::FormatTime(
                         "%d %b %Y", interpreter.Now(), absl::UTCTimeZone())));
  absl::StatusOr<chat::Text> text =
      interpreter.Render(body_, std::move(globals));
  if (!text.ok()) return Prefixed(text.status());
  RenderedPrompt out;
  for (size_t i = 0; i < text->size(); ++i) {
    const bool c = text->from_content(i);
    if (out.spans.empty() || out.spans.back().from_content != c) {
      out.spans.push_back({"", c});
    }
    out.spans.back().text += text->str()[i];
  }
  return out;
}

}  // namespace kvasir::engine::chat
