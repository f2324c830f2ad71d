// Engine::Usage end to end on the FakeRunner and a fake clock: KV
// byte-seconds from the KV cache's per-tenant bytes and the clock, finishes
// and refusals charged to their tenant, usage across UpdateTenants.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_runner.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::FakeRunner;
using ::kvasir::testing::RecordingSink;
using ::testing::ElementsAre;
using ::testing::Field;

// FakeRunner's K/V: 16 bytes per token; 16-token blocks of 256 bytes.
constexpr int64_t kBlockBytes = 256;

TenantConfig Tenant(std::string name, int64_t limit_blocks = 64) {
  TenantConfig t;
  t.name = std::move(name);
  t.limit_bytes = limit_blocks * kBlockBytes;
  return t;
}

Request Req(absl::string_view text, int32_t max_new, std::string tenant) {
  Request r;
  r.tenant = std::move(tenant);
  r.prompt = FakeRunner::Ids(text);  // BOS + one token per byte
  r.stopping.max_new_tokens = max_new;
  r.stopping.ignore_eos = true;
  return r;
}

TenantUsage Of(const UsageReport& report, const std::string& name) {
  for (const TenantUsage& t : report.tenants) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "tenant " << name << " is not in the report";
  return TenantUsage();
}

int64_t Requests(const TenantUsage& u, FinishReason reason) {
  return u.finished[static_cast<size_t>(reason)];
}

class EngineUsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto runner = FakeRunner::Create({});
    ASSERT_OK(runner);
    runner_ = runner->get();
    Engine::Options o;
    o.max_batch_tokens = 64;
    o.max_running = 8;
    o.max_queued = 16;
    o.block_size = 16;
    o.kv_capacity_bytes = 128 * kBlockBytes;
    o.clock = &clock_;
    auto engine = Engine::Create(o, *std::move(runner),
                                 {Tenant("t"), Tenant("u", /*limit=*/4)});
    ASSERT_OK(engine);
    engine_ = *std::move(engine);
  }

  void TearDown() override {
    runner_->Resume();
    engine_->Shutdown(absl::InfiniteDuration());
  }

  FinishInfo Run(Request r) {
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_OK(engine_->Submit(std::move(r), sink));
    EXPECT_TRUE(sink->WaitForFinish());
    return sink->info();
  }

  FakeClock clock_;
  FakeRunner* runner_ = nullptr;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineUsageTest, KvByteSecondsAreTheBlocksAStepRunsWithTimesItsTime) {
  runner_->Pause();
  // 19 bytes + BOS = 20 prompt tokens: 2 blocks from the first step on.
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(engine_->Submit(Req("nineteen characters", 3, "t"), sink));
  runner_->WaitForStepsStarted(1);
  // The first step takes 2 s of (fake) time; the others none.
  clock_.Advance(absl::Seconds(2));
  runner_->Resume();
  ASSERT_TRUE(sink->WaitForFinish());
  const UsageReport r = engine_->Usage(/*reset=*/false);
  EXPECT_EQ(Of(r, "t").kv_byte_seconds, 2 * kBlockBytes * 2.0);
  EXPECT_EQ(Of(r, "u").kv_byte_seconds, 0);
  // Once its blocks are free (a full one stays cached: not charged), time
  // costs nothing. (The engine frees them just after the sink's finish.)
  ASSERT_TRUE(kvasir::testing::WaitUntil(
      [&] {
        const EngineStats s = engine_->Stats();
        return s.running == 0 && s.tenants[0].kv.used_blocks == 0;
      },
      absl::Seconds(30)));
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(Of(engine_->Usage(false), "t").kv_byte_seconds,
            2 * kBlockBytes * 2.0);
}

TEST_F(EngineUsageTest, FinishesAndRefusalsAreChargedToTheirTenant) {
  // b's first block (BOS + 15 bytes) is a's: found in the prefix cache.
  const FinishInfo a = Run(Req("shared start of A: one", 5, "t"));
  const FinishInfo b = Run(Req("shared start of B: two, longer", 2, "t"));
  ASSERT_EQ(b.cached_prompt_tokens, 16);
  Request stop = Req("a5", 10, "t");
  stop.stopping.ignore_eos = false;
  stop.stopping.stop = {"21"};  // "a5" counts down "43210"
  const FinishInfo c = Run(stop);
  ASSERT_EQ(c.reason, FinishReason::kStop);
  // A cancelled one on u, during its first step (so it started).
  runner_->Pause();
  const int64_t steps = runner_->steps_started();
  auto sink = std::make_shared<RecordingSink>();
  auto id = engine_->Submit(Req("cancel me", 40, "u"), sink);
  ASSERT_OK(id);
  runner_->WaitForStepsStarted(steps + 1);
  engine_->Cancel(*id);
  runner_->Resume();
  ASSERT_TRUE(sink->WaitForFinish());
  const FinishInfo d = sink->info();
  ASSERT_EQ(d.reason, FinishReason::kCancelled);
  ASSERT_TRUE(d.started);

  // Refused: invalid (empty prompt), never fits (u holds 64 tokens),
  // unknown tenant (charged to nobody).
  Request empty = Req("", 4, "u");
  empty.prompt.clear();
  EXPECT_FALSE(engine_->Submit(empty, sink).ok());
  EXPECT_FALSE(engine_->Submit(Req(std::string(60, 'a'), 10, "u"), sink).ok());
  EXPECT_FALSE(engine_->Submit(Req("x", 4, "nobody"), sink).ok());
  // A front end's own refusal of a converted tenant's request: charged by
  // the refusal it carries, none when it carries none.
  engine_->ChargeRefusal("u", absl::InvalidArgumentError("bad field"));
  engine_->ChargeRefusal("u", absl::FailedPreconditionError("no template"));
  engine_->ChargeRefusal("nobody", absl::InvalidArgumentError("bad field"));

  const UsageReport r = engine_->Usage(false);
  EXPECT_THAT(r.tenants, ElementsAre(Field(&TenantUsage::name, "t"),
                                     Field(&TenantUsage::name, "u")));
  const TenantUsage t = Of(r, "t");
  EXPECT_EQ(Requests(t, FinishReason::kLength), 2);
  EXPECT_EQ(Requests(t, FinishReason::kStop), 1);
  EXPECT_EQ(t.prompt_tokens,
            a.prompt_tokens + b.prompt_tokens + c.prompt_tokens);
  EXPECT_EQ(t.prompt_tokens, 23 + 31 + 3);
  EXPECT_EQ(t.generated_tokens, 5 + 2 + c.generated_tokens);
  EXPECT_EQ(
      t.cached_prompt_tokens,
      a.cached_prompt_tokens + b.cached_prompt_tokens + c.cached_prompt_tokens);
  EXPECT_EQ(t.cached_prompt_tokens, 16);
  const TenantUsage u = Of(r, "u");
  EXPECT_EQ(Requests(u, FinishReason::kCancelled), 1);
  EXPECT_EQ(u.prompt_tokens, d.prompt_tokens);
  EXPECT_EQ(u.generated_tokens, d.generated_tokens);
  EXPECT_EQ(u.refused[static_cast<size_t>(Refusal::kInvalidRequest)], 2);
  EXPECT_EQ(u.refused[static_cast<size_t>(Refusal::kNeverFits)], 1);
  EXPECT_EQ(t.refused, (std::array<int64_t, kNumRefusals>{}));
  // The same numbers since start (no reset yet), and the scheduler's own
  // count of cached prompt tokens agrees.
  EXPECT_EQ(Of(engine_->UsageSinceStart(), "t").prompt_tokens, t.prompt_tokens);
  for (const TenantStats& s : engine_->Stats().tenants) {
    if (s.name == "t") {
      EXPECT_EQ(s.sched.cached_prompt_tokens, t.cached_prompt_tokens);
    }
  }
}

TEST_F(EngineUsageTest, ARequestThatExpiresInTheQueueIsNotBilledItsPrompt) {
  // a takes all of u's 4 blocks (51 + 13 tokens), so b waits for them
  // until its deadline passes.
  runner_->Pause();
  auto sa = std::make_shared<RecordingSink>();
  ASSERT_OK(engine_->Submit(Req(std::string(50, 'a'), 13, "u"), sa));
  runner_->WaitForStepsStarted(1);
  Request late = Req("late", 4, "u");
  late.deadline = clock_.Now() + absl::Seconds(1);
  auto sb = std::make_shared<RecordingSink>();
  ASSERT_OK(engine_->Submit(std::move(late), sb));
  clock_.Advance(absl::Seconds(2));
  runner_->Resume();
  ASSERT_TRUE(sb->WaitForFinish());
  ASSERT_TRUE(sa->WaitForFinish());
  EXPECT_EQ(sb->info().reason, FinishReason::kDeadline);
  EXPECT_FALSE(sb->info().started);
  EXPECT_EQ(sb->info().prompt_tokens, 5);  // the response still says it
  EXPECT_TRUE(sa->info().started);
  const TenantUsage u = Of(engine_->Usage(false), "u");
  EXPECT_EQ(Requests(u, FinishReason::kDeadline), 1);
  EXPECT_EQ(Requests(u, FinishReason::kLength), 1);
  EXPECT_EQ(u.prompt_tokens, 51);
}

TEST_F(EngineUsageTest, UsageSurvivesUpdatesAndARemovedTenantStaysToReset) {
  Run(Req("kept", 3, "t"));
  Run(Req("removed later", 4, "u"));
  ASSERT_OK(engine_->UpdateTenants({Tenant("t"), Tenant("v")}));
  UsageReport r = engine_->Usage(false);
  EXPECT_THAT(r.tenants, ElementsAre(Field(&TenantUsage::name, "t"),
                                     Field(&TenantUsage::name, "u"),
                                     Field(&TenantUsage::name, "v")));
  EXPECT_EQ(Of(r, "t").generated_tokens, 3);
  EXPECT_FALSE(Of(r, "u").configured);
  EXPECT_EQ(Of(r, "u").generated_tokens, 4);
  EXPECT_EQ(Requests(Of(r, "u"), FinishReason::kLength), 1);

  r = engine_->Usage(/*reset=*/true);
  EXPECT_EQ(Of(r, "u").generated_tokens, 4);
  r = engine_->Usage(false);
  EXPECT_THAT(r.tenants, ElementsAre(Field(&TenantUsage::name, "t"),
                                     Field(&TenantUsage::name, "v")));
  EXPECT_EQ(Of(r, "t").generated_tokens, 0);
  // Since start: nothing went back, u included.
  const UsageReport all = engine_->UsageSinceStart();
  EXPECT_EQ(Of(all, "t").generated_tokens, 3);
  EXPECT_EQ(Of(all, "u").generated_tokens, 4);
  Run(Req("after", 2, "t"));
  EXPECT_EQ(Of(engine_->Usage(false), "t").generated_tokens, 2);
  EXPECT_EQ(Of(engine_->UsageSinceStart(), "t").generated_tokens, 5);
}

}  // namespace
}  // namespace kvasir::engine
