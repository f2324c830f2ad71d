// llama2.c checkpoints and tokenizer files: the same bytes go to the
// tokenizer parser (then encode/decode) and to the checkpoint header check;
// a header that passes is loaded in full as a checkpoint file, with a
// tokenizer file of the vocabulary size it names.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/model/llama2c_loader.h"
#include "engine/model/mapped_file.h"
#include "engine/tokenizer/llama2c_tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace kvasir::fuzz {
namespace {

// Largest vocabulary the loader is run with: bigger ones need a checkpoint
// too large for the fuzzer to reach anyway.
constexpr int32_t kMaxVocab = 4096;

template <typename T>
void Append(T value, std::string* out) {
  char buf[sizeof(T)];
  std::memcpy(buf, &value, sizeof(T));
  out->append(buf, sizeof(T));
}

// A llama2.c tokenizer file of `n` tokens ("<unk>", "\n<s>\n", "\n</s>\n",
// then "t3", "t4", ...), written once per size.
const std::string& TokenizerFileFor(int32_t n) {
  static auto* const files =
      new std::map<int32_t, std::unique_ptr<ScratchFile>>();
  auto [it, added] = files->try_emplace(n);
  if (added) {
    std::string bytes;
    Append<int32_t>(16, &bytes);
    for (int32_t i = 0; i < n; ++i) {
      const std::string piece = i == 0   ? "<unk>"
                                : i == 1 ? "\n<s>\n"
                                : i == 2 ? "\n</s>\n"
                                         : absl::StrCat("t", i);
      Append<float>(-static_cast<float>(i), &bytes);
      Append<int32_t>(static_cast<int32_t>(piece.size()), &bytes);
      bytes += piece;
    }
    it->second = std::make_unique<ScratchFile>(absl::StrCat("tok", n, ".bin"));
    it->second->Write(bytes);
  }
  return it->second->path();
}

void UseTokenizer(const engine::Tokenizer& tok) {
  engine::EncodeOptions options;
  options.parse_special = true;
  auto ids = tok.Encode("Once upon a time <s> é", options);
  if (ids.ok()) (void)tok.DecodeBytes(*ids);
  for (int32_t id = 0; id < tok.vocab_size() && id < kMaxVocab; ++id) {
    (void)tok.TokenBytes(id);
  }
}

}  // namespace
}  // namespace kvasir::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tok = engine::ParseLlama2cTokenizer(bytes, "tokenizer.bin");
  if (tok.ok()) fuzz::UseTokenizer(**tok);

  auto header = engine::ParseLlama2cHeader(bytes, "model.bin");
  if (!header.ok()) return 0;
  const int32_t vocab = std::abs(header->vocab_size);
  if (vocab > fuzz::kMaxVocab) return 0;
  static const fuzz::ScratchFile* const checkpoint =
      new fuzz::ScratchFile("model.bin");
  checkpoint->Write(bytes);
  auto mapped = engine::MappedFile::Open(checkpoint->path());
  fuzz::Check(mapped.ok(), mapped.status().ToString());
  auto model =
      engine::Llama2cModelFromFile(**mapped, fuzz::TokenizerFileFor(vocab));
  if (model.ok()) fuzz::UseTokenizer(*(*model)->tokenizer);
  return 0;
}
