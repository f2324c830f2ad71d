#include "common/text_file.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

TEST(TextFileTest, ReadsTheWholeFileAndNamesWhatIsMissing) {
  const testing::TempDir temp;
  const std::string& dir = temp.path();
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/t.jinja";
  const std::string bytes("line one\n\0line two", 18);
  {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
  }
  ASSERT_OK_AND_ASSIGN(std::string text, ReadTextFile(path, "template"));
  EXPECT_EQ(text, bytes);
  EXPECT_THAT(ReadTextFile(dir + "/none", "chat template file"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("chat template file '" + dir + "/none'")));
  // A folder opens but cannot be read as a file.
  EXPECT_THAT(ReadTextFile(dir, "config file"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("config file '" + dir + "'")));
}

}  // namespace
}  // namespace kvasir
