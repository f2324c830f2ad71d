#include "tools/bench_serve_workload.h"

#include <fstream>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kvasir::tools {

std::vector<PromptSpec> RandomPrompts(int32_t n, int32_t prompt_len,
                                      int32_t gen_len, int32_t vocab_size,
                                      uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Drawn with our own reduction (not uniform_int_distribution, whose
  // algorithm is the library's) so the prompts do not depend on it.
  const uint64_t span = static_cast<uint64_t>(vocab_size - 3);
  std::vector<PromptSpec> prompts(static_cast<size_t>(n));
  for (PromptSpec& p : prompts) {
    p.token_ids.resize(static_cast<size_t>(prompt_len));
    for (int32_t& id : p.token_ids) {
      id = 3 + static_cast<int32_t>(rng() % span);
    }
    p.max_tokens = gen_len;
  }
  return prompts;
}

absl::StatusOr<std::vector<PromptSpec>> ReadPromptsFile(
    const std::string& path, int32_t default_max_tokens) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("--prompts: cannot open '", path, "'"));
  }
  std::vector<PromptSpec> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--prompts ", path, " line ", number, ": ", why));
    };
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) return bad("not a JSON object");
    PromptSpec p;
    p.max_tokens = default_max_tokens;
    const auto prompt = j.find("prompt");
    if (prompt == j.end()) return bad("no \"prompt\"");
    if (prompt->is_string()) {
      p.text = prompt->get<std::string>();
      if (p.text.empty()) return bad("\"prompt\" is empty");
    } else if (prompt->is_array() && !prompt->empty()) {
      for (const nlohmann::json& id : *prompt) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() > INT32_MAX) {
          return bad("\"prompt\" must be a string or an array of token ids");
        }
        p.token_ids.push_back(id.get<int32_t>());
      }
    } else {
      return bad("\"prompt\" must be a string or an array of token ids");
    }
    const auto max_tokens = j.find("max_tokens");
    if (max_tokens != j.end()) {
      if (!max_tokens->is_number_integer() || max_tokens->get<int64_t>() < 1 ||
          max_tokens->get<int64_t>() > INT32_MAX) {
        return bad("\"max_tokens\" must be an integer >= 1");
      }
      p.max_tokens = max_tokens->get<int32_t>();
    }
    prompts.push_back(std::move(p));
  }
  if (prompts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prompts ", path, ": no prompts in the file"));
  }
  return prompts;
}

}  // namespace kvasir::tools
