#include "tests/engine/tokenizer/bpe_test_vocab.h"

#include <string>

namespace kvasir::engine::testing {

BpeVocab TinyBpeVocab(const std::string& pre) {
  BpeVocab v;
  for (int b = 0; b < 256; ++b) {
    v.pieces.emplace_back(ByteToUnicode(static_cast<uint8_t>(b)));
    v.types.push_back(TokenType::kNormal);
  }
  for (const char* piece : {"he", "ll", "hell", "hello", "aa"}) {
    v.pieces.emplace_back(piece);
    v.types.push_back(TokenType::kNormal);
  }
  for (const char* piece : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    v.pieces.emplace_back(piece);
    v.types.push_back(TokenType::kControl);
  }
  v.pieces.emplace_back("<tool>");
  v.types.push_back(TokenType::kUserDefined);
  v.merges = {"h e", "l l", "he ll", "hell o", "a a"};
  v.pre = pre;
  v.bos_id = TinyBpeIds::kEndOfText;
  v.eos_id = TinyBpeIds::kEndOfText;
  v.eot_id = TinyBpeIds::kImEnd;
  return v;
}

}  // namespace kvasir::engine::testing
