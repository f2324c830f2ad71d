#include "tools/sse_parser.h"

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace kvasir::tools {

bool SseParser::Feed(absl::string_view bytes, const OnData& on_data) {
  buffer_.append(bytes.data(), bytes.size());
  size_t start = 0;
  bool go_on = true;
  while (go_on) {
    const size_t eol = buffer_.find('\n', start);
    if (eol == std::string::npos) break;
    absl::string_view line(buffer_.data() + start, eol - start);
    start = eol + 1;
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    if (line.empty()) {  // the end of an event
      if (has_data_) go_on = on_data(data_);
      data_.clear();
      has_data_ = false;
      continue;
    }
    if (absl::ConsumePrefix(&line, "data:")) {
      absl::ConsumePrefix(&line, " ");
      if (has_data_) data_.push_back('\n');
      data_.append(line.data(), line.size());
      has_data_ = true;
    }
  }
  if (!go_on) {
    buffer_.clear();
    return false;
  }
  buffer_.erase(0, start);
  return true;
}

}  // namespace kvasir::tools
