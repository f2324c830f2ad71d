#include "server/config/config_watcher.h"

#include <atomic>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/paths.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::WaitUntil;

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(ConfigWatcherTest, SeesContentChangesAndReplacement) {
  const testing::TempDir dir;
  const std::string path = dir.File("c.yaml");
  Write(path, "a: 1\n");
  std::atomic<int> changes{0};
  ConfigFileWatcher watcher(path, absl::Milliseconds(5), [&] { ++changes; });
  Write(path, "a: 22\n");  // size changes
  ASSERT_TRUE(WaitUntil([&] { return changes.load() >= 1; }));
  // An editor's write-to-temp-and-rename: a new inode.
  const int before = changes.load();
  Write(dir.File("tmp.yaml"), "a: 333\n");
  ASSERT_EQ(std::rename(dir.File("tmp.yaml").c_str(), path.c_str()), 0);
  EXPECT_TRUE(WaitUntil([&] { return changes.load() > before; }));
  watcher.Stop();
}

TEST(ConfigWatcherTest, ReportsEachChangeOnceAndNothingElse) {
  const testing::TempDir dir;
  const std::string path = dir.File("c.yaml");
  Write(path, "a: 1\n");
  int changes = 0;
  // No thread: every look is this test's CheckNow.
  ConfigFileWatcher watcher(path, absl::ZeroDuration(), [&] { ++changes; });
  EXPECT_FALSE(watcher.CheckNow());
  EXPECT_FALSE(watcher.CheckNow());
  EXPECT_EQ(changes, 0);
  Write(path, "a: 22\n");
  EXPECT_TRUE(watcher.CheckNow());
  EXPECT_EQ(changes, 1);
  EXPECT_FALSE(watcher.CheckNow());
  EXPECT_EQ(changes, 1);
  // Gone, then back: both are changes.
  ASSERT_EQ(std::remove(path.c_str()), 0);
  EXPECT_TRUE(watcher.CheckNow());
  EXPECT_FALSE(watcher.CheckNow());
  Write(path, "a: 1\n");
  EXPECT_TRUE(watcher.CheckNow());
  EXPECT_EQ(changes, 3);
}

}  // namespace
}  // namespace kvasir::server
