#include "engine/tokenizer/incremental_decoder.h"

#include "engine/tokenizer/utf8.h"

namespace kvasir::engine {

size_t IncrementalDecoder::Add(int32_t id, std::string* out) {
  const size_t before = out->size();
  const absl::string_view bytes = tokenizer_->TokenBytes(id);
  pending_.append(bytes.data(), bytes.size());
  const size_t consumed = utf8::AppendValid(pending_, /*final=*/false, out);
  pending_.erase(0, consumed);
  return out->size() - before;
}

std::string IncrementalDecoder::Add(int32_t id) {
  std::string out;
  Add(id, &out);
  return out;
}

size_t IncrementalDecoder::Flush(std::string* out) {
  const size_t before = out->size();
  utf8::AppendValid(pending_, /*final=*/true, out);
  pending_.clear();
  return out->size() - before;
}

std::string IncrementalDecoder::Flush() {
  std::string out;
  Flush(&out);
  return out;
}

}  // namespace kvasir::engine
