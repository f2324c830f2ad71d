// Per-tenant KV budgets seen from outside the real server: while tenant A
// floods with long requests (far more KV than its limit allows), tenant B's
// requests within its reserved floor are admitted and finish, and
// Admin.GetStats, polled throughout, never shows A above its limit.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/live_server.h"

namespace kvasir::integration {
namespace {

using ::testing::SizeIs;

// A = beta: reserved 10 blocks, limit 48 blocks (768 tokens).
// B = alpha: reserved 32 blocks (512 tokens), limit = the capacity.
// Capacity 100 blocks: floors 42 <= 100, A's limit 48 > B's floor 32.
constexpr char kFlooder[] = "beta";
constexpr char kProtected[] = "alpha";
constexpr int kFloodRequests = 8;
constexpr int32_t kFloodTokens = 300;  // 305 tokens = 20 blocks each
constexpr int kProtectedRequests = 4;
constexpr int32_t kProtectedTokens = 100;  // 105 tokens = 7 blocks each

TEST(BudgetTest, FloodingTenantStaysUnderItsLimitAndTheOtherKeepsItsFloor) {
  ConfigSpec spec = TwoTenantConfig();
  spec.capacity = "2000KiB";
  absl::StatusOr<std::unique_ptr<LiveServer>> started = LiveServer::Start(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  auto stub = server.Generation();

  // The watcher: every GetStats while anything runs.
  struct Watch {
    absl::Mutex mu;
    int polls = 0;
    int polls_while_flooding = 0;
    int64_t max_used_blocks = 0;
    bool saw_queued = false;
    std::vector<std::string> violations;
  } watch;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (!stop.load()) {
      absl::StatusOr<v1::GetStatsResponse> s = server.Stats();
      if (s.ok()) {
        const v1::TenantStats a = FindTenant(*s, kFlooder);
        absl::MutexLock lock(&watch.mu);
        ++watch.polls;
        if (a.running() > 0) ++watch.polls_while_flooding;
        watch.max_used_blocks =
            std::max(watch.max_used_blocks, a.kv_used_blocks());
        if (a.queued() > 0) watch.saw_queued = true;
        if (a.kv_used_bytes() > a.kv_limit_bytes() ||
            a.kv_used_blocks() > a.kv_limit_blocks() || a.over_limit()) {
          watch.violations.push_back(s->DebugString());
        }
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  });

  // The flood: 8 x 20 blocks = 160 blocks wanted, 48 allowed.
  std::vector<Outcome> flood(kFloodRequests);
  std::vector<std::thread> flooders;
  const std::vector<std::string> prompts = {"Once upon a time",
                                            "The little dog",
                                            "One day, a big",
                                            "Tom had a red ball. He",
                                            "Lily and Ben went to the park",
                                            "The cat",
                                            "A big red bus",
                                            "There was a frog"};
  for (int i = 0; i < kFloodRequests; ++i) {
    flooders.emplace_back([&, i] {
      flood[i] =
          RunUnary(*stub, kBetaKey,
                   TextRequest(prompts[i % prompts.size()], kFloodTokens));
    });
  }
  // Once the flood holds blocks, B sends its requests.
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<v1::GetStatsResponse> s = server.Stats();
    return s.ok() && FindTenant(*s, kFlooder).kv_used_blocks() >= 10;
  }));
  std::vector<Outcome> protected_out(kProtectedRequests);
  std::vector<std::thread> protected_calls;
  for (int i = 0; i < kProtectedRequests; ++i) {
    protected_calls.emplace_back([&, i] {
      protected_out[i] = RunStream(
          *stub, kAlphaKey,
          TextRequest(prompts[(i + 3) % prompts.size()], kProtectedTokens));
    });
  }
  for (std::thread& t : protected_calls) t.join();
  for (std::thread& t : flooders) t.join();
  stop.store(true);
  watcher.join();

  for (int i = 0; i < kProtectedRequests; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(protected_out[i].status.ok())
        << protected_out[i].status.error_message();
    EXPECT_THAT(protected_out[i].ids, SizeIs(kProtectedTokens));
    EXPECT_EQ(protected_out[i].usage.preemptions(), 0);
  }
  // The flood is throttled, not refused: every request finishes.
  for (int i = 0; i < kFloodRequests; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(flood[i].status.ok()) << flood[i].status.error_message();
    EXPECT_THAT(flood[i].ids, SizeIs(kFloodTokens));
  }

  // Stats are a snapshot taken at the end of an engine step, which may
  // come a moment after the calls saw their last token.
  absl::StatusOr<v1::GetStatsResponse> end;
  EXPECT_TRUE(WaitUntil([&] {
    end = server.Stats();
    return end.ok() && end->running() == 0 &&
           FindTenant(*end, kFlooder).kv_used_blocks() == 0 &&
           FindTenant(*end, kProtected).kv_used_blocks() == 0;
  }));
  ASSERT_TRUE(end.ok()) << end.status();
  const v1::TenantStats a = FindTenant(*end, kFlooder);
  const v1::TenantStats b = FindTenant(*end, kProtected);
  absl::MutexLock lock(&watch.mu);
  EXPECT_THAT(watch.violations, ::testing::IsEmpty());
  EXPECT_GT(watch.polls_while_flooding, 0);
  // The limit was what held A back: it had to wait or be preempted.
  EXPECT_TRUE(watch.saw_queued || a.preemptions() > 0) << end->DebugString();
  EXPECT_LE(watch.max_used_blocks, 48);
  EXPECT_EQ(b.preemptions(), 0);
  EXPECT_EQ(b.generated_tokens(), kProtectedRequests * kProtectedTokens);
  EXPECT_EQ(a.kv_used_blocks(), 0);
  EXPECT_EQ(b.kv_used_blocks(), 0);
}

}  // namespace
}  // namespace kvasir::integration
