#ifndef KVASIR_TESTS_TESTING_VOCAB_VECTORS_H_
#define KVASIR_TESTS_TESTING_VOCAB_VECTORS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvasir::testing {

// One tokenizer test vector: a text and the ids llama.cpp encodes it to
// (no BOS, special-token text not parsed).
struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// Reads llama.cpp's tokenizer test vectors the way test-tokenizer-0 does:
// texts in `base`.inp separated by "\n__ggml_vocab_test__\n" (the last one
// ends with that separator too, so it yields a trailing empty piece only
// when the file continues), expected ids in `base`.out, one line per text.
// Empty when a file is missing or the counts differ.
std::vector<VocabCase> ReadVocabCases(const std::string& base);

// The whole file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_VOCAB_VECTORS_H_
