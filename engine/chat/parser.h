#ifndef KVASIR_ENGINE_CHAT_PARSER_H_
#define KVASIR_ENGINE_CHAT_PARSER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/ast.h"
#include "engine/chat/lexer.h"

namespace kvasir::engine::chat {

struct ParseLimits {
  // Nesting of statements and expressions; deeper templates are refused
  // (the parser and the interpreter recurse once per level).
  int max_depth = 128;
};

// The template's statements. Operator precedence as Jinja2's: or < and <
// not < comparisons (== != < <= > >= in, not in) < + - < ~ < * / // % <
// ** < unary - + < filters (|) and tests (is) < postfix (.attr [index]
// [a:b:c] (call)); `a if c else b` binds loosest. InvalidArgument
// "line L: <reason>" on a syntax error, an unknown tag, or nesting over
// the limit.
absl::StatusOr<Body> Parse(std::vector<Token> tokens,
                           const ParseLimits& limits);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_PARSER_H_
