#include "engine/chat/text_ops.h"

#include "absl/strings/ascii.h"

namespace kvasir::engine::chat {
namespace {

bool IsPySpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f' || (c >= '\x1c' && c <= '\x1f');
}

}  // namespace

Text StripText(const Text& t, const std::optional<std::string>& chars,
               bool left, bool right) {
  const std::string& s = t.str();
  auto strip = [&](char c) {
    return chars.has_value() ? chars->find(c) != std::string::npos
                             : IsPySpace(c);
  };
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end && strip(s[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip(s[end - 1])) --end;
  }
  return t.Substr(begin, end - begin);
}

std::vector<Text> SplitText(const Text& t,
                            const std::optional<std::string>& sep,
                            int64_t maxsplit, bool from_right) {
  const std::string& s = t.str();
  std::vector<Text> parts;
  if (!sep.has_value()) {
    // Whitespace runs; leading and trailing whitespace give no empty parts.
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && IsPySpace(s[i])) ++i;
      if (i >= s.size()) break;
      size_t j = i;
      while (j < s.size() && !IsPySpace(s[j])) ++j;
      words.emplace_back(i, j);
      i = j;
    }
    if (maxsplit < 0 || static_cast<size_t>(maxsplit) + 1 >= words.size()) {
      for (const auto& [a, b] : words) parts.push_back(t.Substr(a, b - a));
      return parts;
    }
    const size_t keep = static_cast<size_t>(maxsplit);
    if (!from_right) {
      for (size_t w = 0; w < keep; ++w) {
        parts.push_back(
            t.Substr(words[w].first, words[w].second - words[w].first));
      }
      // The remainder runs to the end, trailing whitespace stripped as
      // Python does only on the right of the whole string.
      size_t end = s.size();
      while (end > words[keep].first && IsPySpace(s[end - 1])) --end;
      parts.push_back(t.Substr(words[keep].first, end - words[keep].first));
    } else {
      const size_t first_split = words.size() - keep;
      size_t begin = 0;
      while (begin < s.size() && IsPySpace(s[begin])) ++begin;
      parts.push_back(t.Substr(begin, words[first_split - 1].second - begin));
      for (size_t w = first_split; w < words.size(); ++w) {
        parts.push_back(
            t.Substr(words[w].first, words[w].second - words[w].first));
      }
    }
    return parts;
  }
  const std::string& d = *sep;
  std::vector<size_t> cuts;  // positions of separators used
  if (!from_right) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(cuts.size()) < maxsplit) {
      const size_t f = s.find(d, pos);
      if (f == std::string::npos) break;
      cuts.push_back(f);
      pos = f + d.size();
    }
  } else {
    size_t end = s.size();  // the next match ends at or before `end`
    while ((maxsplit < 0 || static_cast<int64_t>(cuts.size()) < maxsplit) &&
           end >= d.size()) {
      const size_t f = s.rfind(d, end - d.size());
      if (f == std::string::npos) break;
      cuts.insert(cuts.begin(), f);
      end = f;
    }
  }
  size_t start = 0;
  for (size_t c : cuts) {
    parts.push_back(t.Substr(start, c - start));
    start = c + d.size();
  }
  parts.push_back(t.Substr(start));
  return parts;
}

Text ReplaceText(const Text& t, absl::string_view old_text,
                 const Text& new_text, int64_t count) {
  const std::string& s = t.str();
  Text out;
  if (old_text.empty()) {
    // Python inserts `new` before every character and at the end.
    const std::vector<size_t> cps = CodePointOffsets(s);
    int64_t done = 0;
    for (size_t i = 0; i + 1 < cps.size(); ++i) {
      if (count < 0 || done < count) {
        out.Append(new_text);
        ++done;
      }
      out.Append(t.Substr(cps[i], cps[i + 1] - cps[i]));
    }
    if (count < 0 || done < count) out.Append(new_text);
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t f = s.find(old_text.data(), pos, old_text.size());
    if (f == std::string::npos) break;
    out.Append(t.Substr(pos, f - pos));
    out.Append(new_text);
    pos = f + old_text.size();
    ++done;
  }
  out.Append(t.Substr(pos));
  return out;
}

char AsciiLower(char c) { return absl::ascii_tolower(c); }
char AsciiUpper(char c) { return absl::ascii_toupper(c); }

Text TitleText(const Text& t) {
  // MapBytes cannot see neighbours: map with the previous byte known.
  std::string s = t.str();
  bool prev_letter = false;
  for (char& c : s) {
    const bool letter = absl::ascii_isalpha(c);
    c = letter ? (prev_letter ? AsciiLower(c) : AsciiUpper(c)) : c;
    prev_letter = letter;
  }
  Text result;
  for (size_t i = 0; i < s.size(); ++i) {
    Text one = t.Substr(i, 1);
    Text mapped(std::string(1, s[i]), one.any_from_content());
    result.Append(mapped);
  }
  return result;
}

Text CapitalizeText(const Text& t) {
  Text out = t.MapBytes(&AsciiLower);
  if (out.empty()) return out;
  Text first = out.Substr(0, 1);
  Text upper(std::string(1, AsciiUpper(first.str()[0])),
             first.any_from_content());
  upper.Append(out.Substr(1));
  return upper;
}

}  // namespace kvasir::engine::chat
