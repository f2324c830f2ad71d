#include "tests/fuzz/tokenizer_fuzz_util.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_util.h"

namespace kvasir::fuzz {
namespace {

void Decode(const engine::Tokenizer& tok, const std::vector<int32_t>& ids) {
  const std::string all = tok.DecodeBytes(ids);
  engine::IncrementalDecoder decoder(&tok);
  std::string streamed;
  for (int32_t id : ids) decoder.Add(id, &streamed);
  decoder.Flush(&streamed);
  Check(decoder.pending_bytes() == 0, "IncrementalDecoder: bytes after Flush");
  Check(engine::utf8::IsValid(streamed),
        "IncrementalDecoder: output is not valid UTF-8");
  if (engine::utf8::IsValid(all)) {
    Check(streamed == all, "IncrementalDecoder: text differs from DecodeBytes");
  }
}

}  // namespace

void EncodeAndDecode(const engine::Tokenizer& tok, absl::string_view text,
                     const std::string* expected_plain) {
  std::string joined;
  for (const engine::TextFragment& f : tok.SplitSpecial(text)) {
    Check(f.token < tok.vocab_size(), "SplitSpecial: token out of range");
    joined.append(f.text.data(), f.text.size());
  }
  Check(joined == text, "SplitSpecial: fragments do not make up the text");

  for (int mode = 0; mode < 4; ++mode) {
    engine::EncodeOptions options;
    options.add_special = (mode & 1) != 0;
    options.parse_special = (mode & 2) != 0;
    auto ids = tok.Encode(text, options);
    if (!ids.ok()) continue;
    for (int32_t id : *ids) {
      Check(id >= 0 && id < tok.vocab_size(),
            absl::StrCat("Encode: id ", id, " out of range"));
    }
    Decode(tok, *ids);
    if (mode == 0 && expected_plain != nullptr) {
      Check(tok.DecodeBytes(*ids) == *expected_plain,
            "DecodeBytes(Encode(text)) does not give the text back");
    }
  }
}

void DecodeIds(const engine::Tokenizer& tok, absl::string_view bytes) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 2 <= bytes.size(); i += 2) {
    int16_t id;
    std::memcpy(&id, bytes.data() + i, 2);
    ids.push_back(id);
    (void)tok.Piece(id);
    (void)tok.IsEndOfGeneration(id);
  }
  Decode(tok, ids);
}

}  // namespace kvasir::fuzz
