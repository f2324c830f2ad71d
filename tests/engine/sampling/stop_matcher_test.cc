#include "engine/sampling/stop_matcher.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

StopMatcher Make(std::vector<std::string> stops) {
  auto m = StopMatcher::Create(std::move(stops));
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

TEST(StopMatcherTest, FindsTheEarliestStopSequence) {
  StopMatcher m = Make({"world", "lo"});
  StopMatcher::Result r = m.Check("Hello world");
  ASSERT_TRUE(r.matched);
  EXPECT_EQ(r.position, 3u);  // "lo" in "Hello" comes first
  EXPECT_EQ(r.length, 2u);
  EXPECT_EQ(r.index, 1);
  StopMatcher same_place = Make({"ab", "abc"});
  r = same_place.Check("xxabc");
  EXPECT_EQ(r.index, 0);  // ties: the first listed
  EXPECT_EQ(r.position, 2u);
}

TEST(StopMatcherTest, HoldsBackAPossibleBeginning) {
  StopMatcher m = Make({"world", "###"});
  EXPECT_FALSE(m.Check("Hello").matched);
  EXPECT_EQ(m.Check("Hello").hold_back, 0u);
  EXPECT_EQ(m.Check("Hello w").hold_back, 1u);
  EXPECT_EQ(m.Check("Hello wor").hold_back, 3u);
  EXPECT_EQ(m.Check("Hello wo#").hold_back, 1u);
  EXPECT_EQ(m.Check("a##").hold_back, 2u);
  EXPECT_EQ(m.Check("w").hold_back, 1u);
  EXPECT_EQ(m.Check("").hold_back, 0u);
  EXPECT_EQ(m.max_length(), 5u);
}

TEST(StopMatcherTest, OnlyNewTextIsSearched) {
  StopMatcher m = Make({"stop"});
  // A match straddling the boundary between checked and new text.
  StopMatcher::Result r = m.Check("xx stop", /*checked=*/5);
  ASSERT_TRUE(r.matched);
  EXPECT_EQ(r.position, 3u);
  // Matches ending inside already-checked text are not reported again.
  EXPECT_FALSE(m.Check("stop and more", /*checked=*/4).matched);
}

TEST(StopMatcherTest, StreamingNeverEmitsTheStopText) {
  StopMatcher m = Make({"</end>", "\n\n"});
  const std::string pieces[] = {"Hi", " </", "en",     "dless",
                                " <", "/en", "d> tail"};
  std::string text, emitted;
  size_t checked = 0;
  bool stopped = false;
  for (const std::string& piece : pieces) {
    text += piece;
    const StopMatcher::Result r = m.Check(text, checked);
    if (r.matched) {
      emitted = text.substr(0, r.position);
      stopped = true;
      break;
    }
    emitted = text.substr(0, text.size() - r.hold_back);
    checked = text.size();
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(emitted, "Hi </endless ");
}

TEST(StopMatcherTest, RejectsEmptyStopSequences) {
  EXPECT_THAT(StopMatcher::Create({"ok", ""}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stop[1] is empty")));
  StopMatcher none = Make({});
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.Check("anything").matched);
  EXPECT_EQ(none.Check("anything").hold_back, 0u);
}

}  // namespace
}  // namespace kvasir::engine
