#ifndef KVASIR_ENGINE_TOKENIZER_INCREMENTAL_DECODER_H_
#define KVASIR_ENGINE_TOKENIZER_INCREMENTAL_DECODER_H_

#include <cstdint>
#include <string>

#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// Turns a stream of token ids into UTF-8 text safely: a character whose
// bytes are spread over several tokens (byte-fallback tokens <0xE2> <0x96>
// <0x81>) is emitted whole, once its last byte arrives. Invalid byte
// sequences become U+FFFD as soon as they are known to be invalid.
//
// One per output stream; not thread-safe. The tokenizer is not owned and
// must outlive the decoder. After the first few calls Add() does not
// allocate when `out` has capacity.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer* tokenizer)
      : tokenizer_(tokenizer) {}

  // Appends the text completed by token `id` to `out` (possibly nothing,
  // while a character is incomplete). Returns the number of bytes appended.
  size_t Add(int32_t id, std::string* out);
  // Convenience: the text completed by `id`.
  std::string Add(int32_t id);

  // Appends what is still held back (an incomplete character becomes
  // U+FFFD) to `out` and resets the decoder. Returns the bytes appended.
  size_t Flush(std::string* out);
  std::string Flush();

  // Bytes held back waiting for the rest of a character (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_INCREMENTAL_DECODER_H_
