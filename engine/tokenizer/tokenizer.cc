#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

std::string Tokenizer::DecodeBytes(absl::Span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    absl::string_view b = TokenBytes(id);
    out.append(b.data(), b.size());
  }
  return out;
}

}  // namespace kvasir::engine
