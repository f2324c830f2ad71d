#ifndef KVASIR_TESTS_ENGINE_TOKENIZER_BPE_TEST_VOCAB_H_
#define KVASIR_TESTS_ENGINE_TOKENIZER_BPE_TEST_VOCAB_H_

#include <memory>

#include "engine/tokenizer/bpe_tokenizer.h"

namespace kvasir::engine::testing {

// Ids of the small hand-made byte-level vocabulary below.
struct TinyBpeIds {
  // 0..255: the byte tokens, in byte order.
  static constexpr int32_t kHe = 256;         // "he"
  static constexpr int32_t kLl = 257;         // "ll"
  static constexpr int32_t kHell = 258;       // "hell"
  static constexpr int32_t kHello = 259;      // "hello"
  static constexpr int32_t kAa = 260;         // "aa"
  static constexpr int32_t kEndOfText = 261;  // <|endoftext|>, control, EOS
  static constexpr int32_t kImStart = 262;    // <|im_start|>, control
  static constexpr int32_t kImEnd = 263;      // <|im_end|>, control, EOT
  static constexpr int32_t kTool = 264;       // <tool>, user-defined
  static constexpr int32_t kSize = 265;
};

// The vocabulary: every byte, the merges "h e", "l l", "he ll", "hell o",
// "a a" (ranks 0..4), the special tokens above; pre-tokenizer `pre`.
BpeVocab TinyBpeVocab(const std::string& pre = "gpt-2");

}  // namespace kvasir::engine::testing

#endif  // KVASIR_TESTS_ENGINE_TOKENIZER_BPE_TEST_VOCAB_H_
