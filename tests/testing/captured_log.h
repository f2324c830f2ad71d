#ifndef KVASIR_TESTS_TESTING_CAPTURED_LOG_H_
#define KVASIR_TESTS_TESTING_CAPTURED_LOG_H_

// Routes spdlog's default logger into a string for the lifetime of the
// object (one test), formatted by `formatter`; restores the previous logger
// afterwards.

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace kvasir::testing {

class CapturedLog {
 public:
  explicit CapturedLog(std::unique_ptr<spdlog::formatter> formatter);
  ~CapturedLog();

  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  // Everything logged so far.
  std::string text() const { return out_.str(); }
  // The same, split at newlines (without them).
  std::vector<std::string> lines() const;

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_CAPTURED_LOG_H_
