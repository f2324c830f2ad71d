#include "engine/chat/parser.h"

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kvasir::engine::chat {
namespace {

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

#define KV_ASSIGN(lhs, expr)                               \
  auto lhs##_or = (expr);                                  \
  if (!lhs##_or.ok()) return std::move(lhs##_or).status(); \
  auto lhs = std::move(lhs##_or).value()
#define KV_RETURN(expr)                       \
  do {                                        \
    if (absl::Status s_ = (expr); !s_.ok()) { \
      return s_;                              \
    }                                         \
  } while (0)

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
      KV_ASSIGN(e, ParseTuple());
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
    KV_RETURN(ParseStatement(body));
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
    KV_RETURN(ExpectBlockEnd());
    auto s = std::make_unique<Stmt>();
    s->kind = tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
    s->line = line;
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  if (tag == "generation") {
    // Hugging Face's AssistantTracker extension marks the assistant's text;
    // rendering it is rendering its body.
    KV_RETURN(ExpectBlockEnd());
    auto s = std::make_unique<Stmt>();
    s->kind = Stmt::Kind::kBlock;
    s->line = line;
    s->bodies.emplace_back();
    std::string end;
    KV_RETURN(ParseBody({"endgeneration"}, &s->bodies[0], &end));
    KV_RETURN(ExpectBlockEnd());
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
    KV_ASSIGN(cond, ParseTuple());
    KV_RETURN(ExpectBlockEnd());
    s->conds.push_back(std::move(cond));
    s->bodies.emplace_back();
    std::string end;
    KV_RETURN(ParseBody({"elif", "else", "endif"}, &s->bodies.back(), &end));
    if (end == "elif") continue;
    if (end == "else") {
      KV_RETURN(ExpectBlockEnd());
      s->bodies.emplace_back();
      KV_RETURN(ParseBody({"endif"}, &s->bodies.back(), &end));
    }
    KV_RETURN(ExpectBlockEnd());
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
    KV_ASSIGN(name, ExpectName());
    s->targets.push_back(std::move(name));
  } while (SkipOp(","));
  if (paren) KV_RETURN(ExpectOp(")"));
  if (!SkipName("in"))
    return Error(absl::StrCat("expected 'in', got ", Describe()));
  KV_ASSIGN(iter, ParseTuple(/*with_condexpr=*/false));
  s->expr = std::move(iter);
  if (SkipName("if")) {
    KV_ASSIGN(cond, ParseExpression());
    s->conds.push_back(std::move(cond));
  }
  if (IsName("recursive")) return Error("recursive loops are not supported");
  KV_RETURN(ExpectBlockEnd());
  s->bodies.emplace_back();
  std::string end;
  KV_RETURN(ParseBody({"else", "endfor"}, &s->bodies[0], &end));
  s->bodies.emplace_back();
  if (end == "else") {
    KV_RETURN(ExpectBlockEnd());
    KV_RETURN(ParseBody({"endfor"}, &s->bodies[1], &end));
  }
  KV_RETURN(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseSet(int line, Body* body) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kSet;
  s->line = line;
  KV_ASSIGN(first, ExpectName());
  s->targets.push_back(std::move(first));
  if (SkipOp(".")) {
    KV_ASSIGN(attr, ExpectName());
    s->attr = std::move(attr);
  } else {
    while (SkipOp(",")) {
      KV_ASSIGN(name, ExpectName());
      s->targets.push_back(std::move(name));
    }
  }
  if (Cur().kind == K::kBlockEnd && s->attr.empty() && s->targets.size() == 1) {
    Next();
    s->kind = Stmt::Kind::kSetBlock;
    s->bodies.emplace_back();
    std::string end;
    KV_RETURN(ParseBody({"endset"}, &s->bodies[0], &end));
    KV_RETURN(ExpectBlockEnd());
    body->push_back(std::move(s));
    return absl::OkStatus();
  }
  KV_RETURN(ExpectOp("="));
  KV_ASSIGN(value, ParseTuple());
  s->expr = std::move(value);
  KV_RETURN(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::Status Parser::ParseMacro(int line, Body* body) {
  auto s = std::make_unique<Stmt>();
  s->kind = Stmt::Kind::kMacro;
  s->line = line;
  KV_ASSIGN(name, ExpectName());
  s->targets.push_back(std::move(name));
  KV_RETURN(ExpectOp("("));
  while (!IsOp(")")) {
    KV_ASSIGN(param, ExpectName());
    s->targets.push_back(std::move(param));
    if (SkipOp("=")) {
      KV_ASSIGN(def, ParseExpression());
      s->defaults.push_back(std::move(def));
    } else {
      s->defaults.push_back(nullptr);
    }
    if (!SkipOp(",")) break;
  }
  KV_RETURN(ExpectOp(")"));
  KV_RETURN(ExpectBlockEnd());
  s->bodies.emplace_back();
  std::string end;
  KV_RETURN(ParseBody({"endmacro"}, &s->bodies[0], &end));
  if (Cur().kind == K::kName) Next();  // {% endmacro name %}
  KV_RETURN(ExpectBlockEnd());
  body->push_back(std::move(s));
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Parser::ParseTuple(bool with_condexpr) {
  const int line = Cur().line;
  KV_ASSIGN(first, ParseExpression(with_condexpr));
  if (!IsOp(",")) return first;
  ExprPtr tuple = Make(Expr::Kind::kList, line);
  tuple->args.push_back(std::move(first));
  while (SkipOp(",")) {
    if (Cur().kind == K::kBlockEnd || Cur().kind == K::kVarEnd || IsOp(")"))
      break;
    KV_ASSIGN(item, ParseExpression(with_condexpr));
    tuple->args.push_back(std::move(item));
  }
  return tuple;
}

absl::StatusOr<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  Deeper deeper(this);
  if (deeper.too_deep()) {
    return Error(
        absl::StrCat("expression nested deeper than ", limits_.max_depth));
  }
  const int line = Cur().line;
  KV_ASSIGN(expr, ParseOr());
  if (!with_condexpr) return expr;
  while (SkipName("if")) {
    KV_ASSIGN(cond, ParseOr());
    ExprPtr node = Make(Expr::Kind::kCond, line);
    node->args.push_back(std::move(expr));
    node->args.push_back(std::move(cond));
    if (SkipName("else")) {
      KV_ASSIGN(other, ParseExpression());
      node->args.push_back(std::move(other));
    } else {
      node->args.push_back(nullptr);
    }
    expr = std::move(node);
  }
  return expr;
}

absl::StatusOr<ExprPtr> Parser::ParseOr() {
  KV_ASSIGN(left, ParseAnd());
  while (IsName("or")) {
    const int line = Cur().line;
    Next();
    KV_ASSIGN(right, ParseAnd());
    ExprPtr node = Make(Expr::Kind::kOr, line);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseAnd() {
  KV_ASSIGN(left, ParseNot());
  while (IsName("and")) {
    const int line = Cur().line;
    Next();
    KV_ASSIGN(right, ParseNot());
    ExprPtr node = Make(Expr::Kind::kAnd, line);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    Deeper deeper(this);
    if (deeper.too_deep()) {
      return Error(
          absl::StrCat("expression nested deeper than ", limits_.max_depth));
    }
    const int line = Cur().line;
    Next();
    KV_ASSIGN(operand, ParseNot());
    ExprPtr node = Make(Expr::Kind::kNot, line);
    node->args.push_back(std::move(operand));
    return node;
  }
  return ParseCompare();
}

absl::StatusOr<ExprPtr> Parser::ParseCompare() {
  KV_ASSIGN(left, ParseMath1());
  while (true) {
    const int line = Cur().line;
    std::string op;
    if (Cur().kind == K::kOperator &&
        (Cur().value == "==" || Cur().value == "!=" || Cur().value == "<" ||
         Cur().value == "<=" || Cur().value == ">" || Cur().value == ">=")) {
      op = Cur().value;
      Next();
    } else if (IsName("in")) {
      op = "in";
      Next();
    } else if (IsName("not") && Peek().kind == K::kName &&
               Peek().value == "in") {
      op = "not in";
      Next();
      Next();
    } else {
      break;
    }
    KV_ASSIGN(right, ParseMath1());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = op;
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseMath1() {
  KV_ASSIGN(left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    const int line = Cur().line;
    std::string op = Cur().value;
    Next();
    KV_ASSIGN(right, ParseConcat());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = std::move(op);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseConcat() {
  KV_ASSIGN(left, ParseMath2());
  while (IsOp("~")) {
    const int line = Cur().line;
    Next();
    KV_ASSIGN(right, ParseMath2());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name.assign(1, '~');
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseMath2() {
  KV_ASSIGN(left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const int line = Cur().line;
    std::string op = Cur().value;
    Next();
    KV_ASSIGN(right, ParsePow());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = std::move(op);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParsePow() {
  KV_ASSIGN(left, ParseUnary(true));
  while (IsOp("**")) {
    const int line = Cur().line;
    Next();
    KV_ASSIGN(right, ParseUnary(true));
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = "**";
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseUnary(bool with_filter) {
  Deeper deeper(this);
  if (deeper.too_deep()) {
    return Error(
        absl::StrCat("expression nested deeper than ", limits_.max_depth));
  }
  const int line = Cur().line;
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    const bool neg = IsOp("-");
    Next();
    KV_ASSIGN(operand, ParseUnary(false));
    node = Make(neg ? Expr::Kind::kNeg : Expr::Kind::kPos, line);
    node->args.push_back(std::move(operand));
  } else {
    KV_ASSIGN(primary, ParsePrimary());
    KV_ASSIGN(post, ParsePostfix(std::move(primary)));
    node = std::move(post);
  }
  if (with_filter) return ParseFilterExpr(std::move(node));
  return node;
}

absl::StatusOr<ExprPtr> Parser::ParsePrimary() {
  const Token& t = Cur();
  const int line = t.line;
  if (t.kind == K::kName) {
    const std::string& v = t.value;
    ExprPtr node = Make(Expr::Kind::kLiteral, line);
    if (v == "true" || v == "True") {
      node->literal = Value::Bool(true);
    } else if (v == "false" || v == "False") {
      node->literal = Value::Bool(false);
    } else if (v == "none" || v == "None") {
      node->literal = Value::MakeNone();
    } else {
      node->kind = Expr::Kind::kName;
      node->name = v;
    }
    Next();
    return node;
  }
  if (t.kind == K::kString) {
    std::string s = t.value;
    Next();
    while (Cur().kind == K::kString) {  // adjacent literals concatenate
      s += Cur().value;
      Next();
    }
    ExprPtr node = Make(Expr::Kind::kLiteral, line);
    node->literal = Value::String(std::move(s));
    return node;
  }
  if (t.kind == K::kInt || t.kind == K::kFloat) {
    ExprPtr node = Make(Expr::Kind::kLiteral, line);
    if (t.kind == K::kInt) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(t.value, &v))
        return Error("integer literal out of range");
      node->literal = Value::Int(v);
    } else {
      node->literal = Value::Float(std::strtod(t.value.c_str(), nullptr));
    }
    Next();
    return node;
  }
  if (SkipOp("(")) {
    if (SkipOp(")")) return Make(Expr::Kind::kList, line);  // ()
    KV_ASSIGN(first, ParseExpression());
    if (IsOp(",")) {
      ExprPtr tuple = Make(Expr::Kind::kList, line);
      tuple->args.push_back(std::move(first));
      while (SkipOp(",")) {
        if (IsOp(")")) break;
        KV_ASSIGN(item, ParseExpression());
        tuple->args.push_back(std::move(item));
      }
      KV_RETURN(ExpectOp(")"));
      return tuple;
    }
    KV_RETURN(ExpectOp(")"));
    return first;
  }
  if (SkipOp("[")) {
    ExprPtr list = Make(Expr::Kind::kList, line);
    while (!IsOp("]")) {
      KV_ASSIGN(item, ParseExpression());
      list->args.push_back(std::move(item));
      if (!SkipOp(",")) break;
    }
    KV_RETURN(ExpectOp("]"));
    return list;
  }
  if (SkipOp("{")) {
    ExprPtr dict = Make(Expr::Kind::kDict, line);
    while (!IsOp("}")) {
      KV_ASSIGN(key, ParseExpression());
      KV_RETURN(ExpectOp(":"));
      KV_ASSIGN(value, ParseExpression());
      dict->args.push_back(std::move(key));
      dict->args.push_back(std::move(value));
      if (!SkipOp(",")) break;
    }
    KV_RETURN(ExpectOp("}"));
    return dict;
  }
  return Error(absl::StrCat("unexpected ", Describe()));
}

absl::StatusOr<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    const int line = Cur().line;
    if (SkipOp(".")) {
      if (Cur().kind == K::kInt) {  // x.0 is x[0]
        ExprPtr item = Make(Expr::Kind::kItem, line);
        ExprPtr index = Make(Expr::Kind::kLiteral, line);
        int64_t v = 0;
        if (!absl::SimpleAtoi(Cur().value, &v))
          return Error("index out of range");
        index->literal = Value::Int(v);
        Next();
        item->args.push_back(std::move(node));
        item->args.push_back(std::move(index));
        node = std::move(item);
        continue;
      }
      KV_ASSIGN(name, ExpectName());
      ExprPtr attr = Make(Expr::Kind::kAttr, line);
      attr->name = std::move(name);
      attr->args.push_back(std::move(node));
      node = std::move(attr);
    } else if (IsOp("[")) {
      KV_ASSIGN(sub, ParseSubscript(std::move(node)));
      node = std::move(sub);
    } else if (IsOp("(")) {
      ExprPtr call = Make(Expr::Kind::kCall, line);
      call->args.push_back(std::move(node));
      KV_RETURN(ParseCallArgs(call.get()));
      node = std::move(call);
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  const int line = Cur().line;
  Next();  // [
  ExprPtr parts[3];
  int n_colons = 0;
  while (!IsOp("]")) {
    if (SkipOp(":")) {
      if (++n_colons > 2) return Error("too many ':' in a slice");
      continue;
    }
    if (parts[n_colons] != nullptr) return Error("expected ':' or ']'");
    KV_ASSIGN(part, ParseExpression());
    parts[n_colons] = std::move(part);
  }
  Next();  // ]
  if (n_colons == 0) {
    if (parts[0] == nullptr) return Error("empty subscript");
    ExprPtr item = Make(Expr::Kind::kItem, line);
    item->args.push_back(std::move(node));
    item->args.push_back(std::move(parts[0]));
    return item;
  }
  ExprPtr slice = Make(Expr::Kind::kSlice, line);
  slice->args.push_back(std::move(node));
  for (ExprPtr& p : parts) slice->args.push_back(std::move(p));
  return slice;
}

absl::Status Parser::ParseCallArgs(Expr* node) {
  KV_RETURN(ExpectOp("("));
  std::vector<ExprPtr> keyword_values;
  while (!IsOp(")")) {
    if (Cur().kind == K::kName && Peek().kind == K::kOperator &&
        Peek().value == "=") {
      node->keywords.push_back(Cur().value);
      Next();
      Next();
      KV_ASSIGN(value, ParseExpression());
      keyword_values.push_back(std::move(value));
    } else {
      if (!keyword_values.empty()) {
        return Error("positional argument after a keyword argument");
      }
      KV_ASSIGN(value, ParseExpression());
      node->args.push_back(std::move(value));
    }
    if (!SkipOp(",")) break;
  }
  KV_RETURN(ExpectOp(")"));
  for (ExprPtr& v : keyword_values) node->args.push_back(std::move(v));
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    const int line = Cur().line;
    if (SkipOp("|")) {
      KV_ASSIGN(name, ExpectName());
      ExprPtr filter = Make(Expr::Kind::kFilter, line);
      filter->name = std::move(name);
      filter->args.push_back(std::move(node));
      if (IsOp("(")) KV_RETURN(ParseCallArgs(filter.get()));
      node = std::move(filter);
    } else if (SkipName("is")) {
      ExprPtr test = Make(Expr::Kind::kTest, line);
      test->negated = SkipName("not");
      KV_ASSIGN(name, ExpectName());
      test->name = std::move(name);
      test->args.push_back(std::move(node));
      if (IsOp("(")) {
        KV_RETURN(ParseCallArgs(test.get()));
      } else if ((Cur().kind == K::kName || Cur().kind == K::kString ||
                  Cur().kind == K::kInt || Cur().kind == K::kFloat ||
                  IsOp("[") || IsOp("{")) &&
                 !IsName("else") && !IsName("or") && !IsName("and") &&
                 !IsName("if") && !IsName("in") && !IsName("not")) {
        if (IsName("is")) return Error("cannot chain tests with 'is'");
        KV_ASSIGN(arg, ParsePrimary());
        KV_ASSIGN(post, ParsePostfix(std::move(arg)));
        test->args.push_back(std::move(post));
      }
      node = std::move(test);
    } else {
      return node;
    }
  }
}

}  // namespace

absl::StatusOr<Body> Parse(std::vector<Token> tokens,
                           const ParseLimits& limits) {
  return Parser(std::move(tokens), limits).Run();
}

}  // namespace kvasir::engine::chat
