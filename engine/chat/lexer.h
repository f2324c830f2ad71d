#ifndef KVASIR_ENGINE_CHAT_LEXER_H_
#define KVASIR_ENGINE_CHAT_LEXER_H_

// Splits a Jinja template into tokens, as Jinja2's lexer does with
// trim_blocks and lstrip_blocks on (Hugging Face's settings):
//   - text between tags;
//   - {{ ... }} and {% ... %} with the expression tokens inside;
//   - {# ... #} comments, dropped;
//   - whitespace control: "{%-" / "{{-" / "{#-" strip the whitespace before
//     the tag, "-%}" / "-}}" / "-#}" the whitespace after it; "{%+" keeps
//     the indentation lstrip_blocks would remove, "+%}" the newline
//     trim_blocks would remove;
//   - trim_blocks: the first newline after a block or comment tag goes;
//   - lstrip_blocks: spaces and tabs from the start of a line up to a block
//     or comment tag go;
//   - "\r\n" and "\r" become "\n", and one trailing newline of the source
//     goes (keep_trailing_newline off);
//   - {% raw %} ... {% endraw %} is text.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::engine::chat {

struct Token {
  enum class Kind {
    kText,        // value: the text
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,        // identifier or keyword
    kString,      // value: the literal's bytes, escapes resolved
    kInt,         // value: the digits
    kFloat,       // value: the literal
    kOperator,    // value: "+", "//", "==", "(", ...
    kEnd,         // end of the template
  };
  Kind kind;
  std::string value;
  int line = 1;  // 1-based line of the token's first byte in the source
};

// The tokens of `source`, ending with kEnd. InvalidArgument
// "line L: <reason>" for an unclosed tag, comment or string, or a character
// no token starts with.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_LEXER_H_
