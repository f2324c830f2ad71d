#ifndef KVASIR_ENGINE_CHAT_BUILTINS_H_
#define KVASIR_ENGINE_CHAT_BUILTINS_H_

// What a template can call: Jinja2's filters and tests, the str / dict
// methods chat templates use, and the global functions (raise_exception,
// strftime_now, namespace, range, dict). Errors are InvalidArgument with
// the reason and no line (the interpreter adds it).

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/chat/interpreter.h"
#include "engine/chat/value.h"

namespace kvasir::engine::chat {

// value | name(args). InvalidArgument "unknown filter 'name'" for a filter
// not implemented here.
absl::StatusOr<Value> ApplyFilter(Interpreter& in, const std::string& name,
                                  const Value& value, CallArgs args);

// value is name(args). InvalidArgument "unknown test 'name'".
absl::StatusOr<bool> ApplyTest(Interpreter& in, const std::string& name,
                               const Value& value, const CallArgs& args);

// Whether `obj.name(...)` is a whitelisted method (str: startswith,
// endswith, split, rsplit, strip, lstrip, rstrip, replace, lower, upper,
// title, capitalize, find, rfind, count, join, splitlines, isdigit,
// isalpha, isspace; dict: items, keys, values, get).
bool HasMethod(const Value& obj, const std::string& name);
// Calls it; precondition: HasMethod(obj, name).
absl::StatusOr<Value> CallMethod(Interpreter& in, const Value& obj,
                                 const std::string& name, CallArgs args);

// The global functions, to add to a render's variables.
std::vector<std::pair<std::string, Value>> GlobalFunctions();

// Python's sequence iteration for `for` loops and list-taking filters:
// list items, dict keys, a string's characters (origins kept). Undefined
// iterates as empty; anything else is InvalidArgument.
absl::StatusOr<List> Iterate(const Value& value);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_BUILTINS_H_
