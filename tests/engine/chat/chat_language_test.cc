// The Jinja2 subset piece by piece: each template of the tables renders as
// Python's Jinja2 3.1 renders it (sandboxed, trim_blocks and lstrip_blocks,
// Hugging Face's tojson; the expected strings were produced by it) over
// TableMessages().

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/chat/chat_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::chat {
namespace {

using ::kvasir::engine::chat::testing::RenderText;

struct Case {
  std::string source;
  std::string expected;
};

void ExpectRenders(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    absl::StatusOr<std::string> text = RenderText(c.source);
    ASSERT_TRUE(text.ok()) << c.source << "\n" << text.status();
    EXPECT_EQ(*text, c.expected) << c.source;
  }
}

// trim_blocks, lstrip_blocks, "-" and "+" markers, comments, raw blocks,
// CRLF sources, the dropped trailing newline.
TEST(ChatLanguageTest, WhitespaceAsJinja2) {
  ExpectRenders({
      {"  {%- if true %}\n    x\n  {%- endif %}\n", "    x"},
      {"{% for i in range(2) %}\n  {{ i }}\n{% endfor %}\n", "  0\n  1\n"},
      {"{% for i in range(2) -%}\n  {{ i }}\n{%- endfor %}", "01"},
      {"a\n  {# c #}\nb\n  {#- c -#}  \nc", "a\nbc"},
      {"{% if true %}   \n x{% endif %}", "   \n x"},
      {"x {% if true %}y{% endif %} z\n  w {% if true %}\n  v\n{% endif %}",
       "x y z\n  w   v\n"},
      {"\t{% set a = 1 %}\n\t{{ a }}\n", "\t1"},
      {"{{ 'a' }}\n{{ 'b' }}\n", "a\nb"},
      {"{% if true %}\r\nwin\r\n{% endif %}\r\n", "win\n"},
      {"line1\n{% if true %}\n  {{ 'x' }}\n{% endif %}\n", "line1\n  x\n"},
      {"  {% if true %}\n  yes\n  {% endif %}\n  after\n", "  yes\n  after"},
      {"a  {%- if true -%}  b  {%- endif -%}  c\n{# comment #}\nd {#- c2 -#} "
       "e\n   {# c3 #}\nf",
       "abc\nde\nf"},
      {"{% raw %}{{ not parsed }}{% endraw %}|{%- raw -%}  x  {%- endraw -%}|",
       "{{ not parsed }}|x|"},
      {"{{- 'a' -}}\n\n{{- 'b' }}\n{%+ if true %}y{% endif +%}\nz", "ab\ny\nz"},
      {"{%- set x = 'a' -%}\n\n   {{- x -}}   \n\n{{ x }}", "aa"},
      {"{% macro m() %}\n  in macro\n{% endmacro %}\n[{{ m() }}]",
       "[  in macro\n]"},
      {"{%- for message in messages %}\n    {%- if message.role == 'user' %}\n "
       "       {{- 'U:' + message.content }}\n    {%- else %}\n        {{- "
       "'A:' + message.content }}\n    {%- endif %}\n{%- endfor %}\n",
       "U:Hi thereA:YoU:Bye  "},
      {"{{ 'x' }}   {% if false %}no{% endif %}   {{ 'y' }}", "x      y"},
      {"text\n\n", "text\n"},
      {"{{ \"multi\nline\" }}", "multi\nline"},
  });
}

// Literals, operators and their precedence, slicing, `in`, `~`, `is not`,
// conditional expressions, Python's printing of values.
TEST(ChatLanguageTest, ExpressionsAsJinja2) {
  ExpectRenders({
      {"{{ 'a' ~ 1 ~ none ~ true }}|{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 "
       "}}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 1.5 + 1 }}|{{ 10 / 5 }}",
       "a1NoneTrue|7|3|-4|2|3.5|1024|2.5|2.0"},
      {"{{ [1, 2, 3][1:] }}|{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ "
       "[1,2,3][-1] }}|{{ '\xc3"
       "\xa9"
       "t\xc3"
       "\xa9"
       "'[1] }}|{{ '\xc3"
       "\xa9"
       "t\xc3"
       "\xa9"
       "'|length }}|{{ [1,2,3][::2] }}|{{ 'abc'[5:] }}|{{ [1,2,3][-2:] }}",
       "[2, 3]|el|olleh|3|t|3|[1, 3]||[2, 3]"},
      {"{{ 'a' if false }}|{{ 'a' if true else 'b' }}|{{ none is none }}|{{ 1 "
       "is not none }}|{{ x is defined }}|{{ x is undefined }}|{{ 'a' is "
       "string }}|{{ 1 is number }}|{{ {} is mapping }}|{{ [] is iterable "
       "}}|{{ true is true }}|{{ 0 is false }}",
       "|a|True|True|False|True|True|True|True|True|True|False"},
      {"{{ 1 in [1,2] }}{{ 'a' in 'cat' }}{{ 'z' not in 'cat' }}{{ 'k' in "
       "{'k': 1} }}{{ 3 not in [1] }}",
       "TrueTrueTrueTrueTrue"},
      {"{{ 1 == 1.0 }}{{ 'a' < 'b' }}{{ [1,2] == [1,2] }}{{ {'a':1} == {'a':1} "
       "}}{{ 2 >= 2 }}{{ 1 != 2 }}{{ true == 1 }}",
       "TrueTrueTrueTrueTrueTrueTrue"},
      {"{{ [1, 'a', none, true, 1.0, {'k': 'v'}] }}|{{ 1e3 }}|{{ 0.1 + 0.2 "
       "}}|{{ 1e20 }}|{{ 1.5e-7 }}|{{ 123456789.0 }}|{{ \"it's\" }}|{{ "
       "['it\\'s'] }}",
       "[1, 'a', None, True, 1.0, {'k': "
       "'v'}]|1000.0|0.30000000000000004|1e+20|1.5e-07|123456789.0|it's|[\"it'"
       "s\"]"},
      {"{{ (1, 2) }}|{{ (1,) }}|{{ () }}|{{ [] }}|{{ {} }}|{{ 'abc' * 2 }}|{{ "
       "[0] * 3 }}",
       "(1, 2)|(1,)|()|[]|{}|abcabc|[0, 0, 0]"},
      {"{{ messages[0].role|upper }}{{ messages[-1]['content'] }}{{ "
       "messages[5] is defined }}{{ messages[0].nope is defined }}",
       "USERBye  FalseFalse"},
      {"{{ undefined_thing }}|{{ undefined_thing|length }}|{% for x in "
       "undefined_thing %}x{% endfor %}|",
       "|0||"},
      {"{{ 'a' 'b' }}{{ \"\\u00e9\\x41\\t|\" }}",
       "ab\xc3"
       "\xa9"
       "A\t|"},
      {"{{ -1 }}{{ - 2 + 3 }}{{ not true }}{{ not 1 == 2 }}{{ true and 'x' "
       "}}{{ 0 or 'y' }}{{ none or 0 }}",
       "-11FalseTruexy0"},
      {"{{ 1 if 2 > 1 else 3 if false else 4 }}|{{ 'a' ~ 'b' if true else 'c' "
       "}}",
       "1|ab"},
      {"{{ [1, 2] + [3] }}{{ 'a' * 0 }}|{{ 3 - 5 }}{{ 2 * 2.5 }}{{ 10 % 3 }}{{ "
       "2 ** -1 }}",
       "[1, 2, 3]|-25.010.5"},
      {"{{ (messages|length - 1) }}{{ messages|length - 1 }}{{ messages|length "
       "* 2 ~ '!' }}",
       "226!"},
      {"{{ {'a': {'b': 1}} }}|{{ {'a': {'b': 1}}['a']['b'] }}|{{ {'a': "
       "[1]}.a.0 }}",
       "{'a': {'b': 1}}|1|1"},
      {"{{ 'abc'.upper().lower()[1:] }}{{ ('a' ~ 'b').upper() }}", "bcAB"},
      {"{{ '{{' }}{{ '}}' }}{{ '%}' }}", "{{}}%}"},
      {"{{ true }}{{ True }}{{ False }}{{ None }}{{ none }}",
       "TrueTrueFalseNoneNone"},
      {"{{ 1.0 }}{{ 3.14159 }}{{ 100.0 / 3 }}{{ 1/3 }}",
       "1.03.1415933.3333333333333360.3333333333333333"},
  });
}

// for (loop variables, filters, else, unpacking, break/continue), if/elif,
// set (blocks, namespaces, scoping), macros, filters, tests, str and dict
// methods, the global functions.
TEST(ChatLanguageTest, StatementsAndBuiltinsAsJinja2) {
  ExpectRenders({
      {"{{ messages|length }}{% for m in messages %}[{{ loop.index0 }}/{{ "
       "loop.index }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ "
       "loop.revindex }}:{{ m.role }}={{ m['content'] }}]{% endfor %}",
       "3[0/1/True/False/3/3:user=Hi "
       "there][1/2/False/False/3/2:assistant=Yo][2/3/False/True/3/1:user=Bye  "
       "]"},
      {"{% for m in messages if m.role == 'user' %}{{ loop.index }}{{ "
       "m.content|trim }}|{% else %}none{% endfor %}",
       "1Hi there|2Bye|"},
      {"{% for m in [] %}x{% else %}empty{% endfor %}", "empty"},
      {"{% set ns = namespace(a=1, b='x') %}{% for i in range(3) %}{% set ns.a "
       "= ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}",
       "4x"},
      {"{% set x = 0 %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}{% "
       "endfor %}{{ x }}",
       "1110"},
      {"{% if 1 > 2 %}a{% elif 2 > 1 %}b{% else %}c{% endif %}", "b"},
      {"{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}{% for k, "
       "v in {'x': 1}.items() %}{{ k }}={{ v }}{% endfor %}",
       "1234x=1"},
      {"{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if "
       "i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
       "0134"},
      {"{% set x = [1,2,3] %}{% for i in x %}{{ loop.previtem }}-{{ "
       "loop.nextitem }},{% endfor %}{% for i in range(3) %}{{ loop.cycle('a', "
       "'b') }}{% endfor %}",
       "-2,1-3,2-,aba"},
      {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro "
       "%}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C') }}",
       "Hi A! Hi B? Hi C!"},
      {"{% set s %}block {{ 1 + 1 }}{% endset %}[{{ s }}]", "[block 2]"},
      {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{%- set ns = namespace() %}{%- set "
       "ns.index = 0 %}{{ ns.index }}",
       "120"},
      {"{{ '  a b  '|trim }}|{{ 'ABC'|lower }}|{{ 'abc'|upper }}|{{ "
       "x|default('d') }}|{{ ''|default('d', true) }}|{{ [1,2]|first }}|{{ "
       "[1,2]|last }}|{{ [1,2,3]|join(', ') }}|{{ 'abc'|list }}|{{ {'a': "
       "1}|items|list }}",
       "a b|abc|ABC|d|d|1|2|1, 2, 3|['a', 'b', 'c']|[('a', 1)]"},
      {"{{ {'a': [1, 2.5, 'x', none, true]}|tojson }}|{{ '\xc3"
       "\xa9"
       "\"\\n'|tojson }}|{{ {'a': {'b': []}}|tojson(indent=2) }}|{{ "
       "[1,{'c':2}]|tojson(indent=4) }}|{{ messages[0]|tojson }}",
       "{\"a\": [1, 2.5, \"x\", null, true]}|\"\xc3"
       "\xa9"
       "\\\"\\n\"|{\n  \"a\": {\n    \"b\": []\n  }\n}|[\n    1,\n    {\n      "
       "  \"c\": 2\n    }\n]|{\"role\": \"user\", \"content\": \"Hi there\"}"},
      {"{{ messages|selectattr('role', 'equalto', "
       "'user')|map(attribute='content')|join('|') }}|{{ "
       "messages|rejectattr('role', 'equalto', 'user')|list|length }}|{{ "
       "[1,2,3,4]|select('even')|list }}|{{ [1,2,3]|reject('odd')|list }}|{{ "
       "messages|map(attribute='role')|join(',') }}",
       "Hi there|Bye  |1|[2, 4]|[2]|user,assistant,user"},
      {"{{ [3,1,2]|sort }}|{{ ['b','A','c']|sort }}|{{ [1,1,2]|unique|list "
       "}}|{{ [1,2]|reverse|list }}|{{ 'abc'|reverse }}|{{ [1,2,3]|sum }}|{{ "
       "[4,2,8]|max }}|{{ 3.7|int }}|{{ '12'|int }}|{{ 'x'|int }}|{{ 2|float "
       "}}|{{ -3|abs }}|{{ 2.5|round }}|{{ 3.14159|round(2) }}",
       "[1, 2, 3]|['A', 'b', 'c']|[1, 2]|[2, 1]|cba|6|8|3|12|0|2.0|3|2.0|3.14"},
      {"{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ "
       "'<tag>'|e }}|{{ 'x'|string ~ 3|string }}|{{ none|string }}|{{ "
       "[1]|string }}|{{ {'b': 1, 'a': 2}|dictsort }}|{{ 'abc'|capitalize }}{{ "
       "'hello world'|title }}",
       "a\n  b\n\n  c|  a\n  b|&lt;tag&gt;|x3|None|[1]|[('a', 2), ('b', "
       "1)]|AbcHello World"},
      {"{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', "
       "1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ '..x..'.strip('.') }}|{{ "
       "'\\n\\nx'.lstrip() }}|{{ 'x  '.rstrip() }}|{{ 'aaa'.replace('a', 'bb') "
       "}}|{{ 'aaa'.replace('a', 'b', 2) }}",
       "['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a,b', "
       "'c']|x|x|x|bbbbbb|bba"},
      {"{{ 'a b  c '.rsplit(none, 1) }}|{{ '  a b c'.split(none, 1) }}|{{ "
       "'abab'.rsplit('b') }}|{{ 'aaa'.rsplit('aa', 1) }}|{{ "
       "'aXbXc'.split('X', -1) }}|{{ 'a  b'.split(' ') }}",
       "['a b', 'c']|['a', 'b c']|['a', 'a', '']|['a', '']|['a', 'b', "
       "'c']|['a', '', 'b']"},
      {"{{ 'hello'.startswith('he') }}{{ 'hello'.endswith(('x', 'lo')) }}{{ "
       "'Hello World'.title() }}{{ 'hELLO'.capitalize() }}{{ 'abc'.find('c') "
       "}}{{ 'abc'.find('z') }}{{ '-'.join(['a','b']) }}{{ 'abcabc'.count('b') "
       "}}",
       "TrueTrueHello WorldHello2-1a-b2"},
      {"{{ {'a': 1, 'b': 2}.items()|list }}|{{ {'a': 1}.get('a') }}|{{ {'a': "
       "1}.get('z', 5) }}|{{ {'a': 1}.get('z') }}|{{ {'a': 1, 'b': "
       "2}.keys()|list }}|{{ {'a':1}.values()|list }}",
       "[('a', 1), ('b', 2)]|1|5|None|['a', 'b']|[1]"},
      {"{{ 5 is divisibleby 5 }}{{ 3 is odd }}{{ 'ab' is lower }}{{ 1 is in "
       "[1] }}{{ 2 is gt 1 }}{{ 2 is sameas 2 }}{{ none is sameas none }}",
       "TrueTrueTrueTrueTrueTrueTrue"},
      {"{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}|{{ "
       "date_string }}|{{ bos_token }}{{ eos_token }}|{{ add_generation_prompt "
       "}}",
       "26 Jul 2026|2026-07-26|26 Jul 2026|<s></s>|True"},
      {"{{ range(3)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list "
       "}}",
       "[0, 1, 2][1, 4, 7][5, 3, 1]"},
  });
}

}  // namespace
}  // namespace kvasir::engine::chat
