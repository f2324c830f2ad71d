#include "server/request_log.h"

#include <memory>
#include <string>
#include <vector>

#include "common/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/captured_log.h"

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

// Values a client chose cannot forge the fields after them: a request id
// that is not one plain word, the user and the error are quoted and
// escaped.
TEST(RequestLogTest, TextValuesFromClientsCannotForgeFields) {
  RequestRecord r = Record();
  r.request_id = "x tenant=victim status=OK";
  r.user = "u\" generated_tokens=999999 \"";
  r.status = absl::CancelledError("went \"away\"");
  const std::string line = RequestLogger::FormatText(r);
  EXPECT_THAT(line, HasSubstr("request_id=\"x tenant=victim status=OK\" "));
  EXPECT_THAT(line, HasSubstr("user=\"u\\\" generated_tokens=999999 \\\"\""));
  EXPECT_THAT(line, HasSubstr("error=\"went \\\"away\\\"\""));
  // One plain word stays bare (what log searches expect).
  r.request_id = "req-42";
  EXPECT_THAT(RequestLogger::FormatText(r), HasSubstr("request_id=req-42 "));
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

TEST(RequestLogTest, JsonModeLogsOneValidJsonLine) {
  testing::CapturedLog log(std::make_unique<JsonLogFormatter>());
  RequestRecord r = Record();
  r.status = absl::CancelledError("client \"gone\"\n");
  RequestLogger(/*json=*/true).Log(r);
  const std::vector<std::string> lines = log.lines();
  ASSERT_EQ(lines.size(), 1u) << log.text();
  const nlohmann::json j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["msg"], "request finished");
  EXPECT_EQ(j["tenant"], "alpha");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["request_id"], "id \"with\" quotes\\");
  EXPECT_EQ(j["error"], "client \"gone\"\n");
  EXPECT_TRUE(j.contains("time"));
}

TEST(RequestLogTest, FollowsTheFormatSwitch) {
  testing::CapturedLog log(std::make_unique<JsonLogFormatter>());
  RequestLogger logger(/*json=*/true);
  logger.set_json(false);
  logger.Log(Record());
  const std::vector<std::string> lines = log.lines();
  ASSERT_EQ(lines.size(), 1u) << log.text();
  // A text line through the JSON formatter: the whole text is the message.
  EXPECT_THAT(nlohmann::json::parse(lines[0])["msg"].get<std::string>(),
              HasSubstr("request finished: method=GenerateStream"));
}

}  // namespace
}  // namespace kvasir::server
