#ifndef KVASIR_ENGINE_TOKENIZER_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvasir::engine {

// Token types, numbered as GGUF's tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // <s>, <|begin_of_text|>, <|im_end|>: never plain text
  kUserDefined = 4,  // added tokens: matched whole, text kept verbatim
  kUnused = 5,
  kByte = 6,  // SentencePiece <0xNN>
};

// How Encode treats the special tokens.
struct EncodeOptions {
  // Add what the vocabulary puts before every text: BOS when it wants one
  // (tokenizer.ggml.add_bos_token; SentencePiece and Llama 3 do, Qwen2 and
  // GPT-2 do not).
  bool add_special = true;
  // Match control and user-defined tokens written in the text
  // ("<|im_start|>") and emit their ids. When false they are plain text and
  // are encoded like any other characters, so user text cannot forge them.
  bool parse_special = false;
};

// A run of the text to encode: plain text, or a special token found in it.
struct TextFragment {
  absl::string_view text;  // a view into the split text
  int32_t token = -1;      // the special token's id; -1 for plain text
};

// Text <-> token ids. Implementations are immutable after construction and
// safe to use from many threads at once.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;

  // Token ids for `text` (see EncodeOptions). SentencePiece-style
  // vocabularies encode " " + text (the dummy-prefix space) when text is
  // non-empty, as llama.cpp does; the empty text encodes to nothing (or
  // [BOS]). InvalidArgument when a character has no token and the vocab has
  // no byte fallback; the message gives the character and its byte offset.
  virtual absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, const EncodeOptions& options) const = 0;

  // `text` cut at the special tokens written in it, exactly as Encode with
  // parse_special finds them; the fragments' texts concatenate to `text`.
  // Encode(text, {parse_special = true}) equals the fragments' tokens with
  // each plain run encoded with parse_special = false (the runs are what
  // the vocabulary's dummy-prefix rules see). Lets a caller parse special
  // tokens in some parts of a prompt only (chat templates: the template's
  // markers, not the user's text). Default: one plain fragment (a
  // vocabulary without special tokens).
  virtual std::vector<TextFragment> SplitSpecial(absl::string_view text) const;

  // The bytes token `id` contributes to output text: "▁" becomes " ", a
  // byte token <0xNN> is that one byte, a byte-level BPE piece ("Ġthe") is
  // the bytes it stands for, control tokens (BOS, EOS, UNK) are empty. A
  // multi-byte UTF-8 character may be split over several tokens. Empty for
  // ids outside [0, vocab_size).
  virtual absl::string_view TokenBytes(int32_t id) const = 0;

  // The token's piece exactly as stored in the vocabulary ("▁the",
  // "<0x0A>", "<s>", "Ġthe"). Empty for ids outside [0, vocab_size).
  virtual absl::string_view Piece(int32_t id) const = 0;

  // The ids that end generation: EOS and the end-of-turn / end-of-message
  // tokens the vocabulary declares (<|eot_id|>, <|im_end|>). Sorted, no
  // duplicates. Overrides must agree with IsEndOfGeneration. Default:
  // {eos_id()}.
  virtual std::vector<int32_t> EndOfGenerationIds() const { return {eos_id()}; }
  // Whether generating `id` ends the output. Default: id == eos_id().
  virtual bool IsEndOfGeneration(int32_t id) const { return id == eos_id(); }

  // Concatenation of TokenBytes; may end in an incomplete UTF-8 character.
  std::string DecodeBytes(absl::Span<const int32_t> ids) const;
};

// The sorted, duplicate-free set {eos, eot, eom} + `more` without the
// absent (-1) ones, for implementations of EndOfGenerationIds.
std::vector<int32_t> EndOfGenerationSet(int32_t eos_id, int32_t eot_id,
                                        int32_t eom_id,
                                        absl::Span<const int32_t> more);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_TOKENIZER_H_
