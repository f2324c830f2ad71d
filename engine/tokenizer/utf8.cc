#include "engine/tokenizer/utf8.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvasir::engine::utf8 {
namespace {

// Result of examining one sequence at the start of a buffer.
struct Sequence {
  enum Kind { kValid, kInvalid, kIncomplete } kind;
  size_t length;  // valid: bytes of the character; invalid: bytes to replace
  uint32_t code_point;
};

// Decodes the sequence at the start of `s` (non-empty) following the
// Unicode "maximal subpart" rule: an invalid sequence is replaced as a unit
// up to the first byte that cannot continue it.
Sequence Examine(absl::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {Sequence::kValid, 1, b0};
  int need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {Sequence::kInvalid, 1, 0};
  }
  for (int k = 1; k <= need; ++k) {
    if (static_cast<size_t>(k) >= s.size()) {
      return {Sequence::kIncomplete, static_cast<size_t>(k), 0};
    }
    const auto b = static_cast<unsigned char>(s[k]);
    const unsigned char min = k == 1 ? lo : 0x80;
    const unsigned char max = k == 1 ? hi : 0xBF;
    if (b < min || b > max) {
      return {Sequence::kInvalid, static_cast<size_t>(k), 0};
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Sequence::kValid, static_cast<size_t>(need + 1), cp};
}

}  // namespace

int SequenceLength(unsigned char lead) {
  static constexpr int kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                            1, 1, 1, 1, 2, 2, 3, 4};
  return kByHighNibble[lead >> 4];
}

size_t AppendValid(absl::string_view in, bool final, std::string* out) {
  size_t i = 0;
  while (i < in.size()) {
    const Sequence seq = Examine(in.substr(i));
    switch (seq.kind) {
      case Sequence::kValid:
        out->append(in.data() + i, seq.length);
        i += seq.length;
        break;
      case Sequence::kInvalid:
        out->append(kReplacement.data(), kReplacement.size());
        i += seq.length;
        break;
      case Sequence::kIncomplete:
        if (!final) return i;
        out->append(kReplacement.data(), kReplacement.size());
        return in.size();
    }
  }
  return i;
}

bool IsValid(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const Sequence seq = Examine(s.substr(i));
    if (seq.kind != Sequence::kValid) return false;
    i += seq.length;
  }
  return true;
}

std::string DescribeCharAt(absl::string_view text, size_t offset) {
  if (offset >= text.size()) return "end of text";
  const Sequence seq = Examine(text.substr(offset));
  if (seq.kind != Sequence::kValid) {
    return absl::StrFormat("byte 0x%02X (invalid UTF-8)",
                           static_cast<unsigned char>(text[offset]));
  }
  std::string shown;
  if (seq.code_point < 0x20 || seq.code_point == 0x7F) {
    switch (seq.code_point) {
      case '\n':
        shown = "\\n";
        break;
      case '\t':
        shown = "\\t";
        break;
      case '\r':
        shown = "\\r";
        break;
      default:
        shown = absl::StrFormat("\\x%02X", seq.code_point);
    }
  } else {
    shown = std::string(text.substr(offset, seq.length));
  }
  return absl::StrFormat("'%s' (U+%04X)", shown, seq.code_point);
}

}  // namespace kvasir::engine::utf8
