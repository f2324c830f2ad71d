// The real `kvasir serve` process under load: the counters GetStats and
// /metrics both report agree exactly after prefix-cache hits and
// preemptions, and SIGTERM with 50 streams in flight gives every stream a
// final status and exits 0.
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/http_client.h"
#include "tests/integration/live_server.h"
#include "tests/testing/wait_until.h"

namespace kvasir::integration {
namespace {

using ::kvasir::testing::WaitUntil;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// The value of the sample `name{tenant="<tenant>"}`; -1 when missing.
double MetricValue(const std::string& text, const std::string& name,
                   const std::string& tenant) {
  return MetricSample(text, name, absl::StrCat("tenant=\"", tenant, "\""));
}

// A prompt of several full 16-token blocks, so that later requests find
// its blocks in the prefix cache.
constexpr char kSharedPrefix[] =
    "Once upon a time, there was a little girl named Lily. She loved to "
    "play outside in the park with her friends. One day, she saw a big red "
    "ball under a tree and she wanted to play with it.";

// 16 streams share a prefix in a pool too small for all of them at once:
// the prefix cache serves their prompts' first blocks, decodes run out of
// blocks and preempt (a resumed request looks its tokens up again). Once
// all are done, the per-tenant numbers GetStats reports and the ones
// /metrics exports are the same, and the cached prompt tokens are the sum
// of the requests' Usage (counted once per request, not per admission).
TEST(UnderLoadTest, GetStatsAndMetricsAgreeAfterHitsAndPreemptions) {
  ConfigSpec spec = TwoTenantConfig();
  spec.capacity = "800KiB";  // 40 blocks: 640 tokens
  spec.tenants[0].reserved = "0";
  spec.tenants[1].reserved = "0";
  spec.tenants[1].limit = "";
  absl::StatusOr<std::unique_ptr<LiveServer>> started = LiveServer::Start(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  auto stub = server.Generation();

  // Warm the cache with the prefix, for both tenants (prefixes never cross
  // tenants).
  for (const char* key : {kAlphaKey, kBetaKey}) {
    const Outcome warm = RunUnary(*stub, key, TextRequest(kSharedPrefix, 2));
    ASSERT_TRUE(warm.status.ok()) << warm.status.error_message();
  }
  constexpr int kStreams = 16;
  constexpr int32_t kTokens = 120;
  std::vector<Outcome> outs(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      const std::string text =
          absl::StrCat(kSharedPrefix, " Stream ", i, " said");
      outs[i] = RunStream(*stub, i % 2 == 0 ? kAlphaKey : kBetaKey,
                          TextRequest(text, kTokens));
    });
  }
  for (std::thread& t : threads) t.join();

  int64_t usage_cached[2] = {0, 0};
  int64_t usage_generated[2] = {0, 0};
  int64_t usage_preemptions = 0;
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(outs[i].status.ok()) << outs[i].status.error_message();
    ASSERT_THAT(outs[i].ids, SizeIs(kTokens));
    usage_cached[i % 2] += outs[i].usage.cached_prompt_tokens();
    usage_generated[i % 2] += outs[i].usage.generated_tokens();
    usage_preemptions += outs[i].usage.preemptions();
  }
  // The warm-up requests: 2 tokens each, nothing cached.
  usage_generated[0] += 2;
  usage_generated[1] += 2;
  // The premise: hits and preemptions both happened.
  EXPECT_GT(usage_cached[0], 0);
  EXPECT_GT(usage_cached[1], 0);
  EXPECT_GT(usage_preemptions, 0);

  // GetStats reads the snapshot the engine publishes after each step, and
  // the last responses can arrive before the step that freed their blocks
  // is published: wait for the idle snapshot, then read the metrics (the
  // same snapshot, as nothing runs any more).
  absl::StatusOr<v1::GetStatsResponse> stats;
  ASSERT_TRUE(WaitUntil([&] {
    stats = server.Stats();
    return stats.ok() && stats->running() == 0 && stats->queued() == 0 &&
           FindTenant(*stats, "alpha").kv_used_blocks() == 0 &&
           FindTenant(*stats, "beta").kv_used_blocks() == 0;
  })) << (stats.ok() ? stats->DebugString() : stats.status().ToString());
  const HttpReply metrics =
      HttpGet(server.process().metrics_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  int64_t preemptions = 0;
  const char* names[2] = {"alpha", "beta"};
  for (int k = 0; k < 2; ++k) {
    SCOPED_TRACE(names[k]);
    const v1::TenantStats t = FindTenant(*stats, names[k]);
    const std::string& m = metrics.body;
    EXPECT_EQ(t.prefix_hit_tokens(), usage_cached[k]);
    EXPECT_EQ(MetricValue(m, "kvasir_cached_prompt_tokens_total", names[k]),
              static_cast<double>(t.prefix_hit_tokens()));
    EXPECT_EQ(t.generated_tokens(), usage_generated[k]);
    EXPECT_EQ(MetricValue(m, "kvasir_generated_tokens_total", names[k]),
              static_cast<double>(t.generated_tokens()));
    EXPECT_EQ(MetricValue(m, "kvasir_tenant_preemptions_total", names[k]),
              static_cast<double>(t.preemptions()));
    EXPECT_EQ(MetricValue(m, "kvasir_tenant_kv_blocks_used", names[k]), 0);
    EXPECT_EQ(t.kv_used_blocks(), 0);
    preemptions += t.preemptions();
  }
  EXPECT_EQ(preemptions, stats->preemptions());
  EXPECT_EQ(preemptions, usage_preemptions);
}

// SIGTERM with 50 streams in flight (each has received its first token):
// every stream ends with a final status, OK (all its tokens) or
// UNAVAILABLE (cut by the drain timeout, saying so), none is cut without
// one, and the process exits 0.
TEST(UnderLoadTest, SigtermWithFiftyStreamsInFlightEndsEachWithAStatus) {
  ConfigSpec spec = TwoTenantConfig();
  spec.capacity = "80MiB";  // 4096 blocks: no stream waits for blocks
  spec.tenants[1].limit = "";
  spec.max_running = 64;
  spec.drain_timeout = "5s";
  absl::StatusOr<std::unique_ptr<LiveServer>> started = LiveServer::Start(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  auto stub = server.Generation();

  // Half of them short enough to finish within the drain time on a quiet
  // machine, half too long to; either outcome is allowed for each.
  constexpr int kStreams = 50;
  std::vector<int32_t> lengths;
  std::vector<std::unique_ptr<OpenStream>> streams;
  for (int i = 0; i < kStreams; ++i) {
    lengths.push_back(i % 2 == 0 ? 40 : 2000);
    streams.push_back(std::make_unique<OpenStream>(
        *stub, i % 3 == 0 ? kBetaKey : kAlphaKey,
        TextRequest(absl::StrCat("Once upon a time ", i), lengths.back())));
  }
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(streams[i]->ReadOne()) << i;
    ASSERT_GT(streams[i]->outcome().ids.size(), 0u) << i;
  }
  ASSERT_TRUE(server.process().Signal(SIGTERM).ok());

  int ok = 0;
  int unavailable = 0;
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(i);
    const Outcome& out = streams[i]->Finish();
    ASSERT_THAT(out.status.error_code(),
                AnyOf(grpc::StatusCode::OK, grpc::StatusCode::UNAVAILABLE))
        << out.status.error_message();
    if (out.status.ok()) {
      ++ok;
      EXPECT_EQ(out.finish, v1::FINISH_REASON_LENGTH);
      EXPECT_THAT(out.ids, SizeIs(lengths[i]));
    } else {
      ++unavailable;
      EXPECT_THAT(out.status.error_message(), HasSubstr("shutting down"));
      EXPECT_LT(out.ids.size(), static_cast<size_t>(lengths[i]));
    }
  }
  EXPECT_EQ(ok + unavailable, kStreams);
  absl::StatusOr<int> code = server.process().Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server.process().ReadLog();
  std::printf("SIGTERM under load: %d streams OK, %d UNAVAILABLE\n", ok,
              unavailable);
}

}  // namespace
}  // namespace kvasir::integration
