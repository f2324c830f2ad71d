#ifndef KVASIR_ENGINE_TOKENIZER_BPE_PRETOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_BPE_PRETOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::engine {

// How a byte-level BPE vocabulary's pre-tokenizer behaves besides its
// regexes (llama.cpp's per-`tokenizer.ggml.pre` flags).
struct PreTokenizerTraits {
  // A word that is itself a token is emitted whole, without BPE merges
  // (Llama 3, Tekken).
  bool ignore_merges = false;
  // Whether the vocabulary adds BOS when the GGUF file has no
  // tokenizer.ggml.add_bos_token.
  bool add_bos = false;
};

// Splits text into the words byte-level BPE merges within, by the regexes
// of the vocabulary's `tokenizer.ggml.pre` (the patterns llama.cpp uses,
// run with PCRE2 in UTF + Unicode-property mode). Several regexes apply in
// sequence: each splits every piece the previous one produced, and the text
// between two matches is a piece too, so the pieces always concatenate to
// the input. Invalid UTF-8 never matches and stays in the in-between pieces.
//
// The patterns are compiled (and JIT-compiled) once. Immutable; Split is
// thread-safe (match scratch space is per thread).
class PreTokenizer {
 public:
  // `name` is the value of tokenizer.ggml.pre. InvalidArgument naming it
  // and listing SupportedNames() when it is not one of them.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> Create(
      absl::string_view name);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // The accepted tokenizer.ggml.pre values, e.g. "llama-bpe", "qwen2".
  static std::vector<std::string> SupportedNames();

  // Appends the pieces of `text` (views into it, none empty) to `words`.
  // Internal error only when PCRE2 fails to match (resource limits).
  absl::Status Split(absl::string_view text,
                     std::vector<absl::string_view>* words) const;

  const std::string& name() const { return name_; }
  const PreTokenizerTraits& traits() const { return traits_; }

 private:
  struct Pattern;  // a compiled PCRE2 regex
  PreTokenizer(std::string name, PreTokenizerTraits traits);

  absl::Status SplitWith(const Pattern& pattern,
                         const std::vector<absl::string_view>& in,
                         std::vector<absl::string_view>* out) const;

  std::string name_;
  PreTokenizerTraits traits_;
  std::vector<std::unique_ptr<Pattern>> patterns_;  // applied in order
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_BPE_PRETOKENIZER_H_
