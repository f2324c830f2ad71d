// Errors (syntax errors with their line, render errors with their reason),
// the sandbox, the limits that bound a hostile template, the origin of each
// rendered byte, and concurrent renders.

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/chat/chat_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::chat {
namespace {

using ::kvasir::engine::chat::testing::RenderText;
using ::kvasir::engine::chat::testing::RenderWith;
using ::kvasir::engine::chat::testing::TableMessages;
using ::kvasir::engine::chat::testing::TableOptions;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::string TextOrError(const absl::StatusOr<std::string>& r) {
  return r.ok() ? *r : r.status().ToString();
}

TEST(ChatErrorsTest, SyntaxErrorsGiveTheLine) {
  EXPECT_THAT(ChatTemplate::Create(
                  TableOptions("line 1\nline 2\n{% if %}x{% endif %}")),
              StatusIs(kInvalid, StartsWith("chat template: line 3: ")));
  EXPECT_THAT(ChatTemplate::Create(TableOptions("{% if true %}\nx\n")),
              StatusIs(kInvalid, HasSubstr("expected 'endif'")));
  EXPECT_THAT(
      ChatTemplate::Create(TableOptions("a\n\n{% include 'x.j2' %}")),
      StatusIs(kInvalid,
               "chat template: line 3: unknown or unsupported tag 'include'"));
  EXPECT_THAT(
      ChatTemplate::Create(TableOptions("{{ 'abc }}")),
      StatusIs(kInvalid, "chat template: line 1: unclosed string literal"));
  EXPECT_THAT(ChatTemplate::Create(TableOptions("\n{# never closed")),
              StatusIs(kInvalid, "chat template: line 2: unclosed comment"));
  EXPECT_THAT(ChatTemplate::Create(TableOptions("{{ 1 }")),
              StatusIs(kInvalid, HasSubstr("missing '}}'")));
  EXPECT_THAT(
      ChatTemplate::Create(TableOptions("{{ a $ b }}")),
      StatusIs(kInvalid, "chat template: line 1: unexpected character '$'"));
  EXPECT_THAT(ChatTemplate::Create(TableOptions("{% for x in y %}{% endif %}")),
              StatusIs(kInvalid, HasSubstr("line 1")));
  EXPECT_THAT(ChatTemplate::Create(TableOptions("")),
              StatusIs(kInvalid, "chat template: the source is empty"));
}

TEST(ChatErrorsTest, UnknownFiltersAndTestsFailAtCreate) {
  EXPECT_THAT(
      ChatTemplate::Create(TableOptions("ok\n{{ messages | nofilter }}")),
      StatusIs(kInvalid, "chat template: line 2: unknown filter 'nofilter'"));
  EXPECT_THAT(
      ChatTemplate::Create(TableOptions("{% if x is prime %}{% endif %}")),
      StatusIs(kInvalid, "chat template: line 1: unknown test 'prime'"));
}

TEST(ChatErrorsTest, RenderErrorsGiveTheReason) {
  // raise_exception's message as the template wrote it.
  EXPECT_THAT(
      RenderText("{{ raise_exception('Conversation roles must alternate') }}"),
      StatusIs(kInvalid, "chat template: Conversation roles must alternate"));
  EXPECT_THAT(RenderText("\n{{ 'a' + 1 }}"),
              StatusIs(kInvalid,
                       "chat template: line 2: unsupported operand type(s) "
                       "for +: 'str' and 'int'"));
  EXPECT_THAT(
      RenderText("{{ tools.name }}"),
      StatusIs(kInvalid, "chat template: line 1: 'tools' is undefined"));
  EXPECT_THAT(RenderText("{{ no_such_function() }}"),
              StatusIs(kInvalid, HasSubstr("'no_such_function' is undefined")));
  EXPECT_THAT(RenderText("{% set d = {} %}{% set d.x = 1 %}"),
              StatusIs(kInvalid, HasSubstr("non-namespace object 'd'")));
  EXPECT_THAT(RenderText("{{ 1 // 0 }}"),
              StatusIs(kInvalid, HasSubstr("by zero")));
  EXPECT_THAT(RenderText("{{ 'x' in 3 }}"),
              StatusIs(kInvalid, HasSubstr("not iterable")));
  EXPECT_THAT(RenderText("{% for a, b in [1, 2] %}{% endfor %}"),
              StatusIs(kInvalid, HasSubstr("cannot unpack")));
}

// Only the values passed in: no Python attributes, no globals beyond the
// documented ones, no mutation of the messages.
TEST(ChatErrorsTest, Sandbox) {
  EXPECT_EQ(
      TextOrError(RenderText("[{{ messages.__class__ }}{{ ''.__class__ }}{{ "
                             "range.__globals__ }}]")),
      "[]");
  EXPECT_EQ(
      TextOrError(RenderText(
          "[{{ cycler }}{{ lipsum }}{{ self }}{{ config }}{{ request }}]")),
      "[]");
  EXPECT_THAT(RenderText("{{ ''.__class__.__mro__ }}"),
              StatusIs(kInvalid, HasSubstr("is undefined")));
  EXPECT_EQ(
      TextOrError(RenderText("{{ messages.append }}{{ messages[0].update }}")),
      "");
  EXPECT_THAT(RenderText("{{ messages.append(1) }}"),
              StatusIs(kInvalid, HasSubstr("is undefined")));
  EXPECT_THAT(RenderText("{{ 'a'.format(1) }}"),
              StatusIs(kInvalid, HasSubstr("is undefined")));
}

TEST(ChatLimitsTest, StepsBoundLoops) {
  // A billion iterations stop at the step budget (1,000,000 by default).
  EXPECT_THAT(
      RenderText("{% for i in range(100000) %}{% for j in range(100000) %}"
                 "{% endfor %}{% endfor %}"),
      StatusIs(kInvalid, HasSubstr("more than 1000000 steps")));
  ChatTemplate::Options options =
      TableOptions("{% for i in range(100) %}{{ i }}{% endfor %}");
  options.limits.max_steps = 50;
  EXPECT_THAT(RenderWith(options, TableMessages()),
              StatusIs(kInvalid, HasSubstr("more than 50 steps")));
  options.limits.max_steps = 500;
  EXPECT_OK(RenderWith(options, TableMessages()));
}

TEST(ChatLimitsTest, OutputAndValuesAreBounded) {
  ChatTemplate::Options options =
      TableOptions("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}");
  options.limits.max_output_bytes = 64 << 10;
  EXPECT_THAT(
      RenderWith(options, TableMessages()),
      StatusIs(kInvalid, HasSubstr("output is over the limit of 65536 bytes")));
  // Values are refused before they are built.
  EXPECT_THAT(RenderText("{{ ('x' * 100000000)|length }}"),
              StatusIs(kInvalid, HasSubstr("over the limit")));
  EXPECT_THAT(
      RenderText("{{ range(1000000000)|length }}"),
      StatusIs(kInvalid, HasSubstr("items is over the limit of 1000000")));
  EXPECT_THAT(RenderText("{{ ([0] * 1000000000)|length }}"),
              StatusIs(kInvalid, HasSubstr("over the limit")));
  EXPECT_THAT(
      RenderText("{% set s = 'x' * 10000 %}{{ s.replace('x', s)|length }}"),
      StatusIs(kInvalid, HasSubstr("over the limit")));
  EXPECT_THAT(
      RenderText("{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
      StatusIs(kInvalid, HasSubstr("over the limit")));
}

TEST(ChatLimitsTest, RecursionAndNestingAreBounded) {
  EXPECT_THAT(
      RenderText("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
      StatusIs(kInvalid, HasSubstr("macro calls nested deeper than 64")));
  const std::string deep_expr =
      "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_THAT(ChatTemplate::Create(TableOptions(deep_expr)),
              StatusIs(kInvalid, HasSubstr("nested deeper than 256")));
  std::string deep_ifs;
  for (int i = 0; i < 5000; ++i) deep_ifs += "{% if true %}";
  EXPECT_THAT(ChatTemplate::Create(TableOptions(deep_ifs)),
              StatusIs(kInvalid, HasSubstr("nested deeper than 256")));
  EXPECT_THAT(ChatTemplate::Create(
                  TableOptions("{{ " + std::string(5000, '-') + "1 }}")),
              StatusIs(kInvalid, HasSubstr("nested deeper than 256")));
  // Evaluation depth is bounded as a whole (expressions inside recursive
  // macros add up).
  std::string sum = "{% macro f(n) %}{{ 1";
  for (int i = 0; i < 30; ++i) sum += " + (1";
  sum += std::string(30, ')') + " }}{{ f(n) }}{% endmacro %}{{ f(0) }}";
  ChatTemplate::Options deep_eval = TableOptions(sum);
  deep_eval.limits.max_eval_depth = 100;
  EXPECT_THAT(
      RenderWith(deep_eval, TableMessages()),
      StatusIs(kInvalid, HasSubstr("evaluation nested deeper than 100")));
  // The worst the defaults allow (deep expressions in deep recursion) fails
  // cleanly, within the stack (under ASan too).
  std::string worst = "{% macro f(n) %}{{ f(n) ~ ";
  for (int i = 0; i < 40; ++i) worst += "(n ~ ";
  worst += "n" + std::string(40, ')') + " }}{% endmacro %}{{ f('x') }}";
  ASSERT_OK(ChatTemplate::Create(TableOptions(worst)).status());
  EXPECT_THAT(RenderText(worst),
              StatusIs(kInvalid, HasSubstr("nested deeper than")));
  // Left-leaning chains nest as deeply as parentheses do.
  std::string attrs = "{{ messages";
  std::string sums = "{{ 1";
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 5000; ++i) {
    attrs += ".a";
    sums += " + 1";
    filters += "|trim";
  }
  for (std::string* s : {&attrs, &sums, &filters}) {
    *s += " }}";
    EXPECT_THAT(ChatTemplate::Create(TableOptions(*s)),
                StatusIs(kInvalid, HasSubstr("nested deeper than 256")));
  }
  // Values: nesting is bounded, and a namespace cannot hold one (no cycles).
  EXPECT_THAT(
      RenderText("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
                 "{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}"),
      StatusIs(kInvalid, HasSubstr("nested deeper than 32")));
  EXPECT_THAT(RenderText("{% set ns = namespace() %}{% set ns.self = [ns] %}"),
              StatusIs(kInvalid, HasSubstr("cannot hold a namespace")));
  EXPECT_THAT(
      RenderText("{% set a = namespace() %}{% set b = namespace(x=a) %}"),
      StatusIs(kInvalid, HasSubstr("cannot hold a namespace")));
  ChatTemplate::Options big = TableOptions(std::string(2 << 20, 'x'));
  EXPECT_THAT(ChatTemplate::Create(big),
              StatusIs(kInvalid, HasSubstr("at most 1048576")));
  ChatTemplate::Options bad = TableOptions("x");
  bad.limits.max_steps = 0;
  EXPECT_THAT(ChatTemplate::Create(bad),
              StatusIs(kInvalid, HasSubstr("limits must be positive")));
}

// Which bytes came from a message survives concatenation, filters, methods,
// slicing and tojson; the template's own text never counts as content.
TEST(ChatSpansTest, ContentKeepsItsOrigin) {
  const std::vector<Message> messages = {{"user", "  Hi <|im_start|> there  "}};
  ASSERT_OK_AND_ASSIGN(
      RenderedPrompt p,
      RenderWith(
          TableOptions("{% for m in messages %}<|im_start|>{{ m.role + '\\n' + "
                       "m.content|trim }}<|im_end|>{% endfor %}"),
          messages));
  ASSERT_EQ(p.spans.size(), 5u);
  EXPECT_EQ(p.spans[0].text, "<|im_start|>");
  EXPECT_FALSE(p.spans[0].from_content);
  EXPECT_EQ(p.spans[1].text, "user");
  EXPECT_TRUE(p.spans[1].from_content);
  EXPECT_EQ(p.spans[2].text, "\n");
  EXPECT_FALSE(p.spans[2].from_content);
  EXPECT_EQ(p.spans[3].text, "Hi <|im_start|> there");
  EXPECT_TRUE(p.spans[3].from_content);
  EXPECT_EQ(p.spans[4].text, "<|im_end|>");

  ASSERT_OK_AND_ASSIGN(
      RenderedPrompt q,
      RenderWith(TableOptions(
                     "{% set c = messages[0].content %}[{{ c.split(' ')[3] }}|"
                     "{{ c[2:4]|upper }}|{{ c.replace('Hi', 'Yo') }}]"),
                 messages));
  std::string content_bytes;
  for (const auto& s : q.spans) {
    if (s.from_content) content_bytes += s.text;
  }
  // "Yo" came from the template: it is not content.
  EXPECT_EQ(q.Text(), "[<|im_start|>|HI|  Yo <|im_start|> there  ]");
  EXPECT_EQ(content_bytes, "<|im_start|>HI   <|im_start|> there  ");

  ASSERT_OK_AND_ASSIGN(
      RenderedPrompt j,
      RenderWith(TableOptions("{{ messages[0]|tojson }}"), messages));
  ASSERT_EQ(j.spans.size(), 1u);
  EXPECT_TRUE(j.spans[0].from_content);
}

TEST(ChatTemplateTest, ConcurrentRendersAgree) {
  ASSERT_OK_AND_ASSIGN(
      auto tmpl, ChatTemplate::Create(TableOptions(
                     "{% set ns = namespace(n=0) %}{% for m in messages %}{% "
                     "set ns.n = ns.n + 1 %}"
                     "{{ m.role }}:{{ m.content }};{% endfor %}{{ ns.n }}")));
  const std::vector<Message> messages = TableMessages();
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<RenderedPrompt> r = tmpl->Render(messages, true);
        if (!r.ok() || (!results[t].empty() && results[t] != r->Text())) {
          results[t] = "mismatch";
          return;
        }
        results[t] = r->Text();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& r : results) {
    EXPECT_EQ(r, "user:Hi there;assistant:Yo;user:Bye  ;3");
  }
}

}  // namespace
}  // namespace kvasir::engine::chat
