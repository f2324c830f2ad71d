#include "server/request_log.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/logging_setup.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace kvasir::server {
namespace {

using ::testing::HasSubstr;

RequestRecord Record() {
  RequestRecord r;
  r.method = "GenerateStream";
  r.tenant = "alpha";
  r.request_id = "id \"with\" quotes\\";
  r.info.reason = engine::FinishReason::kLength;
  r.info.prompt_tokens = 5;
  r.info.generated_tokens = 32;
  r.info.time_to_first_token = absl::Milliseconds(12);
  r.info.total_time = absl::Milliseconds(250);
  r.status = absl::OkStatus();
  return r;
}

TEST(RequestLogTest, TextLineHasTheFields) {
  const std::string line = RequestLogger::FormatText(Record());
  EXPECT_THAT(line, HasSubstr("request finished"));
  EXPECT_THAT(line, HasSubstr("tenant=alpha"));
  EXPECT_THAT(line, HasSubstr("prompt_tokens=5"));
  EXPECT_THAT(line, HasSubstr("generated_tokens=32"));
  EXPECT_THAT(line, HasSubstr("finish_reason=length"));
  EXPECT_THAT(line, HasSubstr("ttft_ms=12.000"));
  EXPECT_THAT(line, HasSubstr("duration_ms=250.000"));
  EXPECT_THAT(line, HasSubstr("status=OK"));
}

TEST(RequestLogTest, JsonMembersAreEscapedProperly) {
  RequestRecord r = Record();
  r.status = absl::CancelledError("client \"gone\"\n");
  const std::string members = RequestLogger::FormatJsonMembers(r);
  const nlohmann::json j = nlohmann::json::parse("{" + members + "}");
  EXPECT_EQ(j["msg"], "request finished");
  EXPECT_EQ(j["request_id"], "id \"with\" quotes\\");
  EXPECT_EQ(j["tenant"], "alpha");
  EXPECT_EQ(j["generated_tokens"], 32);
  EXPECT_EQ(j["ttft_ms"], 12.0);
  EXPECT_EQ(j["status"], "CANCELLED");
  EXPECT_EQ(j["error"], "client \"gone\"\n");
}

// Routes spdlog's default logger into a string for one test.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_formatter(std::make_unique<JsonFormatter>());
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(JsonLoggingTest, EveryLineIsValidJson) {
  CapturedLog log;
  spdlog::info("a \"quoted\" message\twith\ncontrol chars and bad utf8 \xff");
  RequestLogger(/*json=*/true).Log(Record());
  std::istringstream lines(log.text());
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line))
    parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 2u) << log.text();
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_THAT(parsed[0]["msg"].get<std::string>(),
              HasSubstr("a \"quoted\" message\twith\ncontrol chars"));
  EXPECT_TRUE(parsed[0].contains("time"));
  EXPECT_EQ(parsed[1]["msg"], "request finished");
  EXPECT_EQ(parsed[1]["tenant"], "alpha");
  EXPECT_EQ(parsed[1]["level"], "info");
}

TEST(JsonLoggingTest, ReconfigureSwitchesFormatAndLevelInPlace) {
  CapturedLog log;
  LoggingOptions json;
  json.format = "json";
  ASSERT_TRUE(ReconfigureServerLogging(json).ok());
  spdlog::info("first");
  LoggingOptions text;
  text.level = "warn";
  ASSERT_TRUE(ReconfigureServerLogging(text).ok());
  spdlog::info("hidden");
  spdlog::warn("second");
  std::istringstream lines(log.text());
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(nlohmann::json::parse(line)["msg"], "first");
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_THAT(line, HasSubstr("warning second"));
  EXPECT_FALSE(std::getline(lines, line));
  LoggingOptions bad;
  bad.level = "chatty";
  EXPECT_FALSE(ReconfigureServerLogging(bad).ok());
}

TEST(JsonLoggingTest, InitRejectsBadOptions) {
  LoggingOptions bad;
  bad.format = "yaml";
  EXPECT_FALSE(InitServerLogging(bad).ok());
}

}  // namespace
}  // namespace kvasir::server
