#ifndef KVASIR_ENGINE_TOKENIZER_SPM_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_SPM_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// SentencePiece token types, numbered as GGUF's tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// A SentencePiece BPE vocabulary (`tokenizer.ggml.model = llama` in GGUF,
// or a llama2.c tokenizer .bin). Pieces use "▁" (U+2581) for spaces.
struct SpmVocab {
  std::vector<std::string> pieces;  // "▁the", "<0x0A>", "<s>"
  std::vector<float> scores;        // merge priority: higher merges first
  std::vector<TokenType> types;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;            // -1: none
  bool add_space_prefix = true;  // encode " " + text (SentencePiece default)
};

// The SentencePiece BPE tokenizer as llama.cpp implements it
// (llm_tokenizer_spm): spaces become "▁", a " " is prepended to non-empty
// text, the text is split into UTF-8 characters, and the adjacent pair whose
// concatenation is the best-scoring vocabulary piece is merged repeatedly
// (ties: the leftmost pair). A final piece with no token falls back to its
// bytes' <0xNN> tokens; without byte tokens, that is an InvalidArgument
// error naming the character and its byte offset in the text.
//
// Immutable; thread-safe.
class SpmTokenizer final : public Tokenizer {
 public:
  // Validates the vocabulary: non-empty, pieces/scores/types of equal
  // length, special ids in range, byte tokens spelled "<0xNN>". `source`
  // (a file name) is used in error messages.
  static absl::StatusOr<std::unique_ptr<SpmTokenizer>> Create(
      SpmVocab vocab, absl::string_view source);

  int32_t vocab_size() const override {
    return static_cast<int32_t>(vocab_.pieces.size());
  }
  int32_t bos_id() const override { return vocab_.bos_id; }
  int32_t eos_id() const override { return vocab_.eos_id; }
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text,
                                              bool add_bos) const override;
  absl::string_view TokenBytes(int32_t id) const override;
  absl::string_view Piece(int32_t id) const override;

  const SpmVocab& vocab() const { return vocab_; }
  // Whether every byte has a <0xNN> token (text is then always encodable).
  bool has_byte_fallback() const { return has_byte_fallback_; }

 private:
  SpmTokenizer(SpmVocab vocab, std::string source);

  SpmVocab vocab_;
  std::string source_;
  std::vector<std::string> token_bytes_;  // TokenBytes per id
  // Pieces that text may be encoded to (normal and user-defined tokens).
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;
  std::array<int32_t, 256> byte_to_id_;  // -1 when the byte has no token
  bool has_byte_fallback_ = false;
};

// Parses "<0xNN>" (two hex digits); -1 for anything else.
int ParseByteToken(absl::string_view piece);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_SPM_TOKENIZER_H_
