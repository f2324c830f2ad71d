#include "tests/testing/golden.h"

#include <fstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/paths.h"

namespace kvasir::testing {

size_t StepsBeforeNearTie(const GoldenCase& c, float tolerance) {
  size_t k = 0;
  while (k < c.step_top5.size() && c.step_top5[k].size() >= 2 &&
         c.step_top5[k][0].second - c.step_top5[k][1].second >= tolerance) {
    ++k;
  }
  return k;
}

std::vector<GoldenCase> ReadGolden(const std::string& file) {
  std::vector<GoldenCase> cases;
  const std::string path = GoldenPath(file);
  std::ifstream in(path);
  if (!in.good()) {
    ADD_FAILURE() << "cannot read golden file " << path;
    return cases;
  }
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      GoldenCase c;
      c.prompt = j.at("prompt").get<std::string>();
      c.prompt_ids = j.at("prompt_token_ids").get<std::vector<int32_t>>();
      c.continuation =
          j.at("continuation_token_ids").get<std::vector<int32_t>>();
      c.continuation_text = j.at("continuation_text").get<std::string>();
      for (const nlohmann::json& pair : j.at("top10_last_prompt_logits")) {
        c.top10.emplace_back(pair.at(0).get<int32_t>(),
                             pair.at(1).get<float>());
      }
      c.add_bos = j.value("add_bos", true);
      if (j.contains("step_top5_logits")) {
        for (const nlohmann::json& step : j.at("step_top5_logits")) {
          auto& top = c.step_top5.emplace_back();
          for (const nlohmann::json& pair : step) {
            top.emplace_back(pair.at(0).get<int32_t>(),
                             pair.at(1).get<float>());
          }
        }
      }
      cases.push_back(std::move(c));
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << path << ":" << line_no << ": " << e.what();
      break;
    }
  }
  return cases;
}

}  // namespace kvasir::testing
