// Jinja2's filters and tests (builtins.h: ApplyFilter, ApplyTest, Iterate).

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/builtins.h"
#include "engine/chat/text_ops.h"

namespace kvasir::engine::chat {
namespace {

// Positional argument i (after the filtered value), or keyword `kw`.
const Value* Arg(const CallArgs& args, size_t i, absl::string_view kw) {
  if (i < args.positional.size()) return &args.positional[i];
  for (const auto& [k, v] : args.keywords) {
    if (k == kw) return &v;
  }
  return nullptr;
}

absl::Status FilterError(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("filter '", name, "': ", what));
}

Value AttrOf(const Value& item, const std::string& attr) {
  if (item.is_dict()) {
    if (const Value* v = item.as_dict().Find(attr)) return *v;
  }
  if (item.is_list()) {
    int64_t i = 0;
    if (absl::SimpleAtoi(attr, &i) && i >= 0 &&
        static_cast<size_t>(i) < item.as_list().size()) {
      return item.as_list()[i];
    }
  }
  return Value::MakeUndefined(attr);
}

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> SelectFilter(Interpreter& in, const std::string& name,
                                   const Value& value, const CallArgs& args) {
  const bool by_attr = name == "selectattr" || name == "rejectattr";
  const bool keep_if = name == "select" || name == "selectattr";
  size_t next = 0;
  std::string attr;
  if (by_attr) {
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return FilterError(name, "needs an attribute name");
    }
    attr = args.positional[0].as_text().str();
    next = 1;
  }
  std::optional<std::string> test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string())
      return FilterError(name, "test name must be a str");
    test = args.positional[next].as_text().str();
  }
  CallArgs test_args;
  for (size_t i = next + 1; i < args.positional.size(); ++i) {
    test_args.positional.push_back(args.positional[i]);
  }
  absl::StatusOr<List> items = Iterate(value);
  if (!items.ok()) return items.status();
  List out;
  for (const Value& item : *items) {
    if (absl::Status s = in.Charge(1); !s.ok()) return s;
    const Value subject = by_attr ? AttrOf(item, attr) : item;
    bool pass = subject.Truthy();
    if (test.has_value()) {
      absl::StatusOr<bool> r = ApplyTest(in, *test, subject, test_args);
      if (!r.ok()) return r.status();
      pass = *r;
    }
    if (pass == keep_if) out.push_back(item);
  }
  return Value::MakeList(std::move(out));
}

absl::StatusOr<Value> MapFilter(Interpreter& in, const Value& value,
                                CallArgs args) {
  absl::StatusOr<List> items = Iterate(value);
  if (!items.ok()) return items.status();
  const Value* attr = Arg(args, 99, "attribute");
  const Value* def = Arg(args, 99, "default");
  List out;
  if (attr != nullptr) {
    if (!attr->is_string())
      return FilterError("map", "attribute must be a str");
    for (const Value& item : *items) {
      Value v = AttrOf(item, attr->as_text().str());
      out.push_back(v.is_undefined() && def != nullptr ? *def : v);
    }
    return Value::MakeList(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    return FilterError("map", "needs a filter name or attribute=");
  }
  const std::string filter = args.positional[0].as_text().str();
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keywords = args.keywords;
  for (const Value& item : *items) {
    if (absl::Status s = in.Charge(1); !s.ok()) return s;
    absl::StatusOr<Value> v = ApplyFilter(in, filter, item, rest);
    if (!v.ok()) return v.status();
    out.push_back(*std::move(v));
  }
  return Value::MakeList(std::move(out));
}

absl::StatusOr<Value> SortFilter(const Value& value, const CallArgs& args) {
  absl::StatusOr<List> items = Iterate(value);
  if (!items.ok()) return items.status();
  const Value* reverse = Arg(args, 0, "reverse");
  const Value* attr = Arg(args, 2, "attribute");
  auto key = [&](const Value& v) {
    return attr != nullptr && attr->is_string()
               ? AttrOf(v, attr->as_text().str())
               : v;
  };
  absl::Status error;
  auto less = [&](const Value& a, const Value& b) {
    const Value x = key(a);
    const Value y = key(b);
    if (x.is_string() && y.is_string()) {
      return absl::AsciiStrToLower(x.as_text().str()) <
             absl::AsciiStrToLower(y.as_text().str());
    }
    if ((x.is_number() || x.is_bool()) && (y.is_number() || y.is_bool())) {
      return x.as_number() < y.as_number();
    }
    error = FilterError("sort", "cannot compare these values");
    return false;
  };
  List out = *std::move(items);
  std::stable_sort(out.begin(), out.end(), less);
  if (!error.ok()) return error;
  if (reverse != nullptr && reverse->Truthy())
    std::reverse(out.begin(), out.end());
  return Value::MakeList(std::move(out));
}

Text IndentText(const Text& t, const std::string& pad, bool first, bool blank) {
  Text out;
  const std::string& s = t.str();
  size_t start = 0;
  bool is_first = true;
  while (start <= s.size()) {
    size_t nl = s.find('\n', start);
    const size_t end = nl == std::string::npos ? s.size() : nl;
    const bool empty_line = end == start;
    if ((!is_first || first) && (blank || !empty_line)) out.Append(pad);
    out.Append(t.Substr(start, end - start));
    if (nl == std::string::npos) break;
    out.Append(t.Substr(nl, 1));
    start = nl + 1;
    is_first = false;
  }
  return out;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<List> Iterate(const Value& value) {
  switch (value.type()) {
    case Value::Type::kList:
      return value.as_list();
    case Value::Type::kDict: {
      List keys;
      for (const auto& [k, v] : value.as_dict().items)
        keys.push_back(Value::String(k));
      return keys;
    }
    case Value::Type::kString: {
      const Text& t = value.as_text();
      const std::vector<size_t> cps = CodePointOffsets(t.str());
      List chars;
      for (size_t i = 0; i + 1 < cps.size(); ++i) {
        chars.push_back(Value::String(t.Substr(cps[i], cps[i + 1] - cps[i])));
      }
      return chars;
    }
    case Value::Type::kUndefined:
      return List();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", value.TypeName(), "' object is not iterable"));
  }
}

absl::StatusOr<Value> ApplyFilter(Interpreter& in, const std::string& name,
                                  const Value& value, CallArgs args) {
  if (name == "trim") {
    const Value* chars = Arg(args, 0, "chars");
    std::optional<std::string> set;
    if (chars != nullptr && chars->is_string()) set = chars->as_text().str();
    return Value::String(StripText(ToText(value), set, true, true));
  }
  if (name == "length" || name == "count") {
    if (value.is_string())
      return Value::Int(CodePointCount(value.as_text().str()));
    if (value.is_list()) return Value::Int(value.as_list().size());
    if (value.is_dict()) return Value::Int(value.as_dict().items.size());
    if (value.is_undefined()) return Value::Int(0);
    return FilterError(name, absl::StrCat("object of type '", value.TypeName(),
                                          "' has no len()"));
  }
  if (name == "tojson") {
    const Value* indent = Arg(args, 0, "indent");
    int width = -1;
    if (indent != nullptr && !indent->is_none()) {
      if (!indent->is_int() || indent->as_int() < 0 || indent->as_int() > 16) {
        return FilterError(name, "indent must be an integer in [0, 16]");
      }
      width = static_cast<int>(indent->as_int());
    }
    absl::StatusOr<std::string> json = ToJson(value, width);
    if (!json.ok()) return json.status();
    if (absl::Status s = in.CheckString(json->size()); !s.ok()) return s;
    return Value::String(Text(*std::move(json), HasContent(value)));
  }
  if (name == "string") return Value::String(ToText(value));
  if (name == "lower")
    return Value::String(ToText(value).MapBytes(&AsciiLower));
  if (name == "upper")
    return Value::String(ToText(value).MapBytes(&AsciiUpper));
  if (name == "capitalize") return Value::String(CapitalizeText(ToText(value)));
  if (name == "title") return Value::String(TitleText(ToText(value)));
  if (name == "default" || name == "d") {
    const Value* def = Arg(args, 0, "default_value");
    const Value* boolean = Arg(args, 1, "boolean");
    const bool use_default =
        value.is_undefined() ||
        (boolean != nullptr && boolean->Truthy() && !value.Truthy());
    if (!use_default) return value;
    return def != nullptr ? *def : Value::String("");
  }
  if (name == "first" || name == "last") {
    absl::StatusOr<List> items = Iterate(value);
    if (!items.ok()) return items.status();
    if (items->empty()) return Value::MakeUndefined(name);
    return name == "first" ? items->front() : items->back();
  }
  if (name == "join") {
    const Value* sep = Arg(args, 0, "d");
    const Value* attr = Arg(args, 1, "attribute");
    absl::StatusOr<List> items = Iterate(value);
    if (!items.ok()) return items.status();
    Text out;
    for (size_t i = 0; i < items->size(); ++i) {
      if (i > 0 && sep != nullptr) out.Append(ToText(*sep));
      const Value item = attr != nullptr && attr->is_string()
                             ? AttrOf((*items)[i], attr->as_text().str())
                             : (*items)[i];
      out.Append(ToText(item));
      if (absl::Status s = in.CheckString(out.size()); !s.ok()) return s;
    }
    return Value::String(std::move(out));
  }
  if (name == "list") {
    absl::StatusOr<List> items = Iterate(value);
    if (!items.ok()) return items.status();
    return Value::MakeList(*std::move(items));
  }
  if (name == "items") {
    if (value.is_undefined()) return Value::MakeList({});
    if (!value.is_dict()) return FilterError(name, "needs a dict");
    CallArgs none;
    return CallMethod(in, value, "items", none);
  }
  if (name == "dictsort") {
    if (!value.is_dict()) return FilterError(name, "needs a dict");
    auto pairs = value.as_dict().items;
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto& a, const auto& b) {
                       return absl::AsciiStrToLower(a.first) <
                              absl::AsciiStrToLower(b.first);
                     });
    List out;
    for (auto& [k, v] : pairs)
      out.push_back(Value::MakeList({Value::String(k), v}));
    return Value::MakeList(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" ||
      name == "rejectattr") {
    return SelectFilter(in, name, value, args);
  }
  if (name == "map") return MapFilter(in, value, std::move(args));
  if (name == "sort") return SortFilter(value, args);
  if (name == "unique") {
    absl::StatusOr<List> items = Iterate(value);
    if (!items.ok()) return items.status();
    List out;
    for (const Value& v : *items) {
      if (std::none_of(out.begin(), out.end(),
                       [&](const Value& o) { return Equals(o, v); })) {
        out.push_back(v);
      }
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "reverse") {
    absl::StatusOr<List> items = Iterate(value);
    if (!items.ok()) return items.status();
    std::reverse(items->begin(), items->end());
    if (!value.is_string()) return Value::MakeList(*std::move(items));
    Text out;
    for (const Value& c : *items) out.Append(c.as_text());
    return Value::String(std::move(out));
  }
  if (name == "replace") {
    const Value* o = Arg(args, 0, "old");
    const Value* n = Arg(args, 1, "new");
    if (o == nullptr || n == nullptr)
      return FilterError(name, "needs old and new");
    CallArgs m;
    m.positional = {Value::String(ToText(*o)), Value::String(ToText(*n))};
    if (const Value* c = Arg(args, 2, "count")) m.positional.push_back(*c);
    return CallMethod(in, Value::String(ToText(value)), "replace",
                      std::move(m));
  }
  if (name == "int" || name == "float") {
    if (value.is_int() || value.is_bool()) {
      return name == "int" ? Value::Int(value.is_bool() ? value.as_bool()
                                                        : value.as_int())
                           : Value::Float(value.as_number());
    }
    if (value.is_float()) {
      return name == "int" ? Value::Int(static_cast<int64_t>(value.as_float()))
                           : value;
    }
    const Value* def = Arg(args, 0, "default");
    if (value.is_string()) {
      const std::string s(absl::StripAsciiWhitespace(value.as_text().str()));
      int64_t i = 0;
      double f = 0;
      if (name == "int" && absl::SimpleAtoi(s, &i)) return Value::Int(i);
      if (absl::SimpleAtod(s, &f)) {
        return name == "int" ? Value::Int(static_cast<int64_t>(f))
                             : Value::Float(f);
      }
    }
    if (def != nullptr) return *def;
    return name == "int" ? Value::Int(0) : Value::Float(0);
  }
  if (name == "abs") {
    if (value.is_int())
      return Value::Int(value.as_int() < 0 ? -value.as_int() : value.as_int());
    if (value.is_float()) return Value::Float(std::fabs(value.as_float()));
    return FilterError(name, "needs a number");
  }
  if (name == "round") {
    if (!value.is_number()) return FilterError(name, "needs a number");
    const Value* precision = Arg(args, 0, "precision");
    const int64_t p =
        precision != nullptr && precision->is_int() ? precision->as_int() : 0;
    const double scale =
        std::pow(10.0, static_cast<double>(std::clamp<int64_t>(p, -15, 15)));
    return Value::Float(std::round(value.as_number() * scale) / scale);
  }
  if (name == "safe") return value;
  if (name == "escape" || name == "e") {
    return Value::String(
        Text(HtmlEscape(ToText(value).str()), HasContent(value)));
  }
  if (name == "indent") {
    const Value* width = Arg(args, 0, "width");
    const Value* first = Arg(args, 1, "first");
    const Value* blank = Arg(args, 2, "blank");
    std::string pad = "    ";
    if (width != nullptr && width->is_int()) {
      pad.assign(
          static_cast<size_t>(std::clamp<int64_t>(width->as_int(), 0, 64)),
          ' ');
    } else if (width != nullptr && width->is_string()) {
      pad = width->as_text().str();
    }
    Text out =
        IndentText(ToText(value), pad, first != nullptr && first->Truthy(),
                   blank != nullptr && blank->Truthy());
    if (absl::Status s = in.CheckString(out.size()); !s.ok()) return s;
    return Value::String(std::move(out));
  }
  if (name == "min" || name == "max" || name == "sum") {
    absl::StatusOr<List> items = Iterate(value);
    if (!items.ok()) return items.status();
    if (name == "sum") {
      int64_t i = 0;
      double f = 0;
      bool is_float = false;
      for (const Value& v : *items) {
        if (!v.is_number() && !v.is_bool())
          return FilterError(name, "needs numbers");
        is_float |= v.is_float();
        f += v.as_number();
        if (!v.is_float()) i += v.is_bool() ? v.as_bool() : v.as_int();
      }
      return is_float ? Value::Float(f) : Value::Int(i);
    }
    absl::StatusOr<Value> sorted = SortFilter(value, CallArgs());
    if (!sorted.ok()) return sorted.status();
    if (sorted->as_list().empty()) return Value::MakeUndefined(name);
    return name == "min" ? sorted->as_list().front() : sorted->as_list().back();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown filter '", name, "'"));
}

absl::StatusOr<bool> ApplyTest(Interpreter&, const std::string& name,
                               const Value& v, const CallArgs& args) {
  const Value* other = Arg(args, 0, "b");
  auto need_other = [&]() -> absl::Status {
    if (other == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("test '", name, "' needs an argument"));
    }
    return absl::OkStatus();
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "sequence") return v.is_list() || v.is_string() || v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_string() || v.is_dict();
  if (name == "callable") return v.is_function();
  if (name == "lower" || name == "upper") {
    if (!v.is_string()) return false;
    const std::string& s = v.as_text().str();
    return std::none_of(
        s.begin(), s.end(),
        name == "lower" ? absl::ascii_isupper : absl::ascii_islower);
  }
  if (name == "even" || name == "odd" || name == "divisibleby") {
    if (!v.is_int())
      return absl::InvalidArgumentError(
          absl::StrCat("test '", name, "' needs an integer"));
    int64_t d = 2;
    if (name == "divisibleby") {
      if (other == nullptr || !other->is_int() || other->as_int() == 0) {
        return absl::InvalidArgumentError(
            "test 'divisibleby' needs a non-zero integer");
      }
      d = other->as_int();
    }
    const bool divisible = v.as_int() % d == 0;
    return name == "odd" ? !divisible : divisible;
  }
  if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") {
    if (absl::Status s = need_other(); !s.ok()) return s;
    if (name == "sameas" && v.type() != other->type()) return false;
    return Equals(v, *other);
  }
  if (name == "ne" || name == "!=") {
    if (absl::Status s = need_other(); !s.ok()) return s;
    return !Equals(v, *other);
  }
  if (name == "in") {
    if (absl::Status s = need_other(); !s.ok()) return s;
    if (other->is_string() && v.is_string()) {
      return other->as_text().str().find(v.as_text().str()) !=
             std::string::npos;
    }
    absl::StatusOr<List> items = Iterate(*other);
    if (!items.ok()) return items.status();
    return std::any_of(items->begin(), items->end(),
                       [&](const Value& x) { return Equals(x, v); });
  }
  if (name == "lt" || name == "le" || name == "gt" || name == "ge" ||
      name == "<" || name == "<=" || name == ">" || name == ">=") {
    if (absl::Status s = need_other(); !s.ok()) return s;
    if (!(v.is_number() && other->is_number())) {
      return absl::InvalidArgumentError(
          absl::StrCat("test '", name, "' needs numbers"));
    }
    const double a = v.as_number();
    const double b = other->as_number();
    if (name == "lt" || name == "<") return a < b;
    if (name == "le" || name == "<=") return a <= b;
    if (name == "gt" || name == ">") return a > b;
    return a >= b;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown test '", name, "'"));
}

}  // namespace kvasir::engine::chat
