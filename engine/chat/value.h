#ifndef KVASIR_ENGINE_CHAT_VALUE_H_
#define KVASIR_ENGINE_CHAT_VALUE_H_

// The values a chat template computes with: Python's (Jinja2's) None, bool,
// int, float, str, list, dict, plus Jinja's Undefined and callables. Strings
// are Text: bytes plus, per byte, whether it came from a message (so the
// renderer can tell template markers from user text after any amount of
// concatenation, slicing and stripping).
//
// Values are cheap to copy: lists and dicts are shared and immutable once
// built (the templates run in an immutable sandbox), except a `namespace()`
// object, whose attributes `{% set ns.x = ... %}` assigns. Not thread-safe
// to share a namespace between renders; each render builds its own values.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::engine::chat {

// A UTF-8 string whose bytes remember whether they came from message content.
class Text {
 public:
  Text() = default;
  // Template text (from_content = false) or message text (true).
  explicit Text(std::string s, bool from_content = false);

  const std::string& str() const { return s_; }
  size_t size() const { return s_.size(); }
  bool empty() const { return s_.empty(); }
  // Whether byte i came from message content.
  bool from_content(size_t i) const { return !mask_.empty() && mask_[i] != 0; }
  bool any_from_content() const { return !mask_.empty(); }

  void Append(const Text& other);
  void Append(absl::string_view template_text);
  // Bytes [pos, pos + len) with their origin.
  Text Substr(size_t pos, size_t len = std::string::npos) const;
  // The same bytes transformed one to one (lower/upper), origins kept.
  Text MapBytes(char (*fn)(char)) const;

 private:
  std::string s_;
  std::vector<uint8_t> mask_;  // per byte, 1 = from content; empty = none
};

class Value;
class Interpreter;
using List = std::vector<Value>;

// An insertion-ordered string-keyed map (Python dicts keep order, and
// tojson / items() show it). Chat template dicts are small: linear lookup.
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  bool is_namespace = false;  // attributes assignable with set ns.x = ...

  const Value* Find(absl::string_view key) const;
  void Set(const std::string& key, Value value);
};

// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// A callable value: a builtin (raise_exception, namespace, ...) or a macro.
struct Function {
  std::string name;
  std::function<absl::StatusOr<Value>(Interpreter&, CallArgs)> call;
};

struct Undefined {
  std::string name;  // what was looked up, for error messages
};
struct None {};

class Value {
 public:
  enum class Type {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kFunction
  };

  Value() : v_(Undefined{}) {}
  static Value MakeUndefined(std::string name) {
    return Value(Undefined{std::move(name)});
  }
  static Value MakeNone() { return Value(None{}); }
  static Value Bool(bool b) { return Value(b); }
  static Value Int(int64_t i) { return Value(i); }
  static Value Float(double f) { return Value(f); }
  static Value String(Text t) { return Value(std::move(t)); }
  static Value String(std::string s) { return Value(Text(std::move(s))); }
  static Value MakeList(List items) {
    return Value(std::make_shared<const List>(std::move(items)));
  }
  static Value MakeDict(std::shared_ptr<Dict> dict) {
    return Value(std::move(dict));
  }
  static Value MakeFunction(Function f) {
    return Value(std::make_shared<const Function>(std::move(f)));
  }

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_undefined() const { return type() == Type::kUndefined; }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_list() const { return type() == Type::kList; }
  bool is_dict() const { return type() == Type::kDict; }
  bool is_function() const { return type() == Type::kFunction; }

  // Accessors; precondition: the matching is_*().
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  // An int or float as double; a bool as 0/1.
  double as_number() const;
  const Text& as_text() const { return std::get<Text>(v_); }
  const List& as_list() const {
    return *std::get<std::shared_ptr<const List>>(v_);
  }
  Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(v_); }
  const Function& as_function() const {
    return *std::get<std::shared_ptr<const Function>>(v_);
  }
  const std::string& undefined_name() const {
    return std::get<Undefined>(v_).name;
  }

  // Python truthiness (Undefined is false).
  bool Truthy() const;
  // Python's type name ("str", "int", "list", "dict", "NoneType", ...).
  const char* TypeName() const;

 private:
  template <typename T>
  explicit Value(T v) : v_(std::move(v)) {}

  std::variant<Undefined, None, bool, int64_t, double, Text,
               std::shared_ptr<const List>, std::shared_ptr<Dict>,
               std::shared_ptr<const Function>>
      v_;
};

// Python's ==: numbers by value (1 == 1.0 == True), strings by bytes, lists
// and dicts element-wise. Undefined equals only Undefined.
bool Equals(const Value& a, const Value& b);

// Whether any string in value (or in its items) came from message content.
bool HasContent(const Value& value);

// str(value) as Python prints it: strings as they are (origins kept), None,
// True, 2.0, [1, 'a'], {'a': 1}. Undefined prints as "". A list or dict
// holding message text prints as message text as a whole.
Text ToText(const Value& value);
// repr(value) (strings quoted as Python quotes them).
std::string Repr(const Value& value);

// json.dumps(value, ensure_ascii=False, indent=indent) as Hugging Face's
// tojson filter calls it (keys in insertion order; indent < 0: one line
// with ", " and ": "). InvalidArgument for values JSON cannot hold.
absl::StatusOr<std::string> ToJson(const Value& value, int indent);

// Number of Unicode code points (Python's len of a str).
size_t CodePointCount(absl::string_view s);
// Byte offsets of the code points of s, plus s.size() at the end.
std::vector<size_t> CodePointOffsets(absl::string_view s);

}  // namespace kvasir::engine::chat

#endif  // KVASIR_ENGINE_CHAT_VALUE_H_
