#ifndef KVASIR_ENGINE_TOKENIZER_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvasir::engine {

// Text <-> token ids. Implementations are immutable after construction and
// safe to use from many threads at once.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;

  // Token ids for `text`, preceded by BOS when `add_bos`. SentencePiece-
  // style vocabularies encode " " + text (the dummy-prefix space) when text
  // is non-empty, as llama.cpp does; the empty text encodes to nothing (or
  // [BOS]). InvalidArgument when a character has no token and the vocab has
  // no byte fallback; the message gives the character and its byte offset.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                                      bool add_bos) const = 0;

  // The bytes token `id` contributes to output text: "▁" becomes " ", a
  // byte token <0xNN> is that one byte, control tokens (BOS, EOS, UNK) are
  // empty. A multi-byte UTF-8 character may be split over several tokens.
  // Empty for ids outside [0, vocab_size).
  virtual absl::string_view TokenBytes(int32_t id) const = 0;

  // The token's piece exactly as stored in the vocabulary ("▁the",
  // "<0x0A>", "<s>"). Empty for ids outside [0, vocab_size).
  virtual absl::string_view Piece(int32_t id) const = 0;

  // Concatenation of TokenBytes; may end in an incomplete UTF-8 character.
  std::string DecodeBytes(absl::Span<const int32_t> ids) const;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_TOKENIZER_H_
