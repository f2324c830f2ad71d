#ifndef KVASIR_ENGINE_CHAT_INTERPRETER_H_
#define KVASIR_ENGINE_CHAT_INTERPRETER_H_

// Runs a parsed template (ast.h) over the values it is given, as Jinja2's
// ImmutableSandboxedEnvironment would: the template sees only those values
// and the builtins (builtins.h); attribute access reaches dict keys, list
// items and a whitelist of str/dict methods, nothing else; lists and dicts
// cannot be mutated except namespace() objects through `set ns.x = ...`.
//
// Bounded: a template from an untrusted GGUF cannot hang or exhaust the
// server. RenderLimits caps the work (statements, loop iterations, calls),
// macro recursion, the output and every value built (strings, lists).
//
// One Interpreter renders once, on one thread.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/chat/ast.h"
#include "engine/chat/value.h"

namespace kvasir::engine::chat {

struct RenderLimits {
  // Statements executed + loop iterations + calls + filters, in total.
  int64_t max_steps = 1'000'000;
  // Nested macro calls.
  int max_call_depth = 64;
  // Bytes of rendered output, and of any one string value.
  int64_t max_output_bytes = int64_t{8} << 20;
  // Items of any one list (range(), list * n, list + list).
  int64_t max_list_items = 1'000'000;
};

class Interpreter {
 public:
  Interpreter(const RenderLimits& limits, std::function<absl::Time()> now)
      : limits_(limits), now_(std::move(now)) {}

  // Renders `body` with `globals` as the template's variables. The error
  // messages give the template line when there is one ("line 3: unknown
  // filter 'foo'"); raise_exception's message comes as the template wrote
  // it.
  absl::StatusOr<Text> Render(
      const Body& body, std::vector<std::pair<std::string, Value>> globals);

  // For builtins: calls a function value.
  absl::StatusOr<Value> Call(const Value& fn, CallArgs args);
  // For builtins: the clock (strftime_now).
  absl::Time Now() const { return now_ ? now_() : absl::Now(); }
  // For builtins: accounts for `n` units of work; ResourceExhausted-like
  // InvalidArgument when the step budget is spent.
  absl::Status Charge(int64_t n);
  // For builtins: InvalidArgument when a string of `bytes` or a list of
  // `items` would exceed the limits.
  absl::Status CheckString(size_t bytes) const;
  absl::Status CheckList(size_t items) const;
  const RenderLimits& limits() const { return limits_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Scope = std::vector<std::pair<std::string, Value>>;

  absl::Status Exec(const Body& body, Text* out);
  absl::Status ExecStmt(const Stmt& stmt, Text* out);
  absl::Status ExecFor(const Stmt& stmt, Text* out);
  absl::Status ExecSet(const Stmt& stmt);
  absl::Status Emit(const Text& text, Text* out);

  absl::StatusOr<Value> Eval(const Expr& expr);
  absl::StatusOr<Value> EvalCall(const Expr& expr);
  absl::StatusOr<Value> EvalBinary(const Expr& expr);
  absl::StatusOr<CallArgs> EvalArgs(const Expr& expr, size_t first);
  absl::StatusOr<Value> CallMacro(const Stmt& macro, CallArgs args);

  Value Lookup(const std::string& name) const;
  void Assign(const std::string& name, Value value);

  RenderLimits limits_;
  std::function<absl::Time()> now_;
  std::vector<Scope> scopes_;  // [0]: globals and top-level sets
  Flow flow_ = Flow::kNormal;
  int64_t steps_ = 0;
  int call_depth_ = 0;
};

// The error for a failure at template line `line` (0: none).
absl::Status TemplateError(int line, absl::string_view reason);
// `status` with "line L: " in front, unless it has a line already or came
// from raise_exception.
absl::Status AtLine(int line, const absl::Status& status);
// The error raise_exception(message) produces.
absl::Status RaisedError(absl::string_view message);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_INTERPRETER_H_
