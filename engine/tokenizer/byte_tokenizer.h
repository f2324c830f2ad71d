#ifndef KVASIR_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// A byte-level tokenizer for the random-weight dummy models, laid out like
// a Llama vocabulary: 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3..258 the bytes
// <0x00>..<0xFF>, then unused ids "<unused_N>" up to vocab_size (valid ids
// that decode to nothing). Every text encodes, one token per byte, with no
// dummy-prefix space. Immutable; thread-safe.
class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kUnkId = 0;
  static constexpr int32_t kBosId = 1;
  static constexpr int32_t kEosId = 2;
  static constexpr int32_t kFirstByteId = 3;
  static constexpr int32_t kMinVocabSize = kFirstByteId + 256;

  // InvalidArgument when vocab_size < 259 (naming the minimum).
  static absl::StatusOr<std::unique_ptr<ByteTokenizer>> Create(
      int32_t vocab_size);

  int32_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override { return kBosId; }
  int32_t eos_id() const override { return kEosId; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, const EncodeOptions& options) const override;
  absl::string_view TokenBytes(int32_t id) const override;
  absl::string_view Piece(int32_t id) const override;

 private:
  explicit ByteTokenizer(int32_t vocab_size);

  int32_t vocab_size_;
  std::vector<std::string> pieces_;
  std::string bytes_;  // bytes_[b] == b, for TokenBytes views
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
