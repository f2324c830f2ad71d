#include "common/logging.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "tests/testing/captured_log.h"
#include "tests/testing/status_matchers.h"

namespace kvasir {
namespace {

using ::kvasir::testing::CapturedLog;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// A message with everything that breaks hand-made JSON: quotes, a
// backslash, a newline, a tab, a control byte and a byte that is not UTF-8.
constexpr char kNasty[] = "say \"hi\" \\ to\nall\tof \x01 them \xff";
// What it reads back as: the invalid byte becomes U+FFFD.
constexpr char kNastyParsed[] =
    "say \"hi\" \\ to\nall\tof \x01 them \xef\xbf\xbd";

// Restores spdlog's default logger after a test that replaces it.
class RestoreDefaultLogger {
 public:
  RestoreDefaultLogger() : previous_(spdlog::default_logger()) {}
  ~RestoreDefaultLogger() { spdlog::set_default_logger(previous_); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
};

std::vector<nlohmann::json> ParseLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

TEST(LoggingTest, InitLoggingJsonWritesOneValidObjectPerLine) {
  RestoreDefaultLogger restore;
  ::testing::internal::CaptureStderr();
  LoggingOptions options;
  options.format = "json";
  ASSERT_TRUE(InitLogging(options).ok());
  spdlog::info("{}", kNasty);
  spdlog::warn("plain");
  spdlog::default_logger()->flush();
  const std::string err = ::testing::internal::GetCapturedStderr();
  std::vector<nlohmann::json> lines;
  ASSERT_NO_THROW(lines = ParseLines(err)) << err;
  ASSERT_THAT(lines, SizeIs(2)) << err;
  EXPECT_EQ(lines[0]["msg"], kNastyParsed);
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_THAT(lines[0]["time"].get<std::string>(), HasSubstr("T"));
  EXPECT_EQ(lines[1]["msg"], "plain");
  EXPECT_EQ(lines[1]["level"], "warning");
}

TEST(LoggingTest, InitLoggingTextKeepsTheMessageAsIs) {
  RestoreDefaultLogger restore;
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(InitLogging(LoggingOptions{}).ok());
  spdlog::info("say \"hi\"");
  spdlog::default_logger()->flush();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("info say \"hi\"\n"));
}

TEST(LoggingTest, JsonFieldsBecomeMembersOfTheLine) {
  CapturedLog log(std::make_unique<JsonLogFormatter>());
  nlohmann::json fields;
  fields["tenant"] = kNasty;
  fields["tokens"] = 3;
  const std::string object =
      fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  LogJsonFields(spdlog::level::info, object.substr(1, object.size() - 2));
  const std::vector<std::string> lines = log.lines();
  ASSERT_THAT(lines, SizeIs(1)) << log.text();
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["tenant"], kNastyParsed);
  EXPECT_EQ(j["tokens"], 3);
  EXPECT_EQ(j["level"], "info");
  EXPECT_FALSE(j.contains("msg"));
}

TEST(LoggingTest, ReconfigureSwitchesFormatAndLevelInPlace) {
  CapturedLog log(std::make_unique<JsonLogFormatter>());
  LoggingOptions json;
  json.format = "json";
  ASSERT_TRUE(ReconfigureLogging(json).ok());
  spdlog::info("first \"one\"");
  LoggingOptions text;
  text.level = "warn";
  ASSERT_TRUE(ReconfigureLogging(text).ok());
  spdlog::info("hidden");
  spdlog::warn("second");
  const std::vector<std::string> lines = log.lines();
  ASSERT_THAT(lines, SizeIs(2)) << log.text();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "first \"one\"");
  EXPECT_THAT(lines[1], HasSubstr("warning second"));
}

TEST(LoggingTest, BadOptionsNameTheFieldAndChangeNothing) {
  CapturedLog log(std::make_unique<JsonLogFormatter>());
  LoggingOptions bad_level;
  bad_level.level = "chatty";
  EXPECT_THAT(InitLogging(bad_level),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("logging.level: 'chatty' is not one of "
                                 "trace, debug, info")));
  EXPECT_THAT(ReconfigureLogging(bad_level),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("logging.level: 'chatty'")));
  LoggingOptions bad_format;
  bad_format.format = "yaml";
  EXPECT_THAT(ReconfigureLogging(bad_format),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("logging.format: 'yaml' is not one of "
                                 "text, json")));
  // The captured logger is still the default and still writes JSON.
  spdlog::info("still here");
  const std::vector<std::string> lines = log.lines();
  ASSERT_THAT(lines, SizeIs(1)) << log.text();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "still here");
}

}  // namespace
}  // namespace kvasir
