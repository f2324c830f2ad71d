#include "server/http/http_thread_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

// Threads start as tasks need them, stop at the cap, and are reused; tasks
// beyond the cap wait and run once a thread is free.
TEST(HttpThreadPoolTest, GrowsToTheCapThenQueues) {
  HttpThreadPool pool(3);
  EXPECT_EQ(pool.threads(), 0u);  // nothing started up front
  absl::Notification release;
  std::atomic<int> running{0};
  std::atomic<int> done{0};
  auto task = [&] {
    ++running;
    release.WaitForNotification();
    ++done;
  };
  for (int i = 0; i < 5; ++i) pool.enqueue(task);
  ASSERT_TRUE(testing::WaitUntil([&] { return running.load() == 3; },
                                 absl::Seconds(30)));
  EXPECT_EQ(pool.threads(), 3u);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(running.load(), 3);  // two wait for a thread
  release.Notify();
  ASSERT_TRUE(
      testing::WaitUntil([&] { return done.load() == 5; }, absl::Seconds(30)));
  // Idle threads are reused, not added.
  for (int i = 0; i < 3; ++i) pool.enqueue([&] { ++done; });
  ASSERT_TRUE(
      testing::WaitUntil([&] { return done.load() == 8; }, absl::Seconds(30)));
  EXPECT_EQ(pool.threads(), 3u);
  pool.shutdown();
  EXPECT_EQ(pool.threads(), 0u);
}

TEST(HttpThreadPoolTest, ShutdownRunsWhatIsQueuedThenJoins) {
  std::atomic<int> done{0};
  {
    HttpThreadPool pool(1);
    for (int i = 0; i < 4; ++i) pool.enqueue([&] { ++done; });
    pool.shutdown();
  }
  EXPECT_EQ(done.load(), 4);
}

}  // namespace
}  // namespace kvasir::server
