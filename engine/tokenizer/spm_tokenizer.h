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
#include "engine/tokenizer/special_tokens.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// A SentencePiece BPE vocabulary (`tokenizer.ggml.model = llama` in GGUF,
// or a llama2.c tokenizer .bin). Pieces use "▁" (U+2581) for spaces.
struct SpmVocab {
  std::vector<std::string> pieces;  // "▁the", "<0x0A>", "<s>"
  std::vector<float> scores;        // merge priority: higher merges first
  std::vector<TokenType> types;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;   // -1: none
  int32_t eot_id = -1;  // end of turn; -1: none
  int32_t eom_id = -1;  // end of message; -1: none
  // Other tokens that end generation (found by name, as llama.cpp does).
  std::vector<int32_t> more_eog;
  bool add_space_prefix = true;  // encode " " + text (SentencePiece default)
  bool add_bos = true;           // EncodeOptions::add_special adds BOS
};

// The SentencePiece BPE tokenizer as llama.cpp implements it
// (llm_tokenizer_spm): spaces become "▁", a " " is prepended to non-empty
// text, the text is split into UTF-8 characters, and the adjacent pair whose
// concatenation is the best-scoring vocabulary piece is merged repeatedly
// (ties: the leftmost pair). A final piece with no token falls back to its
// bytes' <0xNN> tokens; without byte tokens, that is an InvalidArgument
// error naming the character and its byte offset in the text. With
// parse_special, control and user-defined tokens written in the text are
// emitted as themselves and the text between them is encoded piecewise; as
// in llama.cpp, a text run gets the dummy-prefix space when it starts the
// text or follows a special token.
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
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, const EncodeOptions& options) const override;
  std::vector<TextFragment> SplitSpecial(
      absl::string_view text) const override {
    return special_.Split(text);
  }
  absl::string_view TokenBytes(int32_t id) const override;
  absl::string_view Piece(int32_t id) const override;
  std::vector<int32_t> EndOfGenerationIds() const override { return eog_; }
  bool IsEndOfGeneration(int32_t id) const override;

  const SpmVocab& vocab() const { return vocab_; }
  // Whether every byte has a <0xNN> token (text is then always encodable).
  bool has_byte_fallback() const { return has_byte_fallback_; }

 private:
  SpmTokenizer(SpmVocab vocab, std::string source);

  // Appends the tokens of `run`, a plain-text run of `text` (for error
  // offsets), with the dummy prefix when `prefix`.
  absl::Status EncodeRun(absl::string_view text, absl::string_view run,
                         bool prefix, std::vector<int32_t>* ids) const;

  SpmVocab vocab_;
  std::string source_;
  std::vector<std::string> token_bytes_;  // TokenBytes per id
  // Pieces that text may be encoded to (normal and user-defined tokens).
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;
  std::array<int32_t, 256> byte_to_id_;  // -1 when the byte has no token
  bool has_byte_fallback_ = false;
  SpecialTokenMatcher special_;
  std::vector<int32_t> eog_;  // sorted
};

// Parses "<0xNN>" (two hex digits); -1 for anything else.
int ParseByteToken(absl::string_view piece);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_SPM_TOKENIZER_H_
