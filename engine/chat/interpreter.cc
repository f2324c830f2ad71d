#include "engine/chat/interpreter.h"

#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/chat/builtins.h"

namespace kvasir::engine::chat {
namespace {

constexpr absl::string_view kRaisedUrl = "kvasir.chat/raise_exception";

absl::Status UndefinedError(const Value& v) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", v.undefined_name(), "' is undefined"));
}

// Python's index normalisation for a[i]: -1 is the last item.
bool NormalizeIndex(int64_t i, size_t size, size_t* out) {
  const int64_t n = static_cast<int64_t>(size);
  if (i < 0) i += n;
  if (i < 0 || i >= n) return false;
  *out = static_cast<size_t>(i);
  return true;
}

// The indices a[start:stop:step] picks, as Python's slice.indices().
absl::StatusOr<std::vector<size_t>> SliceIndices(const Value* start,
                                                 const Value* stop,
                                                 const Value* step,
                                                 size_t size) {
  auto as_int = [](const Value* v, int64_t def) -> absl::StatusOr<int64_t> {
    if (v == nullptr || v->is_none() || v->is_undefined()) return def;
    if (!v->is_int())
      return absl::InvalidArgumentError("slice indices must be integers");
    return v->as_int();
  };
  const int64_t n = static_cast<int64_t>(size);
  ASSIGN_OR_RETURN(auto st, as_int(step, 1));
  if (st == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  const int64_t lo_def = st > 0 ? 0 : n - 1;
  const int64_t hi_def = st > 0 ? n : -1;
  ASSIGN_OR_RETURN(auto a, as_int(start, lo_def));
  ASSIGN_OR_RETURN(auto b, as_int(stop, hi_def));
  auto clamp = [&](int64_t x, bool given) {
    if (!given) return x;
    if (x < 0) x += n;
    if (st > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  a = clamp(a, start != nullptr && !start->is_none());
  b = clamp(b, stop != nullptr && !stop->is_none());
  std::vector<size_t> out;
  for (int64_t i = a; st > 0 ? i < b : i > b; i += st) out.push_back(i);
  return out;
}

}  // namespace

absl::Status TemplateError(int line, absl::string_view reason) {
  if (line <= 0) return absl::InvalidArgumentError(reason);
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", reason));
}

absl::Status AtLine(int line, const absl::Status& status) {
  if (status.ok() || line <= 0 || status.GetPayload(kRaisedUrl).has_value() ||
      absl::StartsWith(status.message(), "line ")) {
    return status;
  }
  return absl::Status(status.code(),
                      absl::StrCat("line ", line, ": ", status.message()));
}

absl::Status RaisedError(absl::string_view message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kRaisedUrl, absl::Cord("1"));
  return s;
}

absl::Status Interpreter::Charge(int64_t n) {
  steps_ += n;
  if (steps_ > limits_.max_steps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the template did more than ", limits_.max_steps,
        " steps (statements, loop iterations, calls); limit reached"));
  }
  return absl::OkStatus();
}

absl::Status Interpreter::CheckString(size_t bytes) const {
  if (static_cast<int64_t>(bytes) > limits_.max_output_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a string of ", bytes, " bytes is over the limit of ",
                     limits_.max_output_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Interpreter::CheckList(size_t items) const {
  if (static_cast<int64_t>(items) > limits_.max_list_items) {
    return absl::InvalidArgumentError(
        absl::StrCat("a list of ", items, " items is over the limit of ",
                     limits_.max_list_items, " items"));
  }
  return absl::OkStatus();
}

absl::Status Interpreter::CheckNesting(const Value& value) const {
  if (value.depth() > limits_.max_nesting) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lists and dicts nested deeper than ", limits_.max_nesting));
  }
  return absl::OkStatus();
}

absl::StatusOr<Text> Interpreter::Render(
    const Body& body, std::vector<std::pair<std::string, Value>> globals) {
  scopes_.clear();
  scopes_.push_back(std::move(globals));
  Text out;
  RETURN_IF_ERROR(Exec(body, &out));
  return out;
}

Value Interpreter::Lookup(const std::string& name) const {
  for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
    for (auto it = scope->rbegin(); it != scope->rend(); ++it) {
      if (it->first == name) return it->second;
    }
  }
  return Value::MakeUndefined(name);
}

void Interpreter::Assign(const std::string& name, Value value) {
  Scope& top = scopes_.back();
  for (auto& [k, v] : top) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  top.emplace_back(name, std::move(value));
}

absl::Status Interpreter::Emit(const Text& text, Text* out) {
  if (static_cast<int64_t>(out->size() + text.size()) >
      limits_.max_output_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the output is over the limit of ",
                     limits_.max_output_bytes, " bytes"));
  }
  out->Append(text);
  return absl::OkStatus();
}

absl::StatusOr<Value> Interpreter::Call(const Value& fn, CallArgs args) {
  RETURN_IF_ERROR(Charge(1));
  if (fn.is_undefined()) return UndefinedError(fn);
  if (!fn.is_function()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", fn.TypeName(), "' object is not callable"));
  }
  return fn.as_function().call(*this, std::move(args));
}

absl::StatusOr<CallArgs> Interpreter::EvalArgs(const Expr& expr, size_t first) {
  CallArgs args;
  const size_t n_kw = expr.keywords.size();
  const size_t n_pos = expr.args.size() - first - n_kw;
  for (size_t i = 0; i < n_pos; ++i) {
    ASSIGN_OR_RETURN(auto v, Eval(*expr.args[first + i]));
    args.positional.push_back(std::move(v));
  }
  for (size_t i = 0; i < n_kw; ++i) {
    ASSIGN_OR_RETURN(auto v, Eval(*expr.args[first + n_pos + i]));
    args.keywords.emplace_back(expr.keywords[i], std::move(v));
  }
  return args;
}

absl::StatusOr<Value> Interpreter::EvalCall(const Expr& expr) {
  const Expr& callee = *expr.args[0];
  if (callee.kind == Expr::Kind::kAttr) {
    ASSIGN_OR_RETURN(auto obj, Eval(*callee.args[0]));
    if (HasMethod(obj, callee.name)) {
      ASSIGN_OR_RETURN(auto args, EvalArgs(expr, 1));
      RETURN_IF_ERROR(AtLine(expr.line, Charge(1)));
      absl::StatusOr<Value> r =
          CallMethod(*this, obj, callee.name, std::move(args));
      if (!r.ok()) return AtLine(expr.line, r.status());
      return r;
    }
  }
  ASSIGN_OR_RETURN(auto fn, Eval(callee));
  ASSIGN_OR_RETURN(auto args, EvalArgs(expr, 1));
  absl::StatusOr<Value> r = Call(fn, std::move(args));
  if (!r.ok()) return AtLine(expr.line, r.status());
  return r;
}

absl::StatusOr<Value> Interpreter::Eval(const Expr& expr) {
  if (eval_depth_ >= limits_.max_eval_depth) return DepthError(expr.line);
  ++eval_depth_;
  absl::StatusOr<Value> v = EvalNode(expr);
  --eval_depth_;
  return v;
}

absl::StatusOr<Value> Interpreter::EvalNode(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return expr.literal;
    case Expr::Kind::kName:
      return Lookup(expr.name);
    case Expr::Kind::kAttr: {
      ASSIGN_OR_RETURN(auto obj, Eval(*expr.args[0]));
      if (obj.is_undefined()) return AtLine(expr.line, UndefinedError(obj));
      if (obj.is_dict()) {
        if (const Value* v = obj.as_dict().Find(expr.name)) return *v;
      }
      return Value::MakeUndefined(expr.name);
    }
    case Expr::Kind::kItem: {
      ASSIGN_OR_RETURN(auto obj, Eval(*expr.args[0]));
      ASSIGN_OR_RETURN(auto key, Eval(*expr.args[1]));
      if (obj.is_undefined()) return AtLine(expr.line, UndefinedError(obj));
      size_t i = 0;
      if (obj.is_dict() && key.is_string()) {
        if (const Value* v = obj.as_dict().Find(key.as_text().str())) return *v;
      } else if (obj.is_list() && key.is_int()) {
        if (NormalizeIndex(key.as_int(), obj.as_list().size(), &i)) {
          return obj.as_list()[i];
        }
      } else if (obj.is_string() && key.is_int()) {
        const Text& t = obj.as_text();
        const std::vector<size_t> cps = CodePointOffsets(t.str());
        if (NormalizeIndex(key.as_int(), cps.size() - 1, &i)) {
          return Value::String(t.Substr(cps[i], cps[i + 1] - cps[i]));
        }
      }
      return Value::MakeUndefined(ToText(key).str());
    }
    case Expr::Kind::kSlice: {
      ASSIGN_OR_RETURN(auto obj, Eval(*expr.args[0]));
      Value parts[3];
      for (int p = 0; p < 3; ++p) {
        if (expr.args[p + 1] == nullptr) continue;
        ASSIGN_OR_RETURN(auto v, Eval(*expr.args[p + 1]));
        parts[p] = std::move(v);
      }
      auto part = [&](int p) { return expr.args[p + 1] ? &parts[p] : nullptr; };
      if (obj.is_list()) {
        absl::StatusOr<std::vector<size_t>> idx =
            SliceIndices(part(0), part(1), part(2), obj.as_list().size());
        if (!idx.ok()) return AtLine(expr.line, idx.status());
        List out;
        for (size_t i : *idx) out.push_back(obj.as_list()[i]);
        return Value::MakeList(std::move(out));
      }
      if (obj.is_string()) {
        const Text& t = obj.as_text();
        const std::vector<size_t> cps = CodePointOffsets(t.str());
        absl::StatusOr<std::vector<size_t>> idx =
            SliceIndices(part(0), part(1), part(2), cps.size() - 1);
        if (!idx.ok()) return AtLine(expr.line, idx.status());
        Text out;
        for (size_t i : *idx) out.Append(t.Substr(cps[i], cps[i + 1] - cps[i]));
        return Value::String(std::move(out));
      }
      if (obj.is_undefined()) return AtLine(expr.line, UndefinedError(obj));
      return TemplateError(
          expr.line,
          absl::StrCat("'", obj.TypeName(), "' object is not subscriptable"));
    }
    case Expr::Kind::kCall:
      return EvalCall(expr);
    case Expr::Kind::kFilter: {
      ASSIGN_OR_RETURN(auto v, Eval(*expr.args[0]));
      ASSIGN_OR_RETURN(auto args, EvalArgs(expr, 1));
      RETURN_IF_ERROR(AtLine(expr.line, Charge(1)));
      absl::StatusOr<Value> r =
          ApplyFilter(*this, expr.name, v, std::move(args));
      if (!r.ok()) return AtLine(expr.line, r.status());
      return r;
    }
    case Expr::Kind::kTest: {
      ASSIGN_OR_RETURN(auto v, Eval(*expr.args[0]));
      ASSIGN_OR_RETURN(auto args, EvalArgs(expr, 1));
      absl::StatusOr<bool> r = ApplyTest(*this, expr.name, v, args);
      if (!r.ok()) return AtLine(expr.line, r.status());
      return Value::Bool(*r != expr.negated);
    }
    case Expr::Kind::kNot: {
      ASSIGN_OR_RETURN(auto v, Eval(*expr.args[0]));
      return Value::Bool(!v.Truthy());
    }
    case Expr::Kind::kNeg:
    case Expr::Kind::kPos: {
      ASSIGN_OR_RETURN(auto v, Eval(*expr.args[0]));
      const bool neg = expr.kind == Expr::Kind::kNeg;
      if (v.is_int() || v.is_bool()) {
        const int64_t i = v.is_bool() ? v.as_bool() : v.as_int();
        if (neg && i == std::numeric_limits<int64_t>::min()) {
          return TemplateError(expr.line, "integer overflow");
        }
        return Value::Int(neg ? -i : i);
      }
      if (v.is_float()) return Value::Float(neg ? -v.as_float() : v.as_float());
      if (v.is_undefined()) return AtLine(expr.line, UndefinedError(v));
      return TemplateError(
          expr.line, absl::StrCat("bad operand type for unary ",
                                  neg ? "-" : "+", ": '", v.TypeName(), "'"));
    }
    case Expr::Kind::kAnd: {
      ASSIGN_OR_RETURN(auto a, Eval(*expr.args[0]));
      if (!a.Truthy()) return a;
      return Eval(*expr.args[1]);
    }
    case Expr::Kind::kOr: {
      ASSIGN_OR_RETURN(auto a, Eval(*expr.args[0]));
      if (a.Truthy()) return a;
      return Eval(*expr.args[1]);
    }
    case Expr::Kind::kCond: {
      ASSIGN_OR_RETURN(auto c, Eval(*expr.args[1]));
      if (c.Truthy()) return Eval(*expr.args[0]);
      if (expr.args[2] == nullptr)
        return Value::MakeUndefined("(if without else)");
      return Eval(*expr.args[2]);
    }
    case Expr::Kind::kList: {
      List items;
      for (const ExprPtr& e : expr.args) {
        ASSIGN_OR_RETURN(auto v, Eval(*e));
        items.push_back(std::move(v));
      }
      Value list = expr.name == "tuple" ? Value::MakeTuple(std::move(items))
                                        : Value::MakeList(std::move(items));
      RETURN_IF_ERROR(AtLine(expr.line, CheckNesting(list)));
      return list;
    }
    case Expr::Kind::kDict: {
      auto dict = std::make_shared<Dict>();
      for (size_t i = 0; i + 1 < expr.args.size(); i += 2) {
        ASSIGN_OR_RETURN(auto k, Eval(*expr.args[i]));
        ASSIGN_OR_RETURN(auto v, Eval(*expr.args[i + 1]));
        if (!k.is_string()) {
          return TemplateError(expr.line, "dict keys must be strings");
        }
        dict->Set(k.as_text().str(), std::move(v));
      }
      Value value = Value::MakeDict(std::move(dict));
      RETURN_IF_ERROR(AtLine(expr.line, CheckNesting(value)));
      return value;
    }
    case Expr::Kind::kBinary:
      return EvalBinary(expr);
  }
  return TemplateError(expr.line, "unknown expression");
}

}  // namespace kvasir::engine::chat
