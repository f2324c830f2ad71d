// The seven real chat templates of ../shared/chat-templates against Python
// Jinja2's renders (expected.json): byte for byte.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/chat/chat_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::chat {
namespace {

using ::kvasir::testing::SharedDir;

std::string TemplatesDir() { return SharedDir() + "/chat-templates"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// expected.json; null when it cannot be read or parsed (the test then
// fails, rather than running no case).
nlohmann::json Expected() {
  return nlohmann::json::parse(ReadFile(TemplatesDir() + "/expected.json"),
                               nullptr,
                               /*allow_exceptions=*/false);
}

std::vector<Message> Conversation(const nlohmann::json& j) {
  std::vector<Message> out;
  for (const auto& m : j) {
    out.push_back(
        {m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  }
  return out;
}

// The date expected.json was rendered with ("26 Jul 2026").
absl::Time RenderDate() {
  return absl::FromCivil(absl::CivilSecond(2026, 7, 26, 12, 0, 0),
                         absl::UTCTimeZone());
}

std::vector<std::string> TemplateNames() {
  std::vector<std::string> names;
  const nlohmann::json expected = Expected();
  if (!expected.is_object() || !expected.contains("renders")) {
    return {"expected_json_unreadable"};
  }
  for (const auto& item : expected.at("renders").items())
    names.push_back(item.key());
  return names;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, RendersAsJinja2) {
  const nlohmann::json expected = Expected();
  ASSERT_TRUE(expected.is_object() && expected.contains("renders"))
      << TemplatesDir() << "/expected.json cannot be read";
  const nlohmann::json& render = expected.at("renders").at(GetParam());
  ChatTemplate::Options options;
  options.source = ReadFile(TemplatesDir() + "/" + GetParam());
  ASSERT_FALSE(options.source.empty()) << GetParam();
  options.bos_token = render.at("bos_token").get<std::string>();
  options.eos_token = render.at("eos_token").get<std::string>();
  options.now = RenderDate;
  ASSERT_OK_AND_ASSIGN(auto tmpl, ChatTemplate::Create(options));
  const bool gen = expected.at("add_generation_prompt").get<bool>();
  for (const char* which : {"with_system", "without_system"}) {
    const std::vector<Message> messages =
        Conversation(expected.at(std::string("messages_") + which));
    ASSERT_OK_AND_ASSIGN(RenderedPrompt prompt, tmpl->Render(messages, gen));
    EXPECT_EQ(prompt.Text(), render.at(which).get<std::string>()) << which;
    // Every message's content is in the render as one content span.
    for (const Message& m : messages) {
      bool found = false;
      for (const auto& span : prompt.spans) {
        found |=
            span.from_content && span.text.find(m.content) != std::string::npos;
      }
      EXPECT_TRUE(found) << which << ": " << m.content;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SharedTemplates, GoldenTest,
                         ::testing::ValuesIn(TemplateNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name;
                           for (char c : info.param) {
                             name += std::isalnum(static_cast<unsigned char>(c))
                                         ? c
                                         : '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace kvasir::engine::chat
