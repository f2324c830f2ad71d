#include "tests/fuzz/fuzz_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace kvasir::fuzz {

void Check(bool ok, absl::string_view what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

ScratchFile::ScratchFile(absl::string_view name) {
  const char* dir = std::getenv("TMPDIR");
  path_ = absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "/tmp",
                       "/kvasir-fuzz-", getpid(), "-", name);
}

ScratchFile::~ScratchFile() { std::remove(path_.c_str()); }

void ScratchFile::Write(absl::string_view bytes) const {
  std::FILE* f = std::fopen(path_.c_str(), "wb");
  Check(f != nullptr, absl::StrCat("cannot create ", path_));
  const bool written =
      std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  Check(std::fclose(f) == 0 && written, absl::StrCat("cannot write ", path_));
}

namespace {

void AddPiece(engine::SpmVocab& v, std::string piece, float score,
              engine::TokenType type) {
  v.pieces.push_back(std::move(piece));
  v.scores.push_back(score);
  v.types.push_back(type);
}

}  // namespace

engine::SpmVocab FuzzSpmVocab(bool byte_fallback) {
  using engine::TokenType;
  engine::SpmVocab v;
  AddPiece(v, "<unk>", 0, TokenType::kUnknown);
  AddPiece(v, "<s>", 0, TokenType::kControl);
  AddPiece(v, "</s>", 0, TokenType::kControl);
  if (byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      AddPiece(v, absl::StrFormat("<0x%02X>", b), 0, TokenType::kByte);
    }
  }
  // "▁" is U+2581, the SentencePiece space.
  const char* pieces[] = {"▁",     "e",
                          "h",     "t",
                          "l",     "o",
                          "a",     "\xe2\x96\x81t",
                          "he",    "\xe2\x96\x81the",
                          "ll",    "hell",
                          "hello", "\xe2\x96\x81hello",
                          "é",     "日"};
  float score = -1;
  for (const char* p : pieces) AddPiece(v, p, score--, TokenType::kNormal);
  AddPiece(v, "<|im_start|>", 0, TokenType::kControl);
  AddPiece(v, "<|im_end|>", 0, TokenType::kControl);
  v.eot_id = static_cast<int32_t>(v.pieces.size()) - 1;
  AddPiece(v, "<tool>", 0, TokenType::kUserDefined);
  return v;
}

const engine::SpmTokenizer& FuzzSpmTokenizer(bool byte_fallback) {
  auto make = [](bool bytes) {
    auto created = engine::SpmTokenizer::Create(FuzzSpmVocab(bytes), "fuzz");
    Check(created.ok(), created.status().ToString());
    return created->release();
  };
  static const engine::SpmTokenizer* const tokenizers[2] = {make(false),
                                                            make(true)};
  return *tokenizers[byte_fallback ? 1 : 0];
}

engine::BpeVocab FuzzBpeVocab(const std::string& pre) {
  using engine::TokenType;
  engine::BpeVocab v;
  for (int b = 0; b < 256; ++b) {
    v.pieces.emplace_back(engine::ByteToUnicode(static_cast<uint8_t>(b)));
    v.types.push_back(TokenType::kNormal);
  }
  for (const char* piece : {"he", "ll", "hell", "hello", "Ġt", "Ġthe"}) {
    v.pieces.emplace_back(piece);
    v.types.push_back(TokenType::kNormal);
  }
  v.merges = {"h e", "l l", "he ll", "hell o", "Ġ t", "Ġt he"};
  const int32_t first_special = static_cast<int32_t>(v.pieces.size());
  for (const char* piece : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    v.pieces.emplace_back(piece);
    v.types.push_back(TokenType::kControl);
  }
  v.pieces.emplace_back("<tool>");
  v.types.push_back(TokenType::kUserDefined);
  v.pre = pre;
  v.bos_id = first_special;
  v.eos_id = first_special;
  v.eot_id = first_special + 2;
  return v;
}

engine::chat::RenderLimits FuzzRenderLimits() {
  engine::chat::RenderLimits limits;
  limits.max_steps = 20'000;
  limits.max_output_bytes = 64 << 10;
  limits.max_list_items = 10'000;
  return limits;
}

const engine::chat::ChatTemplate& FuzzChatTemplate() {
  static const engine::chat::ChatTemplate* const tmpl = [] {
    engine::chat::ChatTemplate::Options options;
    options.source = std::string(kChatMlTemplate);
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    options.now = [] { return absl::FromUnixSeconds(1'700'000'000); };
    options.limits = FuzzRenderLimits();
    auto created = engine::chat::ChatTemplate::Create(std::move(options));
    Check(created.ok(), created.status().ToString());
    return created->release();
  }();
  return *tmpl;
}

}  // namespace kvasir::fuzz
