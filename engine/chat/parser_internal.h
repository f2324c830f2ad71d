#ifndef KVASIR_ENGINE_CHAT_PARSER_INTERNAL_H_
#define KVASIR_ENGINE_CHAT_PARSER_INTERNAL_H_

// The recursive-descent parser behind Parse (parser.h), shared by
// parser.cc (statements) and parser_expr.cc (expressions). Not an API.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/chat/ast.h"
#include "engine/chat/lexer.h"
#include "engine/chat/parser.h"

namespace kvasir::engine::chat::parser_internal {

using K = Token::Kind;

class Parser {
 public:
  Parser(std::vector<Token> tokens, const ParseLimits& limits)
      : toks_(std::move(tokens)), limits_(limits) {}

  absl::StatusOr<Body> Run() {
    std::string end_tag;
    Body body;
    if (absl::Status s = ParseBody({}, &body, &end_tag); !s.ok()) return s;
    return body;
  }

 private:
  // Nesting guard: one per recursive descent level.
  class Deeper {
   public:
    explicit Deeper(Parser* p) : p_(p) { ++p_->depth_; }
    ~Deeper() { --p_->depth_; }
    bool too_deep() const { return p_->depth_ > p_->limits_.max_depth; }

   private:
    Parser* p_;
  };
  // A left-leaning chain (a + b + c, x.a.b, x|f|g) nests one level per
  // link: counted like recursion so the tree's depth stays bounded.
  class Chain {
   public:
    explicit Chain(Parser* p) : p_(p) {}
    ~Chain() { p_->depth_ -= n_; }
    // One more link; false when over the limit.
    bool Nest() {
      ++n_;
      return ++p_->depth_ <= p_->limits_.max_depth;
    }

   private:
    Parser* p_;
    int n_ = 0;
  };
  absl::Status TooDeep() const {
    return Error(
        absl::StrCat("expression nested deeper than ", limits_.max_depth));
  }

  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t ahead = 1) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  void Next() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool IsOp(absl::string_view op) const {
    return Cur().kind == K::kOperator && Cur().value == op;
  }
  bool IsName(absl::string_view name) const {
    return Cur().kind == K::kName && Cur().value == name;
  }
  bool SkipOp(absl::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(absl::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  absl::Status Error(absl::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", Cur().line, ": ", reason));
  }
  std::string Describe() const {
    switch (Cur().kind) {
      case K::kEnd:
        return "end of template";
      case K::kBlockEnd:
        return "'%}'";
      case K::kVarEnd:
        return "'}}'";
      case K::kText:
        return "text";
      case K::kString:
        return "string literal";
      default:
        return absl::StrCat("'", Cur().value, "'");
    }
  }
  absl::Status ExpectOp(absl::string_view op) {
    if (SkipOp(op)) return absl::OkStatus();
    return Error(absl::StrCat("expected '", op, "', got ", Describe()));
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Cur().kind != K::kName) {
      return Error(absl::StrCat("expected a name, got ", Describe()));
    }
    std::string name = Cur().value;
    Next();
    return name;
  }
  absl::Status ExpectBlockEnd() {
    if (Cur().kind == K::kBlockEnd) {
      Next();
      return absl::OkStatus();
    }
    return Error(absl::StrCat("expected '%}', got ", Describe()));
  }
  ExprPtr Make(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  absl::Status ParseBody(const std::vector<absl::string_view>& end_tags,
                         Body* body, std::string* end_tag);
  absl::Status ParseStatement(Body* body);
  absl::Status ParseIf(int line, Body* body);
  absl::Status ParseFor(int line, Body* body);
  absl::Status ParseSet(int line, Body* body);
  absl::Status ParseMacro(int line, Body* body);

  absl::StatusOr<ExprPtr> ParseExpression(bool with_condexpr = true);
  absl::StatusOr<ExprPtr> ParseTuple(bool with_condexpr = true);
  absl::StatusOr<ExprPtr> ParseOr();
  absl::StatusOr<ExprPtr> ParseAnd();
  absl::StatusOr<ExprPtr> ParseNot();
  absl::StatusOr<ExprPtr> ParseCompare();
  absl::StatusOr<ExprPtr> ParseMath1();
  absl::StatusOr<ExprPtr> ParseConcat();
  absl::StatusOr<ExprPtr> ParseMath2();
  absl::StatusOr<ExprPtr> ParsePow();
  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter);
  absl::StatusOr<ExprPtr> ParsePrimary();
  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node);
  // Appends call arguments "(a, b, k=v)" to node (positional first).
  absl::Status ParseCallArgs(Expr* node);

  std::vector<Token> toks_;
  ParseLimits limits_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace kvasir::engine::chat::parser_internal

#endif  // KVASIR_ENGINE_CHAT_PARSER_INTERNAL_H_
