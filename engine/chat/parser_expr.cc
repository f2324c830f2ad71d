// The expressions of the parser (parser_internal.h).

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/chat/parser_internal.h"

namespace kvasir::engine::chat::parser_internal {

absl::StatusOr<ExprPtr> Parser::ParseTuple(bool with_condexpr) {
  const int line = Cur().line;
  ASSIGN_OR_RETURN(auto first, ParseExpression(with_condexpr));
  if (!IsOp(",")) return first;
  ExprPtr tuple = Make(Expr::Kind::kList, line);
  tuple->name = "tuple";
  tuple->args.push_back(std::move(first));
  while (SkipOp(",")) {
    if (Cur().kind == K::kBlockEnd || Cur().kind == K::kVarEnd || IsOp(")"))
      break;
    ASSIGN_OR_RETURN(auto item, ParseExpression(with_condexpr));
    tuple->args.push_back(std::move(item));
  }
  return tuple;
}

absl::StatusOr<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  Chain chain(this);
  Deeper deeper(this);
  if (deeper.too_deep()) {
    return Error(
        absl::StrCat("expression nested deeper than ", limits_.max_depth));
  }
  const int line = Cur().line;
  ASSIGN_OR_RETURN(auto expr, ParseOr());
  if (!with_condexpr) return expr;
  while (SkipName("if")) {
    if (!chain.Nest()) return TooDeep();
    ASSIGN_OR_RETURN(auto cond, ParseOr());
    ExprPtr node = Make(Expr::Kind::kCond, line);
    node->args.push_back(std::move(expr));
    node->args.push_back(std::move(cond));
    if (SkipName("else")) {
      ASSIGN_OR_RETURN(auto other, ParseExpression());
      node->args.push_back(std::move(other));
    } else {
      node->args.push_back(nullptr);
    }
    expr = std::move(node);
  }
  return expr;
}

absl::StatusOr<ExprPtr> Parser::ParseOr() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParseAnd());
  while (IsName("or")) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    Next();
    ASSIGN_OR_RETURN(auto right, ParseAnd());
    ExprPtr node = Make(Expr::Kind::kOr, line);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseAnd() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParseNot());
  while (IsName("and")) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    Next();
    ASSIGN_OR_RETURN(auto right, ParseNot());
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
    ASSIGN_OR_RETURN(auto operand, ParseNot());
    ExprPtr node = Make(Expr::Kind::kNot, line);
    node->args.push_back(std::move(operand));
    return node;
  }
  return ParseCompare();
}

absl::StatusOr<ExprPtr> Parser::ParseCompare() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParseMath1());
  while (true) {
    if (!chain.Nest()) return TooDeep();
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
    ASSIGN_OR_RETURN(auto right, ParseMath1());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = op;
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseMath1() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    std::string op = Cur().value;
    Next();
    ASSIGN_OR_RETURN(auto right, ParseConcat());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = std::move(op);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseConcat() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParseMath2());
  while (IsOp("~")) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    Next();
    ASSIGN_OR_RETURN(auto right, ParseMath2());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name.assign(1, '~');
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParseMath2() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    std::string op = Cur().value;
    Next();
    ASSIGN_OR_RETURN(auto right, ParsePow());
    ExprPtr node = Make(Expr::Kind::kBinary, line);
    node->name = std::move(op);
    node->args.push_back(std::move(left));
    node->args.push_back(std::move(right));
    left = std::move(node);
  }
  return left;
}

absl::StatusOr<ExprPtr> Parser::ParsePow() {
  Chain chain(this);
  ASSIGN_OR_RETURN(auto left, ParseUnary(true));
  while (IsOp("**")) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    Next();
    ASSIGN_OR_RETURN(auto right, ParseUnary(true));
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
    ASSIGN_OR_RETURN(auto operand, ParseUnary(false));
    node = Make(neg ? Expr::Kind::kNeg : Expr::Kind::kPos, line);
    node->args.push_back(std::move(operand));
  } else {
    ASSIGN_OR_RETURN(auto primary, ParsePrimary());
    ASSIGN_OR_RETURN(auto post, ParsePostfix(std::move(primary)));
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
    if (SkipOp(")")) {  // ()
      ExprPtr empty = Make(Expr::Kind::kList, line);
      empty->name = "tuple";
      return empty;
    }
    ASSIGN_OR_RETURN(auto first, ParseExpression());
    if (IsOp(",")) {
      ExprPtr tuple = Make(Expr::Kind::kList, line);
      tuple->name = "tuple";
      tuple->args.push_back(std::move(first));
      while (SkipOp(",")) {
        if (IsOp(")")) break;
        ASSIGN_OR_RETURN(auto item, ParseExpression());
        tuple->args.push_back(std::move(item));
      }
      RETURN_IF_ERROR(ExpectOp(")"));
      return tuple;
    }
    RETURN_IF_ERROR(ExpectOp(")"));
    return first;
  }
  if (SkipOp("[")) {
    ExprPtr list = Make(Expr::Kind::kList, line);
    while (!IsOp("]")) {
      ASSIGN_OR_RETURN(auto item, ParseExpression());
      list->args.push_back(std::move(item));
      if (!SkipOp(",")) break;
    }
    RETURN_IF_ERROR(ExpectOp("]"));
    return list;
  }
  if (SkipOp("{")) {
    ExprPtr dict = Make(Expr::Kind::kDict, line);
    while (!IsOp("}")) {
      ASSIGN_OR_RETURN(auto key, ParseExpression());
      RETURN_IF_ERROR(ExpectOp(":"));
      ASSIGN_OR_RETURN(auto value, ParseExpression());
      dict->args.push_back(std::move(key));
      dict->args.push_back(std::move(value));
      if (!SkipOp(",")) break;
    }
    RETURN_IF_ERROR(ExpectOp("}"));
    return dict;
  }
  return Error(absl::StrCat("unexpected ", Describe()));
}

absl::StatusOr<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  Chain chain(this);
  while (true) {
    if (!chain.Nest()) return TooDeep();
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
      ASSIGN_OR_RETURN(auto name, ExpectName());
      ExprPtr attr = Make(Expr::Kind::kAttr, line);
      attr->name = std::move(name);
      attr->args.push_back(std::move(node));
      node = std::move(attr);
    } else if (IsOp("[")) {
      ASSIGN_OR_RETURN(auto sub, ParseSubscript(std::move(node)));
      node = std::move(sub);
    } else if (IsOp("(")) {
      ExprPtr call = Make(Expr::Kind::kCall, line);
      call->args.push_back(std::move(node));
      RETURN_IF_ERROR(ParseCallArgs(call.get()));
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
    ASSIGN_OR_RETURN(auto part, ParseExpression());
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
  RETURN_IF_ERROR(ExpectOp("("));
  std::vector<ExprPtr> keyword_values;
  while (!IsOp(")")) {
    if (Cur().kind == K::kName && Peek().kind == K::kOperator &&
        Peek().value == "=") {
      node->keywords.push_back(Cur().value);
      Next();
      Next();
      ASSIGN_OR_RETURN(auto value, ParseExpression());
      keyword_values.push_back(std::move(value));
    } else {
      if (!keyword_values.empty()) {
        return Error("positional argument after a keyword argument");
      }
      ASSIGN_OR_RETURN(auto value, ParseExpression());
      node->args.push_back(std::move(value));
    }
    if (!SkipOp(",")) break;
  }
  RETURN_IF_ERROR(ExpectOp(")"));
  for (ExprPtr& v : keyword_values) node->args.push_back(std::move(v));
  return absl::OkStatus();
}

absl::StatusOr<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  Chain chain(this);
  while (true) {
    if (!chain.Nest()) return TooDeep();
    const int line = Cur().line;
    if (SkipOp("|")) {
      ASSIGN_OR_RETURN(auto name, ExpectName());
      ExprPtr filter = Make(Expr::Kind::kFilter, line);
      filter->name = std::move(name);
      filter->args.push_back(std::move(node));
      if (IsOp("(")) RETURN_IF_ERROR(ParseCallArgs(filter.get()));
      node = std::move(filter);
    } else if (SkipName("is")) {
      ExprPtr test = Make(Expr::Kind::kTest, line);
      test->negated = SkipName("not");
      ASSIGN_OR_RETURN(auto name, ExpectName());
      test->name = std::move(name);
      test->args.push_back(std::move(node));
      if (IsOp("(")) {
        RETURN_IF_ERROR(ParseCallArgs(test.get()));
      } else if ((Cur().kind == K::kName || Cur().kind == K::kString ||
                  Cur().kind == K::kInt || Cur().kind == K::kFloat ||
                  IsOp("[") || IsOp("{")) &&
                 !IsName("else") && !IsName("or") && !IsName("and") &&
                 !IsName("if") && !IsName("in") && !IsName("not")) {
        if (IsName("is")) return Error("cannot chain tests with 'is'");
        ASSIGN_OR_RETURN(auto arg, ParsePrimary());
        ASSIGN_OR_RETURN(auto post, ParsePostfix(std::move(arg)));
        test->args.push_back(std::move(post));
      }
      node = std::move(test);
    } else {
      return node;
    }
  }
}

}  // namespace kvasir::engine::chat::parser_internal
