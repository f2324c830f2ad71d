#ifndef KVASIR_TESTS_TESTING_ASCII_TOKENIZER_H_
#define KVASIR_TESTS_TESTING_ASCII_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace kvasir::testing {

// A deterministic test tokenizer: one token per ASCII byte.
//   0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3 + c for each byte c in 0..127.
// Vocabulary size 131. Like SentencePiece it encodes " " + text. Non-ASCII
// bytes have no token (and there is no byte fallback): Encode fails with
// InvalidArgument naming the byte offset, like a character-level vocab.
// With EncodeOptions::parse_special, "<s>" and "</s>" written in the text
// encode to BOS and EOS.
class AsciiTokenizer final : public engine::Tokenizer {
 public:
  static constexpr int32_t kVocabSize = 131;
  static constexpr int32_t kBos = 1;
  static constexpr int32_t kEos = 2;

  AsciiTokenizer();

  int32_t vocab_size() const override { return kVocabSize; }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text,
      const engine::EncodeOptions& options) const override;
  absl::string_view TokenBytes(int32_t id) const override;
  absl::string_view Piece(int32_t id) const override;

  // The token of an ASCII character.
  static int32_t TokenOf(char c) { return 3 + static_cast<unsigned char>(c); }

 private:
  std::vector<std::string> bytes_;   // TokenBytes by id
  std::vector<std::string> pieces_;  // Piece by id
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_ASCII_TOKENIZER_H_
