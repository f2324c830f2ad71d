#include "tests/testing/vocab_vectors.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kvasir::testing {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<VocabCase> ReadVocabCases(const std::string& base) {
  const std::string inp = ReadFileOrEmpty(base + ".inp");
  const std::string out = ReadFileOrEmpty(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::vector<VocabCase> cases;
  if (lines.size() != texts.size()) return cases;
  for (size_t i = 0; i < texts.size(); ++i) {
    VocabCase c{texts[i], {}};
    for (absl::string_view tok :
         absl::StrSplit(lines[i], ' ', absl::SkipWhitespace())) {
      c.ids.push_back(std::stoi(std::string(tok)));
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace kvasir::testing
