// The binary operators of the interpreter (interpreter.h), with Python's
// semantics on Python's types.

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/chat/builtins.h"
#include "engine/chat/interpreter.h"

namespace kvasir::engine::chat {
namespace {

bool IsIntLike(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t IntOf(const Value& v) { return v.is_bool() ? v.as_bool() : v.as_int(); }
bool IsNum(const Value& v) { return v.is_number() || v.is_bool(); }

absl::Status OperandError(const std::string& op, const Value& a,
                          const Value& b) {
  for (const Value* v : {&a, &b}) {
    if (v->is_undefined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", v->undefined_name(), "' is undefined"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported operand type(s) for ", op, ": '", a.TypeName(),
                   "' and '", b.TypeName(), "'"));
}

absl::StatusOr<Value> Arith(const std::string& op, const Value& a,
                            const Value& b) {
  if (IsIntLike(a) && IsIntLike(b)) {
    const int64_t x = IntOf(a);
    const int64_t y = IntOf(b);
    int64_t r = 0;
    if (op == "+" && !__builtin_add_overflow(x, y, &r)) return Value::Int(r);
    if (op == "-" && !__builtin_sub_overflow(x, y, &r)) return Value::Int(r);
    if (op == "*" && !__builtin_mul_overflow(x, y, &r)) return Value::Int(r);
    if (op == "//" || op == "%") {
      if (y == 0)
        return absl::InvalidArgumentError("integer division or modulo by zero");
      if (x == std::numeric_limits<int64_t>::min() && y == -1) {
        return absl::InvalidArgumentError("integer overflow");
      }
      int64_t q = x / y;
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors
        --q;
        m += y;
      }
      return Value::Int(op == "//" ? q : m);
    }
    if (op == "**" && y >= 0) {
      int64_t acc = 1;
      for (int64_t i = 0; i < y; ++i) {
        if (__builtin_mul_overflow(acc, x, &acc)) {
          return absl::InvalidArgumentError("integer overflow");
        }
        if (acc == 0 || acc == 1) break;
      }
      return Value::Int(acc);
    }
    if (op == "+" || op == "-" || op == "*") {
      return absl::InvalidArgumentError("integer overflow");
    }
  }
  const double x = a.as_number();
  const double y = b.as_number();
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "**") return Value::Float(std::pow(x, y));
  if (y == 0) return absl::InvalidArgumentError("division by zero");
  if (op == "/") return Value::Float(x / y);
  if (op == "//") return Value::Float(std::floor(x / y));
  double m = std::fmod(x, y);
  if (m != 0 && ((m < 0) != (y < 0))) m += y;
  return Value::Float(m);
}

absl::StatusOr<bool> Less(const Value& a, const Value& b,
                          const std::string& op) {
  if (IsNum(a) && IsNum(b)) {
    if (IsIntLike(a) && IsIntLike(b)) return IntOf(a) < IntOf(b);
    return a.as_number() < b.as_number();
  }
  if (a.is_string() && b.is_string())
    return a.as_text().str() < b.as_text().str();
  if (a.is_list() && b.is_list()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Less(x[i], y[i], op);
    }
    return x.size() < y.size();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", op, "' not supported between instances of '",
                   a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'in <string>' requires string as left operand, not ",
                       item.TypeName()));
    }
    return container.as_text().str().find(item.as_text().str()) !=
           std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& v : container.as_list()) {
      if (Equals(v, item)) return true;
    }
    return false;
  }
  if (container.is_dict()) {
    return item.is_string() &&
           container.as_dict().Find(item.as_text().str()) != nullptr;
  }
  if (container.is_undefined()) return false;  // iterates as empty
  return absl::InvalidArgumentError(absl::StrCat(
      "argument of type '", container.TypeName(), "' is not iterable"));
}

}  // namespace

absl::StatusOr<Value> Interpreter::EvalBinary(const Expr& expr) {
  absl::StatusOr<Value> a_or = Eval(*expr.args[0]);
  if (!a_or.ok()) return a_or.status();
  absl::StatusOr<Value> b_or = Eval(*expr.args[1]);
  if (!b_or.ok()) return b_or.status();
  const Value& a = *a_or;
  const Value& b = *b_or;
  const std::string& op = expr.name;
  auto fail = [&](const absl::Status& s) -> absl::StatusOr<Value> {
    return AtLine(expr.line, s);
  };
  if (op == "==") return Value::Bool(Equals(a, b));
  if (op == "!=") return Value::Bool(!Equals(a, b));
  if (op == "in" || op == "not in") {
    absl::StatusOr<bool> r = Contains(b, a);
    if (!r.ok()) return fail(r.status());
    return Value::Bool(*r == (op == "in"));
  }
  if (op == "<" || op == ">" || op == "<=" || op == ">=") {
    const bool swap = op == ">" || op == "<=";
    absl::StatusOr<bool> lt = swap ? Less(b, a, op) : Less(a, b, op);
    if (!lt.ok()) return fail(lt.status());
    // a < b; a > b is b < a; a <= b is not (b < a); a >= b is not (a < b).
    return Value::Bool(op == "<" || op == ">" ? *lt : !*lt);
  }
  if (op == "~") {
    Text t = ToText(a);
    t.Append(ToText(b));
    if (absl::Status s = CheckString(t.size()); !s.ok()) return fail(s);
    return Value::String(std::move(t));
  }
  if (op == "+" && a.is_string() && b.is_string()) {
    if (absl::Status s = CheckString(a.as_text().size() + b.as_text().size());
        !s.ok()) {
      return fail(s);
    }
    Text t = a.as_text();
    t.Append(b.as_text());
    return Value::String(std::move(t));
  }
  if (op == "+" && a.is_list() && b.is_list()) {
    if (absl::Status s = CheckList(a.as_list().size() + b.as_list().size());
        !s.ok()) {
      return fail(s);
    }
    List l = a.as_list();
    l.insert(l.end(), b.as_list().begin(), b.as_list().end());
    return Value::MakeList(std::move(l));
  }
  if (op == "*" &&
      (a.is_string() || a.is_list() || b.is_string() || b.is_list())) {
    const Value& seq = a.is_string() || a.is_list() ? a : b;
    const Value& count = &seq == &a ? b : a;
    if (!IsIntLike(count)) return fail(OperandError(op, a, b));
    const int64_t n = std::max<int64_t>(0, IntOf(count));
    if (seq.is_string()) {
      const size_t unit = seq.as_text().size();
      if (unit > 0 &&
          n > limits().max_output_bytes / static_cast<int64_t>(unit)) {
        return fail(CheckString(limits().max_output_bytes + 1));
      }
      Text t;
      for (int64_t i = 0; i < n; ++i) t.Append(seq.as_text());
      return Value::String(std::move(t));
    }
    const size_t unit = seq.as_list().size();
    if (unit > 0 && n > limits().max_list_items / static_cast<int64_t>(unit)) {
      return fail(CheckList(limits().max_list_items + 1));
    }
    List l;
    for (int64_t i = 0; i < n; ++i) {
      l.insert(l.end(), seq.as_list().begin(), seq.as_list().end());
    }
    return Value::MakeList(std::move(l));
  }
  if (IsNum(a) && IsNum(b)) {
    absl::StatusOr<Value> r = Arith(op, a, b);
    if (!r.ok()) return fail(r.status());
    return r;
  }
  return fail(OperandError(op, a, b));
}

}  // namespace kvasir::engine::chat
