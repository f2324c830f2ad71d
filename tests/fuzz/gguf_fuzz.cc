// GGUF reader and loader: bytes -> a .gguf file -> GgufFile (every metadata
// getter, every tensor read) -> the tokenizer and the whole model, which,
// when it loads, encodes and decodes a text and renders its chat template.
// Malformed files must fail with a status, never crash or read out of
// bounds (the mapping is exactly the file, so ASan sees any overread).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/chat/chat_template.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_loader.h"
#include "engine/tokenizer/gguf_tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace kvasir::fuzz {
namespace {

void ReadAllMetadata(const engine::GgufFile& file) {
  for (const auto& [key, value] : file.metadata()) {
    (void)file.GetInt(key);
    (void)file.GetFloat(key);
    (void)file.GetBool(key);
    (void)file.GetString(key);
    (void)file.GetStringArray(key);
    (void)file.GetFloatArray(key);
    (void)file.GetIntArray(key);
  }
}

void ReadAllTensors(const engine::GgufFile& file) {
  for (const engine::GgufTensorInfo& info : file.tensors()) {
    (void)info.ShapeString();
    // Dequantizing expands up to 8x (Q4): small tensors only, so one input
    // stays fast; the loader below reads the others.
    if (info.n_elements > (uint64_t{1} << 16)) continue;
    (void)file.ReadTensor(info);
    (void)file.ReadWeight(info.name, info.Shape());
  }
}

void UseModel(const engine::Model& model) {
  const engine::Tokenizer& tok = *model.tokenizer;
  engine::EncodeOptions options;
  options.parse_special = true;
  auto ids = tok.Encode("Hello world <|im_start|> é 日本", options);
  if (ids.ok()) (void)tok.DecodeBytes(*ids);
  for (int32_t id = -1; id <= tok.vocab_size(); ++id) {
    (void)tok.TokenBytes(id);
    (void)tok.Piece(id);
  }
  if (model.chat_template.empty()) return;
  engine::chat::ChatTemplate::Options t;
  t.source = model.chat_template;
  t.now = [] { return absl::FromUnixSeconds(1'700'000'000); };
  t.limits = FuzzRenderLimits();
  auto tmpl = engine::chat::ChatTemplate::Create(std::move(t));
  if (!tmpl.ok()) return;
  const engine::chat::Message messages[] = {{"system", "Be brief."},
                                            {"user", "Hi"}};
  (void)(*tmpl)->Render(messages, true);
}

}  // namespace
}  // namespace kvasir::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  static const fuzz::ScratchFile* const file =
      new fuzz::ScratchFile("model.gguf");
  file->Write(absl::string_view(reinterpret_cast<const char*>(data), size));
  auto gguf = engine::GgufFile::Open(file->path());
  if (!gguf.ok()) return 0;
  fuzz::ReadAllMetadata(**gguf);
  fuzz::ReadAllTensors(**gguf);
  (void)engine::TokenizerFromGguf(**gguf);
  auto model = engine::ModelFromGguf(**gguf);
  if (model.ok()) fuzz::UseModel(**model);
  return 0;
}
