#ifndef KVASIR_TESTS_FUZZ_TOKENIZER_FUZZ_UTIL_H_
#define KVASIR_TESTS_FUZZ_TOKENIZER_FUZZ_UTIL_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::fuzz {

// Encodes `text` with every combination of EncodeOptions and decodes the
// result (DecodeBytes and IncrementalDecoder), checking what holds for every
// vocabulary: ids are in range; SplitSpecial's fragments put back together
// are the text; the streamed text is valid UTF-8 and, for valid UTF-8
// output, equals DecodeBytes. `expected_plain`, when not null, is what
// DecodeBytes of the plain encoding (no special prefix or parsing) must
// give back.
void EncodeAndDecode(const engine::Tokenizer& tok, absl::string_view text,
                     const std::string* expected_plain);

// Decodes `bytes` read as little-endian int16 token ids (any value: ids
// out of range must decode to nothing, not crash).
void DecodeIds(const engine::Tokenizer& tok, absl::string_view bytes);

}  // namespace kvasir::fuzz

#endif  // KVASIR_TESTS_FUZZ_TOKENIZER_FUZZ_UTIL_H_
