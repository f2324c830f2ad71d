#ifndef KVASIR_ENGINE_TOKENIZER_SPECIAL_TOKENS_H_
#define KVASIR_ENGINE_TOKENIZER_SPECIAL_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// Finds the control and user-defined tokens ("<|im_start|>", "<s>") written
// in a text, for EncodeOptions::parse_special. At each position the longest
// special token starting there wins; the scan goes left to right.
// Immutable; thread-safe.
class SpecialTokenMatcher {
 public:
  // Indexes the tokens of type kControl or kUserDefined with a non-empty
  // piece; `pieces` and `types` are indexed by token id. When two tokens
  // share a piece the lower id wins.
  SpecialTokenMatcher(absl::Span<const std::string> pieces,
                      absl::Span<const TokenType> types);

  // `text` cut into plain runs and special tokens, in order; the fragments'
  // texts concatenate to `text`. Empty text gives no fragments.
  std::vector<TextFragment> Split(absl::string_view text) const;

 private:
  absl::flat_hash_map<std::string, int32_t> by_piece_;
  std::vector<size_t> lengths_;         // distinct piece lengths, longest first
  std::array<bool, 256> first_byte_{};  // some piece starts with this byte
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_SPECIAL_TOKENS_H_
