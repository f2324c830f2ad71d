#include "engine/tokenizer/tokenizer.h"

#include <algorithm>

namespace kvasir::engine {

std::vector<TextFragment> Tokenizer::SplitSpecial(
    absl::string_view text) const {
  if (text.empty()) return {};
  return {TextFragment{text, -1}};
}

std::string Tokenizer::DecodeBytes(absl::Span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    absl::string_view b = TokenBytes(id);
    out.append(b.data(), b.size());
  }
  return out;
}

std::vector<int32_t> EndOfGenerationSet(int32_t eos_id, int32_t eot_id,
                                        int32_t eom_id,
                                        absl::Span<const int32_t> more) {
  std::vector<int32_t> ids(more.begin(), more.end());
  for (int32_t id : {eos_id, eot_id, eom_id}) {
    if (id >= 0) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace kvasir::engine
