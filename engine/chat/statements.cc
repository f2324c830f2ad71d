// The statements of the interpreter (interpreter.h): output, if, for,
// set, macros, break/continue.

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/chat/builtins.h"
#include "engine/chat/interpreter.h"

namespace kvasir::engine::chat {

absl::Status Interpreter::Exec(const Body& body, Text* out) {
  for (const StmtPtr& stmt : body) {
    RETURN_IF_ERROR(ExecStmt(*stmt, out));
    if (flow_ != Flow::kNormal) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status Interpreter::DepthError(int line) const {
  return TemplateError(line, absl::StrCat("evaluation nested deeper than ",
                                          limits_.max_eval_depth));
}

absl::Status Interpreter::ExecStmt(const Stmt& stmt, Text* out) {
  if (eval_depth_ >= limits_.max_eval_depth) return DepthError(stmt.line);
  ++eval_depth_;
  absl::Status s = ExecNode(stmt, out);
  --eval_depth_;
  return s;
}

absl::Status Interpreter::ExecNode(const Stmt& stmt, Text* out) {
  RETURN_IF_ERROR(AtLine(stmt.line, Charge(1)));
  switch (stmt.kind) {
    case Stmt::Kind::kText:
      return AtLine(stmt.line, Emit(Text(stmt.text), out));
    case Stmt::Kind::kOutput: {
      ASSIGN_OR_RETURN(auto v, Eval(*stmt.expr));
      return AtLine(stmt.line, Emit(ToText(v), out));
    }
    case Stmt::Kind::kIf:
      for (size_t i = 0; i < stmt.conds.size(); ++i) {
        ASSIGN_OR_RETURN(auto c, Eval(*stmt.conds[i]));
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
      RETURN_IF_ERROR(Exec(stmt.bodies[0], &captured));
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
  ASSIGN_OR_RETURN(auto seq, Eval(*stmt.expr));
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
      RETURN_IF_ERROR(AtLine(stmt.line, Charge(1)));
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
    RETURN_IF_ERROR(AtLine(stmt.line, Charge(1)));
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
    RETURN_IF_ERROR(s);
    const Flow flow = flow_;
    flow_ = Flow::kNormal;
    if (flow == Flow::kBreak) break;
  }
  if (n == 0) return Exec(stmt.bodies[1], out);
  return absl::OkStatus();
}

absl::Status Interpreter::ExecSet(const Stmt& stmt) {
  ASSIGN_OR_RETURN(auto v, Eval(*stmt.expr));
  if (!stmt.attr.empty()) {
    const Value target = Lookup(stmt.targets[0]);
    if (!target.is_dict() || !target.as_dict().is_namespace) {
      return TemplateError(
          stmt.line,
          absl::StrCat("cannot assign attribute on non-namespace object '",
                       stmt.targets[0], "'"));
    }
    // A namespace holding a namespace could hold itself: a reference cycle
    // (leaked memory, endless printing). Templates keep flags, counters and
    // strings in namespaces.
    if (HasNamespace(v)) {
      return TemplateError(stmt.line,
                           "a namespace attribute cannot hold a namespace");
    }
    RETURN_IF_ERROR(AtLine(stmt.line, CheckNesting(v)));
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
  RETURN_IF_ERROR(status);
  return Value::String(std::move(out));
}

}  // namespace kvasir::engine::chat
