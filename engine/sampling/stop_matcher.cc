#include "engine/sampling/stop_matcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kvasir::engine {

StopMatcher::StopMatcher(std::vector<std::string> stops)
    : stops_(std::move(stops)) {
  for (const std::string& s : stops_) {
    max_length_ = std::max(max_length_, s.size());
  }
}

absl::StatusOr<StopMatcher> StopMatcher::Create(
    std::vector<std::string> stops) {
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i,
                       "] is empty (stop sequences need at least "
                       "one character)"));
    }
  }
  return StopMatcher(std::move(stops));
}

StopMatcher::Result StopMatcher::Check(absl::string_view text,
                                       size_t checked) const {
  Result r;
  checked = std::min(checked, text.size());
  for (size_t i = 0; i < stops_.size(); ++i) {
    const std::string& s = stops_[i];
    // A match ending after `checked` starts at or after checked - |s| + 1.
    const size_t from = checked >= s.size() ? checked - s.size() + 1 : 0;
    const size_t pos = text.find(s, from);
    if (pos == absl::string_view::npos) continue;
    if (!r.matched || pos < r.position) {
      r.matched = true;
      r.position = pos;
      r.length = s.size();
      r.index = static_cast<int>(i);
    }
  }
  if (r.matched) return r;
  for (const std::string& s : stops_) {
    const size_t longest = std::min(s.size() - 1, text.size());
    for (size_t k = longest; k > r.hold_back; --k) {
      if (absl::EndsWith(text, absl::string_view(s).substr(0, k))) {
        r.hold_back = k;
        break;
      }
    }
  }
  return r;
}

}  // namespace kvasir::engine
