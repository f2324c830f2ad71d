#include "engine/chat/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kvasir::engine::chat {

Text::Text(std::string s, bool from_content) : s_(std::move(s)) {
  if (from_content && !s_.empty()) mask_.assign(s_.size(), 1);
}

void Text::Append(const Text& other) {
  if (!other.mask_.empty()) {
    mask_.resize(s_.size(), 0);
    mask_.insert(mask_.end(), other.mask_.begin(), other.mask_.end());
  } else if (!mask_.empty()) {
    mask_.resize(s_.size() + other.s_.size(), 0);
  }
  s_ += other.s_;
}

void Text::Append(absl::string_view template_text) {
  s_.append(template_text.data(), template_text.size());
  if (!mask_.empty()) mask_.resize(s_.size(), 0);
}

Text Text::Substr(size_t pos, size_t len) const {
  Text out;
  if (pos >= s_.size()) return out;
  len = std::min(len, s_.size() - pos);
  out.s_ = s_.substr(pos, len);
  if (!mask_.empty()) {
    bool any = false;
    for (size_t i = pos; i < pos + len && !any; ++i) any = mask_[i] != 0;
    if (any) out.mask_.assign(mask_.begin() + pos, mask_.begin() + pos + len);
  }
  return out;
}

Text Text::MapBytes(char (*fn)(char)) const {
  Text out = *this;
  for (char& c : out.s_) c = fn(c);
  return out;
}

const Value* Dict::Find(absl::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::Set(const std::string& key, Value value) {
  for (auto& [k, v] : items) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

double Value::as_number() const {
  switch (type()) {
    case Type::kInt:
      return static_cast<double>(as_int());
    case Type::kFloat:
      return as_float();
    case Type::kBool:
      return as_bool() ? 1 : 0;
    default:
      return 0;
  }
}

bool Value::Truthy() const {
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return as_bool();
    case Type::kInt:
      return as_int() != 0;
    case Type::kFloat:
      return as_float() != 0;
    case Type::kString:
      return !as_text().empty();
    case Type::kList:
      return !as_list().empty();
    case Type::kDict:
      return !as_dict().items.empty() || as_dict().is_namespace;
    case Type::kFunction:
      return true;
  }
  return false;
}

const char* Value::TypeName() const {
  switch (type()) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return "list";
    case Type::kDict:
      return as_dict().is_namespace ? "Namespace" : "dict";
    case Type::kFunction:
      return "function";
  }
  return "?";
}

bool Equals(const Value& a, const Value& b) {
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  if (a_num && b_num) {
    if (a.is_float() || b.is_float()) return a.as_number() == b.as_number();
    const int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
    const int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
    return x == y;
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.as_text().str() == b.as_text().str();
    case Value::Type::kList: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Type::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (&x == &y) return true;
      if (x.is_namespace || y.is_namespace) return false;  // identity only
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const Value* w = y.Find(k);
        if (w == nullptr || !Equals(v, *w)) return false;
      }
      return true;
    }
    case Value::Type::kFunction:
      return &a.as_function() == &b.as_function();
    default:
      return false;
  }
}

namespace {

// Python's repr of a float: the shortest digits that round-trip, fixed
// notation for exponents in [-4, 16), scientific otherwise.
std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  auto res =
      std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // -d.ddde[+-]XX
  const size_t e = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e + 1);
  std::string mant = sci.substr(0, e);
  const bool neg = !mant.empty() && mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant) {
    if (c != '.') digits += c;
  }
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
      out += digits;
      out.append(exp + 1 - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, exp + 1);
      out += '.';
      out.append(digits, exp + 1, std::string::npos);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out.append(digits, 1, std::string::npos);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+',
                std::abs(exp));
  return out + ebuf;
}

std::string StringRepr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == quote) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

void JsonString(const std::string& s, std::string* out) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          *out += static_cast<char>(c);
        }
    }
  }
  *out += '"';
}

absl::Status JsonAppend(const Value& v, int indent, int depth,
                        std::string* out) {
  if (depth > 64) return absl::InvalidArgumentError("tojson: nested too deep");
  auto newline = [&](int d) {
    if (indent < 0) return;
    *out += '\n';
    out->append(static_cast<size_t>(indent) * d, ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.type()) {
    case Value::Type::kNone:
      *out += "null";
      return absl::OkStatus();
    case Value::Type::kBool:
      *out += v.as_bool() ? "true" : "false";
      return absl::OkStatus();
    case Value::Type::kInt:
      absl::StrAppend(out, v.as_int());
      return absl::OkStatus();
    case Value::Type::kFloat: {
      const double f = v.as_float();
      *out += std::isnan(f)   ? "NaN"
              : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity")
                              : FloatRepr(f);
      return absl::OkStatus();
    }
    case Value::Type::kString:
      JsonString(v.as_text().str(), out);
      return absl::OkStatus();
    case Value::Type::kList: {
      const List& l = v.as_list();
      if (l.empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      *out += '[';
      for (size_t i = 0; i < l.size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(depth + 1);
        if (absl::Status s = JsonAppend(l[i], indent, depth + 1, out);
            !s.ok()) {
          return s;
        }
      }
      newline(depth);
      *out += ']';
      return absl::OkStatus();
    }
    case Value::Type::kDict: {
      const Dict& d = v.as_dict();
      if (d.items.empty()) {
        *out += "{}";
        return absl::OkStatus();
      }
      *out += '{';
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(depth + 1);
        JsonString(d.items[i].first, out);
        *out += ": ";
        if (absl::Status s =
                JsonAppend(d.items[i].second, indent, depth + 1, out);
            !s.ok()) {
          return s;
        }
      }
      newline(depth);
      *out += '}';
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("tojson: Object of type ", v.TypeName(),
                       " is not JSON serializable"));
  }
}

}  // namespace

std::string Repr(const Value& value) {
  switch (value.type()) {
    case Value::Type::kString:
      return StringRepr(value.as_text().str());
    case Value::Type::kList: {
      std::string out = "[";
      const List& l = value.as_list();
      for (size_t i = 0; i < l.size(); ++i) {
        if (i > 0) out += ", ";
        out += Repr(l[i]);
      }
      return out + "]";
    }
    case Value::Type::kDict: {
      const Dict& d = value.as_dict();
      if (d.is_namespace) return "<Namespace>";
      std::string out = "{";
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i > 0) out += ", ";
        out += StringRepr(d.items[i].first) + ": " + Repr(d.items[i].second);
      }
      return out + "}";
    }
    default:
      return ToText(value).str();
  }
}

Text ToText(const Value& value) {
  switch (value.type()) {
    case Value::Type::kUndefined:
      return Text();
    case Value::Type::kNone:
      return Text("None");
    case Value::Type::kBool:
      return Text(value.as_bool() ? "True" : "False");
    case Value::Type::kInt:
      return Text(absl::StrCat(value.as_int()));
    case Value::Type::kFloat:
      return Text(FloatRepr(value.as_float()));
    case Value::Type::kString:
      return value.as_text();
    case Value::Type::kFunction:
      return Text("<function " + value.as_function().name + ">");
    default:
      return Text(Repr(value), HasContent(value));
  }
}

bool HasContent(const Value& value) {
  switch (value.type()) {
    case Value::Type::kString:
      return value.as_text().any_from_content();
    case Value::Type::kList:
      for (const Value& v : value.as_list()) {
        if (HasContent(v)) return true;
      }
      return false;
    case Value::Type::kDict:
      for (const auto& [k, v] : value.as_dict().items) {
        if (HasContent(v)) return true;
      }
      return false;
    default:
      return false;
  }
}

absl::StatusOr<std::string> ToJson(const Value& value, int indent) {
  std::string out;
  if (absl::Status s = JsonAppend(value, indent, 0, &out); !s.ok()) return s;
  return out;
}

size_t CodePointCount(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<size_t> CodePointOffsets(absl::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) offsets.push_back(i);
  }
  offsets.push_back(s.size());
  return offsets;
}

}  // namespace kvasir::engine::chat
