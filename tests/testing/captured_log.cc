#include "tests/testing/captured_log.h"

#include <utility>

#include "spdlog/sinks/ostream_sink.h"

namespace kvasir::testing {

CapturedLog::CapturedLog(std::unique_ptr<spdlog::formatter> formatter)
    : previous_(spdlog::default_logger()) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
  sink->set_formatter(std::move(formatter));
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
}

CapturedLog::~CapturedLog() { spdlog::set_default_logger(previous_); }

std::vector<std::string> CapturedLog::lines() const {
  std::istringstream in(out_.str());
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace kvasir::testing
