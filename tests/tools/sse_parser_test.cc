// The Server-Sent Events reader of `kvasir bench serve`'s HTTP client
// (tools/sse_parser.h) on the OpenAI stream's shapes, fed in every split.
#include "tools/sse_parser.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvasir::tools {
namespace {

using ::testing::ElementsAre;

constexpr char kStream[] =
    "data: {\"choices\":[{\"text\":\"Once\"}]}\n\n"
    ": keep-alive comment\n\n"
    "event: message\r\n"
    "data: {\"choices\":[{\"text\":\" upon\"}]}\r\n\r\n"
    "data:{\"a\":1}\n"
    "data: {\"b\":2}\n\n"
    "data: [DONE]\n\n";

std::vector<std::string> Parse(const std::vector<std::string>& pieces) {
  SseParser p;
  std::vector<std::string> events;
  for (const std::string& piece : pieces) {
    EXPECT_TRUE(p.Feed(piece, [&](const std::string& d) {
      events.push_back(d);
      return true;
    }));
  }
  EXPECT_FALSE(p.pending());
  return events;
}

TEST(SseParserTest, ReadsDataEventsSkippingCommentsAndOtherFields) {
  EXPECT_THAT(Parse({kStream}),
              ElementsAre("{\"choices\":[{\"text\":\"Once\"}]}",
                          "{\"choices\":[{\"text\":\" upon\"}]}",
                          "{\"a\":1}\n{\"b\":2}", "[DONE]"));
}

TEST(SseParserTest, SameEventsWhateverWhereTheBytesAreSplit) {
  const std::string s = kStream;
  const std::vector<std::string> whole = Parse({s});
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(Parse({s.substr(0, cut), s.substr(cut)}), whole) << cut;
  }
  std::vector<std::string> bytes;
  for (char c : s) bytes.push_back(std::string(1, c));
  EXPECT_EQ(Parse(bytes), whole);
}

TEST(SseParserTest, StopsWhenAskedAndKeepsAnUnfinishedEvent) {
  SseParser p;
  int calls = 0;
  EXPECT_FALSE(p.Feed("data: 1\n\ndata: 2\n\n", [&](const std::string&) {
    ++calls;
    return false;
  }));
  EXPECT_EQ(calls, 1);
  SseParser q;
  EXPECT_TRUE(q.Feed("data: partial", [](const std::string&) { return true; }));
  EXPECT_TRUE(q.pending());
}

}  // namespace
}  // namespace kvasir::tools
