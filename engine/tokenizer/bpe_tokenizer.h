#ifndef KVASIR_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/bpe_pretokenizer.h"
#include "engine/tokenizer/special_tokens.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// A byte-level BPE vocabulary (`tokenizer.ggml.model = gpt2` in GGUF: GPT-2,
// Llama 3, Qwen2, DeepSeek, Mistral Tekken). Normal pieces are spelled in
// GPT-2's byte-to-unicode alphabet: every byte is one printable character
// ("Ġ" is the space 0x20, "Ċ" the newline), so "Ġthe" is " the".
// User-defined pieces are plain UTF-8 text.
struct BpeVocab {
  std::vector<std::string> pieces;  // tokenizer.ggml.tokens
  std::vector<TokenType> types;     // tokenizer.ggml.token_type
  // tokenizer.ggml.merges: "Ġ t" merges the pieces "Ġ" and "t"; a merge's
  // rank is its index, and lower ranks merge first.
  std::vector<std::string> merges;
  std::string pre = "default";  // tokenizer.ggml.pre
  int32_t bos_id = -1;          // -1: none
  int32_t eos_id = -1;
  int32_t eot_id = -1;  // end of turn (<|eot_id|>, <|im_end|>)
  int32_t eom_id = -1;  // end of message (<|eom_id|>)
  // Other tokens that end generation (found by name, as llama.cpp does).
  std::vector<int32_t> more_eog;
  // tokenizer.ggml.add_bos_token; unset: the pre-tokenizer's default
  // (Llama 3 and Tekken add BOS, the others do not).
  std::optional<bool> add_bos;
};

// Byte-level BPE as llama.cpp implements it (llm_tokenizer_bpe): the text
// is cut into words by the pre-tokenizer's regexes, each word's bytes are
// spelled in the byte-to-unicode alphabet, and within a word the adjacent
// pair with the lowest merge rank is merged repeatedly (ties: the leftmost
// pair) until no pair has a merge. With PreTokenizerTraits::ignore_merges a
// word that is a token is emitted whole. Every byte has a token in a valid
// vocabulary, so any text (even invalid UTF-8) encodes.
//
// Immutable; thread-safe.
class BpeTokenizer final : public Tokenizer {
 public:
  // Validates the vocabulary and compiles the pre-tokenizer. InvalidArgument
  // (prefixed with `source`, a file name) naming the key for: no tokens,
  // arrays of different lengths, special ids out of range, add_bos without
  // a BOS id, an unknown pre-tokenizer, a merge that is not two pieces
  // separated by a space or names a piece (or a merged piece) missing from
  // the tokens. The last is an error, as in Hugging Face tokenizers, rather
  // than llama.cpp's silent acceptance: such a merge can never produce a
  // token, so its file is not what the model was trained with.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(
      BpeVocab vocab, absl::string_view source);

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

  const BpeVocab& vocab() const { return vocab_; }
  bool add_bos() const { return add_bos_; }
  const PreTokenizer& pre_tokenizer() const { return *pre_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;  // the merged piece's id
  };

  BpeTokenizer(BpeVocab vocab, std::string source,
               std::unique_ptr<PreTokenizer> pre);

  // Appends the tokens of plain text (no special tokens) to `ids`.
  absl::Status EncodePlain(absl::string_view text,
                           std::vector<int32_t>* ids) const;
  // Appends the BPE tokens of one pre-tokenized word.
  absl::Status EncodeWord(absl::string_view word,
                          std::vector<int32_t>* ids) const;

  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  BpeVocab vocab_;
  std::string source_;
  std::unique_ptr<PreTokenizer> pre_;
  bool add_bos_ = false;
  SpecialTokenMatcher special_;
  // Normal pieces (the byte-level alphabet) -> id: what merges produce.
  absl::flat_hash_map<std::string, int32_t> piece_to_id_;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // PairKey(left, right)
  std::array<int32_t, 256> byte_to_id_;   // the byte's one-character token
  std::vector<std::string> token_bytes_;  // TokenBytes per id
  std::vector<int32_t> eog_;              // sorted
};

// GPT-2's byte-to-unicode alphabet: the UTF-8 spelling of byte `b`
// (printable Latin-1 bytes stand for themselves, the others for U+0100..).
absl::string_view ByteToUnicode(uint8_t b);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
