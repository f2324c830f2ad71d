#include "engine/chat/interpreter.h"

#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/builtins.h"

namespace kvasir::engine::chat {
namespace {

constexpr absl::string_view kRaisedUrl = "kvasir.chat/raise_exception";

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
  KV_ASSIGN(st, as_int(step, 1));
  if (st == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  const int64_t lo_def = st > 0 ? 0 : n - 1;
  const int64_t hi_def = st > 0 ? n : -1;
  KV_ASSIGN(a, as_int(start, lo_def));
  KV_ASSIGN(b, as_int(stop, hi_def));
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

absl::StatusOr<Text> Interpreter::Render(
    const Body& body, std::vector<std::pair<std::string, Value>> globals) {
  scopes_.clear();
  scopes_.push_back(std::move(globals));
  Text out;
  KV_RETURN(Exec(body, &out));
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

absl::Status Interpreter::Exec(const Body& body, Text* out) {
  for (const StmtPtr& stmt : body) {
    KV_RETURN(ExecStmt(*stmt, out));
    if (flow_ != Flow::kNormal) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status Interpreter::ExecStmt(const Stmt& stmt, Text* out) {
  KV_RETURN(AtLine(stmt.line, Charge(1)));
  switch (stmt.kind) {
    case Stmt::Kind::kText:
      return AtLine(stmt.line, Emit(Text(stmt.text), out));
    case Stmt::Kind::kOutput: {
      KV_ASSIGN(v, Eval(*stmt.expr));
      return AtLine(stmt.line, Emit(ToText(v), out));
    }
    case Stmt::Kind::kIf:
      for (size_t i = 0; i < stmt.conds.size(); ++i) {
        KV_ASSIGN(c, Eval(*stmt.conds[i]));
        if (c.Truthy()) return Exec(stmt.bodies[i], out);
      }
      if (stmt.bodies.size() > stmt.conds.size())
        return Exec(stmt.bodies.back(), out);
      return absl::OkStatus();
    case Stmt::Kind::kFor:
      return ExecFor(stmt, out);
    case Stmt::Kind::kSet:
      return ExecSet(stmt);
    case Stmt::Kind::kSetBlock: {
      Text captured;
      KV_RETURN(Exec(stmt.bodies[0], &captured));
      Assign(stmt.targets[0], Value::String(std::move(captured)));
      return absl::OkStatus();
    }
    case Stmt::Kind::kMacro: {
      const Stmt* macro = &stmt;
      Assign(stmt.targets[0],
             Value::MakeFunction(Function{
                 stmt.targets[0], [macro](Interpreter& in, CallArgs args) {
                   return in.CallMacro(*macro, std::move(args));
                 }}));
      return absl::OkStatus();
    }
    case Stmt::Kind::kBreak:
      flow_ = Flow::kBreak;
      return absl::OkStatus();
    case Stmt::Kind::kContinue:
      flow_ = Flow::kContinue;
      return absl::OkStatus();
    case Stmt::Kind::kBlock:
      return Exec(stmt.bodies[0], out);
  }
  return absl::OkStatus();
}

absl::Status Interpreter::ExecFor(const Stmt& stmt, Text* out) {
  KV_ASSIGN(seq, Eval(*stmt.expr));
  absl::StatusOr<List> all = Iterate(seq);
  if (!all.ok()) return AtLine(stmt.line, all.status());
  // Bind one item's loop variables into the top scope.
  auto bind = [&](const Value& item) -> absl::Status {
    if (stmt.targets.size() == 1) {
      Assign(stmt.targets[0], item);
      return absl::OkStatus();
    }
    absl::StatusOr<List> parts = Iterate(item);
    if (!parts.ok() || parts->size() != stmt.targets.size()) {
      return TemplateError(
          stmt.line, absl::StrCat("cannot unpack ", item.TypeName(), " into ",
                                  stmt.targets.size(), " loop variables"));
    }
    for (size_t i = 0; i < parts->size(); ++i)
      Assign(stmt.targets[i], (*parts)[i]);
    return absl::OkStatus();
  };
  List items;
  if (stmt.conds.empty()) {
    items = std::move(*all);
  } else {  // the loop filter runs first; loop.* counts what passes
    for (const Value& item : *all) {
      KV_RETURN(AtLine(stmt.line, Charge(1)));
      scopes_.emplace_back();
      absl::Status bound = bind(item);
      absl::StatusOr<Value> keep =
          bound.ok() ? Eval(*stmt.conds[0]) : absl::StatusOr<Value>(bound);
      scopes_.pop_back();
      if (!keep.ok()) return keep.status();
      if (keep->Truthy()) items.push_back(item);
    }
  }
  const size_t n = items.size();
  for (size_t i = 0; i < n; ++i) {
    KV_RETURN(AtLine(stmt.line, Charge(1)));
    auto loop = std::make_shared<Dict>();
    const int64_t len = static_cast<int64_t>(n);
    const int64_t idx = static_cast<int64_t>(i);
    loop->items = {
        {"index0", Value::Int(idx)},
        {"index", Value::Int(idx + 1)},
        {"revindex0", Value::Int(len - idx - 1)},
        {"revindex", Value::Int(len - idx)},
        {"first", Value::Bool(i == 0)},
        {"last", Value::Bool(i + 1 == n)},
        {"length", Value::Int(len)},
        {"depth0", Value::Int(0)},
        {"depth", Value::Int(1)},
        {"previtem",
         i > 0 ? items[i - 1] : Value::MakeUndefined("loop.previtem")},
        {"nextitem",
         i + 1 < n ? items[i + 1] : Value::MakeUndefined("loop.nextitem")},
        {"cycle",
         Value::MakeFunction(Function{
             "loop.cycle",
             [i](Interpreter&, CallArgs args) -> absl::StatusOr<Value> {
               if (args.positional.empty()) {
                 return absl::InvalidArgumentError("loop.cycle: no items");
               }
               return args.positional[i % args.positional.size()];
             }})},
    };
    scopes_.emplace_back();
    absl::Status s = bind(items[i]);
    if (s.ok()) {
      Assign("loop", Value::MakeDict(std::move(loop)));
      s = Exec(stmt.bodies[0], out);
    }
    scopes_.pop_back();
    KV_RETURN(s);
    const Flow flow = flow_;
    flow_ = Flow::kNormal;
    if (flow == Flow::kBreak) break;
  }
  if (n == 0) return Exec(stmt.bodies[1], out);
  return absl::OkStatus();
}

absl::Status Interpreter::ExecSet(const Stmt& stmt) {
  KV_ASSIGN(v, Eval(*stmt.expr));
  if (!stmt.attr.empty()) {
    const Value target = Lookup(stmt.targets[0]);
    if (!target.is_dict() || !target.as_dict().is_namespace) {
      return TemplateError(
          stmt.line,
          absl::StrCat("cannot assign attribute on non-namespace object '",
                       stmt.targets[0], "'"));
    }
    target.as_dict().Set(stmt.attr, std::move(v));
    return absl::OkStatus();
  }
  if (stmt.targets.size() == 1) {
    Assign(stmt.targets[0], std::move(v));
    return absl::OkStatus();
  }
  absl::StatusOr<List> parts = Iterate(v);
  if (!parts.ok() || parts->size() != stmt.targets.size()) {
    return TemplateError(stmt.line,
                         absl::StrCat("cannot unpack ", v.TypeName(), " into ",
                                      stmt.targets.size(), " names"));
  }
  for (size_t i = 0; i < parts->size(); ++i)
    Assign(stmt.targets[i], (*parts)[i]);
  return absl::OkStatus();
}

absl::StatusOr<Value> Interpreter::CallMacro(const Stmt& macro, CallArgs args) {
  if (call_depth_ >= limits_.max_call_depth) {
    return absl::InvalidArgumentError(absl::StrCat(
        "macro calls nested deeper than ", limits_.max_call_depth));
  }
  const size_t n_params = macro.targets.size() - 1;
  if (args.positional.size() > n_params) {
    return absl::InvalidArgumentError(
        absl::StrCat("macro '", macro.targets[0], "' takes ", n_params,
                     " arguments, got ", args.positional.size()));
  }
  // The macro sees the template's top-level variables and its parameters.
  std::vector<Scope> saved;
  saved.swap(scopes_);
  scopes_.push_back(saved[0]);
  scopes_.emplace_back();
  absl::Status status;
  for (size_t i = 0; i < n_params && status.ok(); ++i) {
    const std::string& param = macro.targets[i + 1];
    Value v = Value::MakeUndefined(param);
    if (i < args.positional.size()) {
      v = args.positional[i];
    } else {
      bool found = false;
      for (const auto& [k, kv] : args.keywords) {
        if (k == param) {
          v = kv;
          found = true;
        }
      }
      if (!found && macro.defaults[i] != nullptr) {
        absl::StatusOr<Value> d = Eval(*macro.defaults[i]);
        if (d.ok()) v = *std::move(d);
        status = d.status();
      }
    }
    Assign(param, std::move(v));
  }
  Text out;
  ++call_depth_;
  if (status.ok()) status = Exec(macro.bodies[0], &out);
  --call_depth_;
  flow_ = Flow::kNormal;
  scopes_.swap(saved);
  KV_RETURN(status);
  return Value::String(std::move(out));
}

absl::StatusOr<Value> Interpreter::Call(const Value& fn, CallArgs args) {
  KV_RETURN(Charge(1));
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
    KV_ASSIGN(v, Eval(*expr.args[first + i]));
    args.positional.push_back(std::move(v));
  }
  for (size_t i = 0; i < n_kw; ++i) {
    KV_ASSIGN(v, Eval(*expr.args[first + n_pos + i]));
    args.keywords.emplace_back(expr.keywords[i], std::move(v));
  }
  return args;
}

absl::StatusOr<Value> Interpreter::EvalCall(const Expr& expr) {
  const Expr& callee = *expr.args[0];
  if (callee.kind == Expr::Kind::kAttr) {
    KV_ASSIGN(obj, Eval(*callee.args[0]));
    if (HasMethod(obj, callee.name)) {
      KV_ASSIGN(args, EvalArgs(expr, 1));
      KV_RETURN(AtLine(expr.line, Charge(1)));
      absl::StatusOr<Value> r =
          CallMethod(*this, obj, callee.name, std::move(args));
      if (!r.ok()) return AtLine(expr.line, r.status());
      return r;
    }
  }
  KV_ASSIGN(fn, Eval(callee));
  KV_ASSIGN(args, EvalArgs(expr, 1));
  absl::StatusOr<Value> r = Call(fn, std::move(args));
  if (!r.ok()) return AtLine(expr.line, r.status());
  return r;
}

absl::StatusOr<Value> Interpreter::Eval(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return expr.literal;
    case Expr::Kind::kName:
      return Lookup(expr.name);
    case Expr::Kind::kAttr: {
      KV_ASSIGN(obj, Eval(*expr.args[0]));
      if (obj.is_undefined()) return AtLine(expr.line, UndefinedError(obj));
      if (obj.is_dict()) {
        if (const Value* v = obj.as_dict().Find(expr.name)) return *v;
      }
      return Value::MakeUndefined(expr.name);
    }
    case Expr::Kind::kItem: {
      KV_ASSIGN(obj, Eval(*expr.args[0]));
      KV_ASSIGN(key, Eval(*expr.args[1]));
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
      KV_ASSIGN(obj, Eval(*expr.args[0]));
      Value parts[3];
      for (int p = 0; p < 3; ++p) {
        if (expr.args[p + 1] == nullptr) continue;
        KV_ASSIGN(v, Eval(*expr.args[p + 1]));
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
      KV_ASSIGN(v, Eval(*expr.args[0]));
      KV_ASSIGN(args, EvalArgs(expr, 1));
      KV_RETURN(AtLine(expr.line, Charge(1)));
      absl::StatusOr<Value> r =
          ApplyFilter(*this, expr.name, v, std::move(args));
      if (!r.ok()) return AtLine(expr.line, r.status());
      return r;
    }
    case Expr::Kind::kTest: {
      KV_ASSIGN(v, Eval(*expr.args[0]));
      KV_ASSIGN(args, EvalArgs(expr, 1));
      absl::StatusOr<bool> r = ApplyTest(*this, expr.name, v, args);
      if (!r.ok()) return AtLine(expr.line, r.status());
      return Value::Bool(*r != expr.negated);
    }
    case Expr::Kind::kNot: {
      KV_ASSIGN(v, Eval(*expr.args[0]));
      return Value::Bool(!v.Truthy());
    }
    case Expr::Kind::kNeg:
    case Expr::Kind::kPos: {
      KV_ASSIGN(v, Eval(*expr.args[0]));
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
      KV_ASSIGN(a, Eval(*expr.args[0]));
      if (!a.Truthy()) return a;
      return Eval(*expr.args[1]);
    }
    case Expr::Kind::kOr: {
      KV_ASSIGN(a, Eval(*expr.args[0]));
      if (a.Truthy()) return a;
      return Eval(*expr.args[1]);
    }
    case Expr::Kind::kCond: {
      KV_ASSIGN(c, Eval(*expr.args[1]));
      if (c.Truthy()) return Eval(*expr.args[0]);
      if (expr.args[2] == nullptr)
        return Value::MakeUndefined("(if without else)");
      return Eval(*expr.args[2]);
    }
    case Expr::Kind::kList: {
      List items;
      for (const ExprPtr& e : expr.args) {
        KV_ASSIGN(v, Eval(*e));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items));
    }
    case Expr::Kind::kDict: {
      auto dict = std::make_shared<Dict>();
      for (size_t i = 0; i + 1 < expr.args.size(); i += 2) {
        KV_ASSIGN(k, Eval(*expr.args[i]));
        KV_ASSIGN(v, Eval(*expr.args[i + 1]));
        if (!k.is_string()) {
          return TemplateError(expr.line, "dict keys must be strings");
        }
        dict->Set(k.as_text().str(), std::move(v));
      }
      return Value::MakeDict(std::move(dict));
    }
    case Expr::Kind::kBinary:
      return EvalBinary(expr);
  }
  return TemplateError(expr.line, "unknown expression");
}

}  // namespace kvasir::engine::chat
