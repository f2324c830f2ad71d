#include "engine/chat/parser.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/chat/parser_internal.h"

namespace kvasir::engine::chat {
namespace parser_internal {

absl::Status Parser::ParseBody(const std::vector<absl::string_view>& end_tags,
                               Body* body, std::string* end_tag) {
  Deeper deeper(this);
  if (deeper.too_deep()) {
    return Error(absl::StrCat("blocks nested deeper than ", limits_.max_depth));
  }
  while (true) {
    const Token& t = Cur();
    if (t.kind == K::kEnd) {
      if (end_tags.empty()) return absl::OkStatus();
      return Error(absl::StrCat("unexpected end of template, expected '",
                                end_tags.back(), "'"));
    }
    if (t.kind == K::kText) {
      auto s = std::make_unique<Stmt>();
      s->kind = Stmt::Kind::kText;
      s->line = t.line;
      s->text = t.value;
      body->push_back(std::move(s));
      Next();
      continue;
    }
    if (t.kind == K::kVarBegin) {
      const int line = t.line;
      Next();
      ASSIGN_OR_RETURN(auto e, ParseTuple());
      if (Cur().kind != K::kVarEnd) {
        return Error(absl::StrCat("expected '}}', got ", Describe()));
      }
      Next();
      auto s = std::make_unique<Stmt>();
      s->kind = Stmt::Kind::kOutput;
      s->line = line;
      s->expr = std::move(e);
      body->push_back(std::move(s));
      continue;
    }
    if (t.kind != K::kBlockBegin) return Error("unexpected token");
    const Token& tag = Peek();
    if (tag.kind == K::kName) {
      for (absl::string_view end : end_tags) {
        if (tag.value == end) {
          Next();
          Next();
          *end_tag = tag.value;
          return absl::OkStatus();
        }
      }
    }
    Next();
    RETURN_IF_ERROR(ParseStatement(body));
  }
}

absl::Status Parser::ParseStatement(Body* body) {
  const int line = Cur().line;
  if (Cur().kind != K::kName) {
    return Error(absl::StrCat("expected a tag name, got ", Describe()));
  }
  const std::string tag = Cur().value;
  Next();
  if (tag == "if") return ParseIf(line, body);
  if (tag == "for") return ParseFor(line, body);
  if (tag == "set") return ParseSet(line, body);
  if (tag == "macro") return ParseMacro(line, body);
  if (tag == "break" || tag == "continue") {
    RETURN_IF_ERROR(ExpectBlockEnd());
    auto s = std::make_unique<Stmt>();
    s->kind = tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
    s->line = line;
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (tag == "generation") {
    // Hugging Face's AssistantTracker extension marks the assistant's text;
    // rendering it is rendering its body.
    RETURN_IF_ERROR(ExpectBlockEnd());
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kBlock;
    s->line = line;
    s->bodies.emplace_back();
    std::string end;
    RETURN_IF_ERROR(ParseBody({"endgeneration"}, &s->bodies[0], &end));
    RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": unknown or unsupported tag '", tag, "'"));
}

absl::Status Parser::ParseIf(int line, Body* body) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kIf;
  s->line = line;
  while (true) {
    ASSIGN_OR_RETURN(auto cond, ParseTuple());
    RETURN_IF_ERROR(ExpectBlockEnd());
    s->conds.push_back(std::move(cond));
    s->bodies.emplace_back();
    std::string end;
    RETURN_IF_ERROR(
        ParseBody({"elif", "else", "endif"}, &s->bodies.back(), &end));
    if (end == "elif") continue;
    if (end == "else") {
      RETURN_IF_ERROR(ExpectBlockEnd());
      s->bodies.emplace_back();
      RETURN_IF_ERROR(ParseBody({"endif"}, &s->bodies.back(), &end));
    }
    RETURN_IF_ERROR(ExpectBlockEnd());
    break;
  }
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseFor(int line, Body* body) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kFor;
  s->line = line;
  const bool paren = SkipOp("(");
  do {
    ASSIGN_OR_RETURN(auto name, ExpectName());
    s->targets.push_back(std::move(name));
  } while (SkipOp(","));
  if (paren) RETURN_IF_ERROR(ExpectOp(")"));
  if (!SkipName("in"))
    return Error(absl::StrCat("expected 'in', got ", Describe()));
  ASSIGN_OR_RETURN(auto iter, ParseTuple(/*with_condexpr=*/false));
  s->expr = std::move(iter);
  if (SkipName("if")) {
    ASSIGN_OR_RETURN(auto cond, ParseExpression());
    s->conds.push_back(std::move(cond));
  }
  if (IsName("recursive")) return Error("recursive loops are not supported");
  RETURN_IF_ERROR(ExpectBlockEnd());
  s->bodies.emplace_back();
  std::string end;
  RETURN_IF_ERROR(ParseBody({"else", "endfor"}, &s->bodies[0], &end));
  s->bodies.emplace_back();
  if (end == "else") {
    RETURN_IF_ERROR(ExpectBlockEnd());
    RETURN_IF_ERROR(ParseBody({"endfor"}, &s->bodies[1], &end));
  }
  RETURN_IF_ERROR(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseSet(int line, Body* body) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kSet;
  s->line = line;
  ASSIGN_OR_RETURN(auto first, ExpectName());
  s->targets.push_back(std::move(first));
  if (SkipOp(".")) {
    ASSIGN_OR_RETURN(auto attr, ExpectName());
    s->attr = std::move(attr);
  } else {
    while (SkipOp(",")) {
      ASSIGN_OR_RETURN(auto name, ExpectName());
      s->targets.push_back(std::move(name));
    }
  }
  if (Cur().kind == K::kBlockEnd && s->attr.empty() && s->targets.size() == 1) {
    Next();
    s->kind = Stmt::Kind::kSetBlock;
    s->bodies.emplace_back();
    std::string end;
    RETURN_IF_ERROR(ParseBody({"endset"}, &s->bodies[0], &end));
    RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(ExpectOp("="));
  ASSIGN_OR_RETURN(auto value, ParseTuple());
  s->expr = std::move(value);
  RETURN_IF_ERROR(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseMacro(int line, Body* body) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kMacro;
  s->line = line;
  ASSIGN_OR_RETURN(auto name, ExpectName());
  s->targets.push_back(std::move(name));
  RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    ASSIGN_OR_RETURN(auto param, ExpectName());
    s->targets.push_back(std::move(param));
    if (SkipOp("=")) {
      ASSIGN_OR_RETURN(auto def, ParseExpression());
      s->defaults.push_back(std::move(def));
    } else {
      s->defaults.push_back(nullptr);
    }
    if (!SkipOp(",")) break;
  }
  RETURN_IF_ERROR(ExpectOp(")"));
  RETURN_IF_ERROR(ExpectBlockEnd());
  s->bodies.emplace_back();
  std::string end;
  RETURN_IF_ERROR(ParseBody({"endmacro"}, &s->bodies[0], &end));
  if (Cur().kind == K::kName) Next();  // {% endmacro name %}
  RETURN_IF_ERROR(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

}  // namespace parser_internal

absl::StatusOr<Body> Parse(std::vector<Token> tokens,
                           const ParseLimits& limits) {
  return parser_internal::Parser(std::move(tokens), limits).Run();
}

}  // namespace kvasir::engine::chat
