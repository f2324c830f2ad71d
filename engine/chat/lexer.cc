#include "engine/chat/lexer.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kvasir::engine::chat {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}
bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  absl::StatusOr<std::vector<Token>> Run();

 private:
  absl::Status Error(int line, absl::string_view reason) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ": ", reason));
  }
  // Advances pos_ to `to`, counting lines.
  void MoveTo(size_t to) {
    for (; pos_ < to; ++pos_) line_ += src_[pos_] == '\n';
  }
  void EmitText(std::string text, int line) {
    if (!text.empty())
      tokens_.push_back({Token::Kind::kText, std::move(text), line});
  }
  // After a tag's closing marker at pos_: '-' strips the following
  // whitespace, trim_blocks (block and comment tags, unless '+') one newline.
  void AfterTag(char sign, bool trim_newline) {
    if (sign == '-') {
      size_t p = pos_;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      MoveTo(p);
    } else if (sign != '+' && trim_newline && pos_ < src_.size() &&
               src_[pos_] == '\n') {
      MoveTo(pos_ + 1);
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }
  // Whether a raw block starts at `start` ("{%" [-+] ws "raw" ws [-]"%}");
  // sets *body_start past it.
  bool RawBegin(size_t start, size_t* body_start, char* end_sign) const;
  absl::Status LexRaw(size_t body_start, char end_sign);
  // The expression tokens of a tag up to its end marker ("}}" or "%}").
  absl::Status LexTagBody(bool block, char* end_sign);
  absl::Status LexString(char quote);

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

absl::StatusOr<std::vector<Token>> Lexer::Run() {
  while (pos_ < src_.size()) {
    size_t start = src_.find('{', pos_);
    while (start != std::string::npos && start + 1 < src_.size() &&
           src_[start + 1] != '{' && src_[start + 1] != '%' &&
           src_[start + 1] != '#') {
      start = src_.find('{', start + 1);
    }
    if (start == std::string::npos || start + 1 >= src_.size()) {
      EmitText(src_.substr(pos_), line_);
      MoveTo(src_.size());
      break;
    }
    const char kind = src_[start + 1];
    const char sign = start + 2 < src_.size() ? src_[start + 2] : '\0';
    std::string text = src_.substr(pos_, start - pos_);
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0 && IsSpace(text[end - 1])) --end;
      text.resize(end);
    } else if (sign != '+' && kind != '{') {
      // lstrip_blocks: only spaces and tabs between the line's start and
      // the tag.
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size() &&
          std::all_of(text.begin() + l_pos, text.end(),
                      [](char c) { return IsSpace(c) && c != '\n'; })) {
        text.resize(l_pos);
      }
    }
    EmitText(std::move(text), line_);
    MoveTo(start);
    const int tag_line = line_;
    size_t body = 0;
    char raw_sign = 0;
    if (kind == '%' && RawBegin(start, &body, &raw_sign)) {
      if (absl::Status s = LexRaw(body, raw_sign); !s.ok()) return s;
      continue;
    }
    MoveTo(start + 2 + (sign == '-' || sign == '+' ? 1 : 0));
    if (kind == '#') {
      size_t end = src_.find("#}", pos_);
      if (end == std::string::npos) return Error(tag_line, "unclosed comment");
      const char end_sign =
          end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')
              ? src_[end - 1]
              : '\0';
      MoveTo(end + 2);
      AfterTag(end_sign, /*trim_newline=*/true);
      continue;
    }
    const bool block = kind == '%';
    tokens_.push_back(
        {block ? Token::Kind::kBlockBegin : Token::Kind::kVarBegin, "",
         tag_line});
    char end_sign = 0;
    if (absl::Status s = LexTagBody(block, &end_sign); !s.ok()) return s;
    tokens_.push_back(
        {block ? Token::Kind::kBlockEnd : Token::Kind::kVarEnd, "", line_});
    AfterTag(end_sign, /*trim_newline=*/block);
  }
  tokens_.push_back({Token::Kind::kEnd, "", line_});
  return std::move(tokens_);
}

bool Lexer::RawBegin(size_t start, size_t* body_start, char* end_sign) const {
  size_t p = start + 2;
  if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
  while (p < src_.size() && IsSpace(src_[p])) ++p;
  if (src_.compare(p, 3, "raw") != 0) return false;
  p += 3;
  if (p < src_.size() && IsNameChar(src_[p])) return false;
  while (p < src_.size() && IsSpace(src_[p])) ++p;
  *end_sign = 0;
  if (p < src_.size() && src_[p] == '-') {
    *end_sign = '-';
    ++p;
  }
  if (src_.compare(p, 2, "%}") != 0) return false;
  *body_start = p + 2;
  return true;
}

absl::Status Lexer::LexRaw(size_t body_start, char end_sign) {
  const int line = line_;
  MoveTo(body_start);
  if (end_sign == '-') AfterTag('-', false);
  // Find "{%" [-] ws "endraw" ws [-+] "%}".
  size_t search = pos_;
  while (true) {
    const size_t tag = src_.find("{%", search);
    if (tag == std::string::npos) return Error(line, "unclosed raw block");
    size_t p = tag + 2;
    const bool strip_before = p < src_.size() && src_[p] == '-';
    if (strip_before) ++p;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (src_.compare(p, 6, "endraw") != 0) {
      search = tag + 2;
      continue;
    }
    p += 6;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    char sign = 0;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
    if (src_.compare(p, 2, "%}") != 0) {
      search = tag + 2;
      continue;
    }
    std::string text = src_.substr(pos_, tag - pos_);
    if (strip_before) {
      size_t end = text.size();
      while (end > 0 && IsSpace(text[end - 1])) --end;
      text.resize(end);
    }
    EmitText(std::move(text), line_);
    MoveTo(p + 2);
    AfterTag(sign, /*trim_newline=*/true);
    return absl::OkStatus();
  }
}

absl::Status Lexer::LexTagBody(bool block, char* end_sign) {
  const int tag_line = line_;
  int depth = 0;  // open brackets: an end marker inside them is not one
  const char close = block ? '%' : '}';
  while (true) {
    while (pos_ < src_.size() && IsSpace(src_[pos_])) MoveTo(pos_ + 1);
    if (pos_ >= src_.size()) {
      return Error(tag_line, block ? "unclosed tag '{%' (missing '%}')"
                                   : "unclosed '{{' (missing '}}')");
    }
    const char c = src_[pos_];
    if (depth == 0) {
      const bool signed_end =
          (c == '-' || (block && c == '+')) &&
          src_.compare(pos_ + 1, 2, std::string{close, '}'}) == 0;
      if (signed_end || src_.compare(pos_, 2, std::string{close, '}'}) == 0) {
        *end_sign = signed_end ? c : '\0';
        MoveTo(pos_ + (signed_end ? 3 : 2));
        return absl::OkStatus();
      }
    }
    if (c == '\'' || c == '"') {
      if (absl::Status s = LexString(c); !s.ok()) return s;
      continue;
    }
    if (absl::ascii_isdigit(c)) {
      size_t p = pos_;
      while (p < src_.size() &&
             (absl::ascii_isdigit(src_[p]) || src_[p] == '_'))
        ++p;
      bool is_float = false;
      if (p + 1 < src_.size() && src_[p] == '.' &&
          absl::ascii_isdigit(src_[p + 1])) {
        is_float = true;
        ++p;
        while (p < src_.size() &&
               (absl::ascii_isdigit(src_[p]) || src_[p] == '_'))
          ++p;
      }
      if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
        size_t q = p + 1;
        if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
        if (q < src_.size() && absl::ascii_isdigit(src_[q])) {
          is_float = true;
          p = q;
          while (p < src_.size() && absl::ascii_isdigit(src_[p])) ++p;
        }
      }
      std::string digits;
      for (size_t i = pos_; i < p; ++i) {
        if (src_[i] != '_') digits += src_[i];
      }
      tokens_.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInt,
                         std::move(digits), line_});
      MoveTo(p);
      continue;
    }
    if (IsNameStart(c)) {
      size_t p = pos_;
      while (p < src_.size() && IsNameChar(src_[p])) ++p;
      tokens_.push_back(
          {Token::Kind::kName, src_.substr(pos_, p - pos_), line_});
      MoveTo(p);
      continue;
    }
    static constexpr absl::string_view kTwo[] = {
        "//", "**", "==", "!=", "<=", ">="};
    std::string op;
    for (absl::string_view two : kTwo) {
      if (src_.compare(pos_, 2, two.data(), 2) == 0) op = std::string(two);
    }
    if (op.empty()) {
      static constexpr absl::string_view kOne = "+-*/%~<>=()[]{},.:|";
      if (kOne.find(c) == absl::string_view::npos) {
        return Error(line_, absl::StrCat("unexpected character '",
                                         std::string(1, c), "'"));
      }
      op = std::string(1, c);
    }
    if (op == "(" || op == "[" || op == "{") ++depth;
    if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
    tokens_.push_back({Token::Kind::kOperator, op, line_});
    MoveTo(pos_ + op.size());
  }
}

// Python string literal escapes (Jinja decodes them with unicode-escape).
absl::Status Lexer::LexString(char quote) {
  const int line = line_;
  std::string out;
  size_t p = pos_ + 1;
  while (true) {
    if (p >= src_.size()) return Error(line, "unclosed string literal");
    const char c = src_[p];
    if (c == quote) break;
    if (c != '\\' || p + 1 >= src_.size()) {
      out += c;
      ++p;
      continue;
    }
    const char e = src_[p + 1];
    p += 2;
    auto hex = [&](int n) -> int64_t {
      if (p + n > src_.size()) return -1;
      uint32_t v = 0;
      for (int i = 0; i < n; ++i) {
        const char h = src_[p + i];
        if (!absl::ascii_isxdigit(h)) return -1;
        v = v * 16 + (absl::ascii_isdigit(h)
                          ? h - '0'
                          : absl::ascii_tolower(h) - 'a' + 10);
      }
      p += n;
      return v;
    };
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '0':
        out += '\0';
        break;
      case '\n':
        break;  // line continuation
      case 'x':
      case 'u':
      case 'U': {
        const int64_t v = hex(e == 'x' ? 2 : e == 'u' ? 4 : 8);
        if (v < 0 || v > 0x10FFFF)
          return Error(line, "bad escape in string literal");
        AppendUtf8(static_cast<uint32_t>(v), &out);
        break;
      }
      default:
        out += '\\';
        out += e;
    }
  }
  tokens_.push_back({Token::Kind::kString, std::move(out), line});
  MoveTo(p + 1);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source) {
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src)).Run();
}

}  // namespace kvasir::engine::chat
