#ifndef KVASIR_TESTS_TESTING_GOLDEN_H_
#define KVASIR_TESTS_TESTING_GOLDEN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvasir::testing {

// One llama.cpp greedy reference from ../shared/golden/*.jsonl (see its
// README.md): the prompt, its token ids (BOS included), the 64 greedy
// continuation tokens and their text, and the top-10 (token, logit) pairs
// after the last prompt token.
struct GoldenCase {
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> continuation;
  std::string continuation_text;
  std::vector<std::pair<int32_t, float>> top10;
  // Synth models (../shared/golden/synth): whether BOS is added, and at
  // each greedy step the 5 best (token, logit) pairs (empty elsewhere).
  bool add_bos = true;
  std::vector<std::vector<std::pair<int32_t, float>>> step_top5;
};

// Greedy steps of `c` before its first near-tie: the first k whose
// reference top-2 margin (step_top5) is below `tolerance`. Up to there an
// engine within `tolerance` of the reference must pick the same tokens;
// after it either continuation is right (../shared/golden/synth/README.md).
size_t StepsBeforeNearTie(const GoldenCase& c, float tolerance);

// Reads `file` (a path under ../shared/golden) in file order. A missing or
// malformed file is a test failure (ADD_FAILURE naming it), and returns
// what was read before the problem.
std::vector<GoldenCase> ReadGolden(const std::string& file);

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_GOLDEN_H_
