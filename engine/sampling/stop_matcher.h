#ifndef KVASIR_ENGINE_SAMPLING_STOP_MATCHER_H_
#define KVASIR_ENGINE_SAMPLING_STOP_MATCHER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::engine {

// Finds stop sequences in generated text as it grows, and tells how much of
// the end of the text must be held back because it could be the start of a
// stop sequence that the next tokens complete.
//
// A small value type; immutable after Create(), thread-safe.
class StopMatcher {
 public:
  struct Result {
    bool matched = false;
    // When matched: the earliest stop sequence found (ties: the first
    // listed), as byte offset, length and index into the list.
    size_t position = 0;
    size_t length = 0;
    int index = -1;
    // When not matched: the length of the longest suffix of the text that
    // is a proper prefix of some stop sequence (0 to max_length() - 1).
    // Text before it is safe to emit.
    size_t hold_back = 0;
  };

  // InvalidArgument when a stop sequence is empty ("stop[1] is empty").
  // An empty list never matches.
  static absl::StatusOr<StopMatcher> Create(std::vector<std::string> stops);

  // Checks `text`, all output so far. Bytes before `checked` were checked by
  // an earlier call and held no match, so only matches ending after
  // `checked` are looked for (the search is linear in the new text).
  Result Check(absl::string_view text, size_t checked = 0) const;

  const std::vector<std::string>& stops() const { return stops_; }
  bool empty() const { return stops_.empty(); }
  // Length of the longest stop sequence (0 when empty).
  size_t max_length() const { return max_length_; }

 private:
  explicit StopMatcher(std::vector<std::string> stops);

  std::vector<std::string> stops_;
  size_t max_length_ = 0;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_SAMPLING_STOP_MATCHER_H_
