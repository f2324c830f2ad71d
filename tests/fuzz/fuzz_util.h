#ifndef KVASIR_TESTS_FUZZ_FUZZ_UTIL_H_
#define KVASIR_TESTS_FUZZ_FUZZ_UTIL_H_

// What the libFuzzer targets of tests/fuzz/ share: a scratch file for
// parsers that read files, small fixed vocabularies (the fuzzers build their
// tokenizers from these, never from model files) and a chat template.
//
// A fuzz target is one process running one input at a time: nothing here
// is thread-safe, and the objects returned by reference live until exit.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/chat/chat_template.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/spm_tokenizer.h"

namespace kvasir::fuzz {

// Aborts (a crash libFuzzer keeps) with `what` when `ok` is false: for the
// properties a target asserts beyond "does not crash".
void Check(bool ok, absl::string_view what);

// A file of this process in $TMPDIR (or /tmp) named `name`, overwritten by
// Write() on every input, removed at exit.
class ScratchFile {
 public:
  explicit ScratchFile(absl::string_view name);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's contents; aborts when the file cannot be written
  // (the fuzzer's environment is broken, not the input).
  void Write(absl::string_view bytes) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A SentencePiece vocabulary like a small llama one: <unk>, <s>, </s>, the
// 256 byte tokens <0xNN> (when `byte_fallback`), a few normal pieces
// ("▁", "▁t", "he", "▁the", ...), the control tokens <|im_start|> and
// <|im_end|> (EOT) and the user-defined <tool>.
engine::SpmVocab FuzzSpmVocab(bool byte_fallback);
// The tokenizer of FuzzSpmVocab(byte_fallback), built once.
const engine::SpmTokenizer& FuzzSpmTokenizer(bool byte_fallback);

// A byte-level BPE vocabulary: every byte, a few merges ("h e", "l l",
// "he ll", "hell o", "Ġ t", "Ġt he"), <|endoftext|> (BOS, EOS),
// <|im_start|>, <|im_end|> (EOT) and the user-defined <tool>; pre-tokenizer
// `pre` (one of engine::PreTokenizer::SupportedNames()).
engine::BpeVocab FuzzBpeVocab(const std::string& pre);

// A ChatML template (Qwen's, with a system-prompt default and
// raise_exception on an unknown role) over the tokens of the vocabularies
// above.
inline constexpr absl::string_view kChatMlTemplate =
    "{%- if messages[0].role != 'system' -%}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m.role not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unknown role ' ~ m.role) }}"
    "{%- endif -%}"
    "<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}";

// Render limits small enough that one input renders in milliseconds (the
// defaults allow a million steps and 8 MiB of output).
engine::chat::RenderLimits FuzzRenderLimits();

// The ChatML template with FuzzRenderLimits() and a fixed clock, built once.
const engine::chat::ChatTemplate& FuzzChatTemplate();

}  // namespace kvasir::fuzz

#endif  // KVASIR_TESTS_FUZZ_FUZZ_UTIL_H_
