#ifndef KVASIR_TOOLS_SSE_PARSER_H_
#define KVASIR_TOOLS_SSE_PARSER_H_

// A Server-Sent Events reader for the HTTP client of `kvasir bench serve`:
// bytes in, as they come off the socket (split anywhere), one callback per
// event with its data. Only what the OpenAI stream uses: `data:` lines
// (several in one event are joined by "\n", as the SSE spec joins them),
// events ended by a blank line, "\n" or "\r\n" line ends; comments
// (":..."), "event:", "id:" and "retry:" lines are skipped. Events without
// a data line are not reported. Not thread-safe.

#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace kvasir::tools {

class SseParser {
 public:
  // Called with each complete event's data; return false to stop.
  using OnData = std::function<bool(const std::string& data)>;

  // Consumes `bytes`; calls `on_data` for every event they complete. False
  // when `on_data` asked to stop (the rest of `bytes` is dropped).
  bool Feed(absl::string_view bytes, const OnData& on_data);

  // Bytes of an unfinished line or event are still buffered.
  bool pending() const { return !buffer_.empty() || has_data_; }

 private:
  std::string buffer_;  // the start of a line not ended yet
  std::string data_;    // the data of the event being read
  bool has_data_ = false;
};

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_SSE_PARSER_H_
