// The chat-template interpreter, fuzzing both the template and the
// messages: the input is "<template>\0<role>\0<content>\0<role>\0..." (a
// role without content gets ""). The template is parsed once and rendered
// with and without the generation prompt, under small render limits. A
// render must keep RenderedPrompt's contract: no empty span, adjacent spans
// of different origins.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/chat/chat_template.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  const std::vector<absl::string_view> parts = absl::StrSplit(
      absl::string_view(reinterpret_cast<const char*>(data), size),
      absl::ByChar('\0'));
  engine::chat::ChatTemplate::Options options;
  options.source = std::string(parts[0]);
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.now = [] { return absl::FromUnixSeconds(1'700'000'000); };
  options.limits = fuzz::FuzzRenderLimits();
  auto tmpl = engine::chat::ChatTemplate::Create(std::move(options));
  if (!tmpl.ok()) {
    fuzz::Check(tmpl.status().code() == absl::StatusCode::kInvalidArgument,
                "ChatTemplate::Create: not InvalidArgument");
    return 0;
  }
  std::vector<engine::chat::Message> messages;
  for (size_t i = 1; i < parts.size(); i += 2) {
    messages.push_back({std::string(parts[i]),
                        i + 1 < parts.size() ? std::string(parts[i + 1]) : ""});
  }
  for (bool add_generation_prompt : {true, false}) {
    auto rendered = (*tmpl)->Render(messages, add_generation_prompt);
    if (!rendered.ok()) {
      fuzz::Check(
          rendered.status().code() == absl::StatusCode::kInvalidArgument,
          "Render: not InvalidArgument");
      continue;
    }
    const auto& spans = rendered->spans;
    for (size_t i = 0; i < spans.size(); ++i) {
      fuzz::Check(!spans[i].text.empty(), "Render: an empty span");
      fuzz::Check(i == 0 || spans[i].from_content != spans[i - 1].from_content,
                  "Render: adjacent spans of the same origin");
    }
  }
  return 0;
}
