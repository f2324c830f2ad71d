// The SentencePiece-style tokenizer: the first byte picks the vocabulary
// (with or without byte fallback), the rest is the text to encode and,
// read as token ids, to decode. With byte fallback every valid UTF-8 text
// must come back from DecodeBytes as " " + text (the dummy prefix; "▁" in
// the text itself reads back as a space, so such texts are not compared).

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/tokenizer_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  if (size == 0) return 0;
  const bool byte_fallback = (data[0] & 1) != 0;
  const absl::string_view text(reinterpret_cast<const char*>(data + 1),
                               size - 1);
  const engine::SpmTokenizer& tok = fuzz::FuzzSpmTokenizer(byte_fallback);
  std::string expected;
  const bool comparable = byte_fallback && !text.empty() &&
                          engine::utf8::IsValid(text) &&
                          !absl::StrContains(text, "\xe2\x96\x81");
  if (comparable) expected = " " + std::string(text);
  fuzz::EncodeAndDecode(tok, text, comparable ? &expected : nullptr);
  fuzz::DecodeIds(tok, text);
  return 0;
}
