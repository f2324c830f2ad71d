#ifndef KVASIR_ENGINE_TOKENIZER_UTF8_H_
#define KVASIR_ENGINE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

// Small UTF-8 helpers for tokenizers and streaming output. Pure functions.
namespace kvasir::engine::utf8 {

// U+FFFD REPLACEMENT CHARACTER, encoded.
inline constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the sequence a lead byte announces, from its high bits alone
// (0xxxxxxx and stray 10xxxxxx: 1, 110xxxxx: 2, 1110xxxx: 3, 11110xxx and
// above: 4), as SentencePiece and llama.cpp split text into characters.
// Does not validate.
int SequenceLength(unsigned char lead);

// Appends the valid UTF-8 prefix of `in` to `out`, replacing each invalid
// sequence (its maximal valid subpart, or a single bad byte) with U+FFFD.
// A valid but incomplete character at the very end of `in` is not consumed
// unless `final` is set, in which case it too becomes U+FFFD. Returns the
// number of bytes of `in` consumed.
size_t AppendValid(absl::string_view in, bool final, std::string* out);

// Whether `s` is entirely valid UTF-8.
bool IsValid(absl::string_view s);

// Describes the character starting at byte `offset` of `text` for error
// messages: "'é' (U+00E9)", "'\n' (U+000A)" or "byte 0xC3 (invalid UTF-8)".
std::string DescribeCharAt(absl::string_view text, size_t offset);

}  // namespace kvasir::engine::utf8

#endif  // KVASIR_ENGINE_TOKENIZER_UTF8_H_
