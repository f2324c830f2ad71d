// The byte-level BPE tokenizer: the first byte picks the pre-tokenizer (one
// of PreTokenizer::SupportedNames()), the rest is the text to encode and,
// read as token ids, to decode. Every byte has a token, so every text, even
// invalid UTF-8, must encode and come back from DecodeBytes unchanged.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/tokenizer/bpe_pretokenizer.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/tokenizer_fuzz_util.h"

namespace kvasir::fuzz {
namespace {

// One tokenizer per pre-tokenizer, built on first use (compiling the
// regexes is far slower than one input).
const engine::BpeTokenizer& TokenizerFor(uint8_t selector) {
  static const std::vector<std::string> names =
      engine::PreTokenizer::SupportedNames();
  static auto* const tokenizers =
      new std::vector<std::unique_ptr<engine::BpeTokenizer>>(names.size());
  const size_t i = selector % names.size();
  std::unique_ptr<engine::BpeTokenizer>& tok = (*tokenizers)[i];
  if (tok == nullptr) {
    auto created = engine::BpeTokenizer::Create(FuzzBpeVocab(names[i]), "fuzz");
    Check(created.ok(), created.status().ToString());
    tok = *std::move(created);
  }
  return *tok;
}

}  // namespace
}  // namespace kvasir::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  if (size == 0) return 0;
  const engine::BpeTokenizer& tok = fuzz::TokenizerFor(data[0]);
  const absl::string_view text(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  const std::string expected(text);
  auto plain = tok.Encode(text, engine::EncodeOptions{.add_special = false,
                                                      .parse_special = false});
  fuzz::Check(plain.ok(), "byte-level BPE failed to encode a text");
  fuzz::EncodeAndDecode(tok, text, &expected);
  fuzz::DecodeIds(tok, text);
  return 0;
}
