// The str and dict methods a template may call (builtins.h: HasMethod,
// CallMethod), and the global functions.

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/chat/builtins.h"
#include "engine/chat/text_ops.h"

namespace kvasir::engine::chat {
namespace {

constexpr absl::string_view kStrMethods[] = {
    "startswith", "endswith", "split",   "rsplit",  "strip",      "lstrip",
    "rstrip",     "replace",  "lower",   "upper",   "title",      "capitalize",
    "find",       "rfind",    "count",   "join",    "splitlines", "isdigit",
    "isalpha",    "isspace",  "isalnum", "islower", "isupper"};
constexpr absl::string_view kDictMethods[] = {"items", "keys", "values", "get"};

absl::Status ArgError(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(name, "(): ", what));
}

// Positional argument i, or the keyword `kw`, or nullptr.
const Value* Arg(const CallArgs& args, size_t i, absl::string_view kw) {
  if (i < args.positional.size()) return &args.positional[i];
  for (const auto& [k, v] : args.keywords) {
    if (k == kw) return &v;
  }
  return nullptr;
}

absl::StatusOr<std::optional<std::string>> OptString(
    const CallArgs& args, size_t i, absl::string_view kw,
    const std::string& method) {
  const Value* v = Arg(args, i, kw);
  if (v == nullptr || v->is_none()) return std::optional<std::string>();
  if (!v->is_string()) return ArgError(method, "argument must be str or None");
  return std::optional<std::string>(v->as_text().str());
}

absl::StatusOr<int64_t> OptInt(const CallArgs& args, size_t i,
                               absl::string_view kw, int64_t def,
                               const std::string& method) {
  const Value* v = Arg(args, i, kw);
  if (v == nullptr || v->is_none()) return def;
  if (!v->is_int()) return ArgError(method, "argument must be an integer");
  return v->as_int();
}

absl::StatusOr<Value> StrMethod(Interpreter& in, const Text& t,
                                const std::string& name, const CallArgs& args) {
  const std::string& s = t.str();
  if (name == "startswith" || name == "endswith") {
    const Value* p = Arg(args, 0, "prefix");
    if (p == nullptr) return ArgError(name, "takes one argument");
    std::vector<Value> options;
    if (p->is_list()) {
      options = p->as_list();
    } else {
      options.push_back(*p);
    }
    for (const Value& o : options) {
      if (!o.is_string())
        return ArgError(name, "argument must be str or a tuple of str");
      const std::string& x = o.as_text().str();
      const bool hit = x.size() <= s.size() &&
                       (name == "startswith"
                            ? s.compare(0, x.size(), x) == 0
                            : s.compare(s.size() - x.size(), x.size(), x) == 0);
      if (hit) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (name == "split" || name == "rsplit") {
    absl::StatusOr<std::optional<std::string>> sep =
        OptString(args, 0, "sep", name);
    if (!sep.ok()) return sep.status();
    if (sep->has_value() && (*sep)->empty())
      return ArgError(name, "empty separator");
    absl::StatusOr<int64_t> maxsplit = OptInt(args, 1, "maxsplit", -1, name);
    if (!maxsplit.ok()) return maxsplit.status();
    List out;
    for (Text& part : SplitText(t, *sep, *maxsplit, name == "rsplit")) {
      out.push_back(Value::String(std::move(part)));
    }
    if (absl::Status st = in.CheckList(out.size()); !st.ok()) return st;
    return Value::MakeList(std::move(out));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    absl::StatusOr<std::optional<std::string>> chars =
        OptString(args, 0, "chars", name);
    if (!chars.ok()) return chars.status();
    return Value::String(
        StripText(t, *chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "replace") {
    const Value* old_v = Arg(args, 0, "old");
    const Value* new_v = Arg(args, 1, "new");
    if (old_v == nullptr || new_v == nullptr || !old_v->is_string() ||
        !new_v->is_string()) {
      return ArgError(name, "takes two str arguments");
    }
    absl::StatusOr<int64_t> count = OptInt(args, 2, "count", -1, name);
    if (!count.ok()) return count.status();
    // Bound the result before building it.
    const std::string& o = old_v->as_text().str();
    const size_t hits = o.empty() ? CodePointCount(s) + 1 : [&] {
      size_t n = 0;
      for (size_t p = s.find(o); p != std::string::npos;
           p = s.find(o, p + o.size()))
        ++n;
      return n;
    }();
    const size_t grow = new_v->as_text().size() > o.size()
                            ? hits * (new_v->as_text().size() - o.size())
                            : 0;
    if (absl::Status st = in.CheckString(s.size() + grow); !st.ok()) return st;
    return Value::String(ReplaceText(t, o, new_v->as_text(), *count));
  }
  if (name == "lower") return Value::String(t.MapBytes(&AsciiLower));
  if (name == "upper") return Value::String(t.MapBytes(&AsciiUpper));
  if (name == "title") return Value::String(TitleText(t));
  if (name == "capitalize") return Value::String(CapitalizeText(t));
  if (name == "find" || name == "rfind" || name == "count") {
    const Value* sub = Arg(args, 0, "sub");
    if (sub == nullptr || !sub->is_string())
      return ArgError(name, "takes a str argument");
    const std::string& x = sub->as_text().str();
    if (name == "count") {
      if (x.empty())
        return Value::Int(static_cast<int64_t>(CodePointCount(s) + 1));
      int64_t n = 0;
      for (size_t p = s.find(x); p != std::string::npos;
           p = s.find(x, p + x.size()))
        ++n;
      return Value::Int(n);
    }
    const size_t p = name == "find" ? s.find(x) : s.rfind(x);
    if (p == std::string::npos) return Value::Int(-1);
    return Value::Int(static_cast<int64_t>(
        CodePointCount(absl::string_view(s).substr(0, p))));
  }
  if (name == "join") {
    const Value* items = Arg(args, 0, "iterable");
    if (items == nullptr) return ArgError(name, "takes one argument");
    absl::StatusOr<List> list = Iterate(*items);
    if (!list.ok()) return list.status();
    Text out;
    for (size_t i = 0; i < list->size(); ++i) {
      if (!(*list)[i].is_string())
        return ArgError(name, "sequence item is not a str");
      if (i > 0) out.Append(t);
      out.Append((*list)[i].as_text());
      if (absl::Status st = in.CheckString(out.size()); !st.ok()) return st;
    }
    return Value::String(std::move(out));
  }
  if (name == "splitlines") {
    List out;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        out.push_back(Value::String(t.Substr(start, i - start)));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
    }
    if (start < s.size()) out.push_back(Value::String(t.Substr(start)));
    return Value::MakeList(std::move(out));
  }
  // The is* predicates (ASCII).
  if (s.empty()) return Value::Bool(false);
  bool all = true;
  bool any_cased = false;
  for (unsigned char c : s) {
    if (name == "isdigit") all &= absl::ascii_isdigit(c);
    if (name == "isalpha") all &= absl::ascii_isalpha(c);
    if (name == "isspace") all &= absl::ascii_isspace(c);
    if (name == "isalnum") all &= absl::ascii_isalnum(c);
    if (name == "islower") all &= !absl::ascii_isupper(c);
    if (name == "isupper") all &= !absl::ascii_islower(c);
    any_cased |= absl::ascii_isalpha(c);
  }
  if (name == "islower" || name == "isupper") all &= any_cased;
  return Value::Bool(all);
}

absl::StatusOr<Value> DictMethod(const Dict& d, const std::string& name,
                                 const CallArgs& args) {
  if (name == "get") {
    const Value* key = Arg(args, 0, "key");
    if (key == nullptr) return ArgError(name, "takes a key");
    if (key->is_string()) {
      if (const Value* v = d.Find(key->as_text().str())) return *v;
    }
    const Value* def = Arg(args, 1, "default");
    return def != nullptr ? *def : Value::MakeNone();
  }
  List out;
  for (const auto& [k, v] : d.items) {
    if (name == "keys") {
      out.push_back(Value::String(k));
    } else if (name == "values") {
      out.push_back(v);
    } else {
      out.push_back(Value::MakeList({Value::String(k), v}));
    }
  }
  return Value::MakeList(std::move(out));
}

// range(stop) / range(start, stop[, step]).
absl::StatusOr<Value> Range(Interpreter& in, CallArgs args) {
  std::vector<int64_t> n;
  for (const Value& v : args.positional) {
    if (!v.is_int()) return ArgError("range", "arguments must be integers");
    n.push_back(v.as_int());
  }
  if (n.empty() || n.size() > 3)
    return ArgError("range", "takes 1 to 3 arguments");
  const int64_t start = n.size() == 1 ? 0 : n[0];
  const int64_t stop = n.size() == 1 ? n[0] : n[1];
  const int64_t step = n.size() == 3 ? n[2] : 1;
  if (step == 0) return ArgError("range", "step must not be zero");
  const double count =
      std::max(0.0, std::ceil((static_cast<double>(stop) - start) / step));
  if (absl::Status s = in.CheckList(static_cast<size_t>(std::min(count, 1e18)));
      !s.ok()) {
    return s;
  }
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    out.push_back(Value::Int(i));
  }
  return Value::MakeList(std::move(out));
}

// namespace(**kwargs) / dict(**kwargs), optionally from a dict first.
absl::StatusOr<Value> MakeMapping(const CallArgs& args, bool is_namespace) {
  auto d = std::make_shared<Dict>();
  d->is_namespace = is_namespace;
  for (const Value& v : args.positional) {
    if (!v.is_dict()) {
      return ArgError(is_namespace ? "namespace" : "dict",
                      "positional arguments must be dicts");
    }
    for (const auto& [k, x] : v.as_dict().items) d->Set(k, x);
  }
  for (const auto& [k, v] : args.keywords) d->Set(k, v);
  return Value::MakeDict(std::move(d));
}

}  // namespace

bool HasMethod(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    return std::find(std::begin(kStrMethods), std::end(kStrMethods), name) !=
           std::end(kStrMethods);
  }
  if (obj.is_dict() && !obj.as_dict().is_namespace) {
    return std::find(std::begin(kDictMethods), std::end(kDictMethods), name) !=
           std::end(kDictMethods);
  }
  return false;
}

absl::StatusOr<Value> CallMethod(Interpreter& in, const Value& obj,
                                 const std::string& name, CallArgs args) {
  if (obj.is_string()) return StrMethod(in, obj.as_text(), name, args);
  return DictMethod(obj.as_dict(), name, args);
}

std::vector<std::pair<std::string, Value>> GlobalFunctions() {
  std::vector<std::pair<std::string, Value>> g;
  auto add = [&](const std::string& name,
                 std::function<absl::StatusOr<Value>(Interpreter&, CallArgs)>
                     fn) {
    g.emplace_back(name, Value::MakeFunction(Function{name, std::move(fn)}));
  };
  add("raise_exception",
      [](Interpreter&, CallArgs args) -> absl::StatusOr<Value> {
        const Value* msg = Arg(args, 0, "message");
        return RaisedError(msg == nullptr ? "raise_exception called"
                                          : ToText(*msg).str());
      });
  add("strftime_now",
      [](Interpreter& in, CallArgs args) -> absl::StatusOr<Value> {
        const Value* fmt = Arg(args, 0, "format");
        if (fmt == nullptr || !fmt->is_string())
          return ArgError("strftime_now", "takes a format str");
        if (fmt->as_text().size() > 256)
          return ArgError("strftime_now", "format too long");
        return Value::String(absl::FormatTime(fmt->as_text().str(), in.Now(),
                                              absl::UTCTimeZone()));
      });
  add("namespace",
      [](Interpreter&, CallArgs args) { return MakeMapping(args, true); });
  add("dict",
      [](Interpreter&, CallArgs args) { return MakeMapping(args, false); });
  add("range", [](Interpreter& in, CallArgs args) {
    return Range(in, std::move(args));
  });
  return g;
}

}  // namespace kvasir::engine::chat
