#ifndef KVASIR_ENGINE_CHAT_TEXT_OPS_H_
#define KVASIR_ENGINE_CHAT_TEXT_OPS_H_

// Python's str operations on Text, keeping each byte's origin (template or
// message content) through the operation. ASCII case mapping and ASCII
// whitespace (Python's str.strip() without arguments also strips Unicode
// spaces; chat templates only meet ASCII ones).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/chat/value.h"

namespace kvasir::engine::chat {

// str.strip / lstrip / rstrip: `chars` (nullopt: whitespace) removed from
// the left and/or right end.
Text StripText(const Text& t, const std::optional<std::string>& chars,
               bool left, bool right);

// str.split(sep, maxsplit) (nullopt sep: runs of whitespace, no empty
// parts); rsplit when from_right. maxsplit < 0: no limit. `sep` must not
// be empty.
std::vector<Text> SplitText(const Text& t,
                            const std::optional<std::string>& sep,
                            int64_t maxsplit, bool from_right);

// str.replace(old, new, count) (count < 0: all). The replacement keeps
// new's origins; the rest keeps t's.
Text ReplaceText(const Text& t, absl::string_view old_text,
                 const Text& new_text, int64_t count);

char AsciiLower(char c);
char AsciiUpper(char c);
// str.title(): upper case after a non-letter, lower case elsewhere.
Text TitleText(const Text& t);
// str.capitalize(): first character upper, the rest lower.
Text CapitalizeText(const Text& t);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_TEXT_OPS_H_
