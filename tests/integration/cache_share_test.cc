// Fair prefix-cache retention on the real server: a quiet tenant's
// repeated prompt stays in the prefix cache while another tenant floods it
// with unique prompts, because the flooder is over its cache share and the
// quiet tenant within its own (tenants[i].cache_share).
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/live_server.h"

namespace kvasir::integration {
namespace {

constexpr char kQuietKey[] = "quiet-key";
constexpr char kNoisyKey[] = "noisy-key";

// The scenario's numbers. 8 MiB of KV is 409 blocks of 20 KiB (6,544
// tokens). Every prompt is about 400 tokens (25 blocks); the 8 flood
// requests in flight hold about 208 blocks, so q's 25 cached blocks fit
// beside them. q sends one request after every kFloodPerQuiet flood
// requests complete, so between two of q's requests the flood caches at
// least 20 * 24 = 480 new blocks, more than the whole pool: under plain
// LRU q's blocks, released before all of them, are always reclaimed (0%
// hits), while q's share keeps them. The kFlood prompts overflow the pool
// about kFlood * 25 / 409 = 18 times.
constexpr char kCapacity[] = "8MiB";
constexpr int64_t kCapacityBlocks = (int64_t{8} << 20) / kBlockBytes;
constexpr int kFlood = 300;
constexpr int kFloodPerQuiet = 20;
constexpr int kFloodThreads = 8;

// About 400 tokens of story-like text, different from its first words on
// for each `seed` (so that no two share a cached block).
std::string Prompt(const std::string& head, uint32_t seed) {
  static constexpr const char* kWords[] = {
      "the",  "little", "girl", "saw",  "a",     "big",  "red",
      "ball", "in",     "park", "and",  "she",   "was",  "happy",
      "dog",  "ran",    "to",   "tree", "with",  "her",  "friend",
      "sun",  "day",    "play", "mom",  "said",  "look", "bird",
      "sky",  "blue",   "cat",  "sat",  "on",    "mat",  "they",
      "went", "home",   "ate",  "cake", "smile", "jump", "fast"};
  constexpr uint32_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);
  std::string text = head;
  uint32_t x = seed * 2654435761u + 12345u;
  for (int i = 0; i < 190; ++i) {
    x = x * 1664525u + 1013904223u;
    absl::StrAppend(&text, " ", kWords[(x >> 16) % kNumWords]);
    if (i % 12 == 11) absl::StrAppend(&text, ".");
  }
  return text;
}

ConfigSpec FloodConfig(const std::string& quiet_share) {
  ConfigSpec spec;
  spec.capacity = kCapacity;
  TenantSpec q;
  q.name = "q";
  q.api_key = kQuietKey;
  q.cache_share = quiet_share;
  TenantSpec n;
  n.name = "n";
  n.api_key = kNoisyKey;
  spec.tenants = {q, n};  // both reserved 0; n's share: 0 (its reserved)
  return spec;
}

// q repeats one prompt, n floods kFlood unique prompts kFloodThreads at a
// time; q's requests are ordered by the count of completed flood requests,
// not by time.
TEST(CacheShareTest, QuietTenantKeepsItsPromptCachedWhileAnotherFloods) {
  // 10% of 8 MiB is 40 blocks: room for q's 25.
  absl::StatusOr<std::unique_ptr<LiveServer>> started =
      LiveServer::Start(FloodConfig("10%"));
  ASSERT_TRUE(started.ok()) << started.status();
  LiveServer& server = **started;
  auto stub = server.Generation();

  const v1::GenerateRequest quiet =
      TextRequest(Prompt("You are a helpful storyteller.", 0), 1);
  const Outcome first = RunUnary(*stub, kQuietKey, quiet);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const int64_t quiet_prompt = first.usage.prompt_tokens();
  ASSERT_GE(quiet_prompt, 360);
  ASSERT_LE(quiet_prompt, 440);
  ASSERT_EQ(first.usage.cached_prompt_tokens(), 0);

  std::atomic<int> next{0};
  std::atomic<int> done{0};
  std::atomic<int64_t> flood_tokens{0};
  std::atomic<int> flood_errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kFloodThreads; ++w) {
    threads.emplace_back([&] {
      auto flood_stub = server.Generation();
      for (int i = next++; i < kFlood; i = next++) {
        const Outcome o = RunUnary(
            *flood_stub, kNoisyKey,
            TextRequest(Prompt(absl::StrCat("Story ", i, "."), i + 1), 1));
        if (!o.status.ok()) ++flood_errors;
        flood_tokens += o.usage.prompt_tokens();
        ++done;
      }
    });
  }
  int64_t repeat_prompt = 0;
  int64_t repeat_cached = 0;
  int repeats = 0;
  // No ASSERT until the flood threads are joined (a return would leave
  // them joinable).
  for (int k = kFloodPerQuiet; k <= kFlood; k += kFloodPerQuiet) {
    if (!WaitUntil([&] { return done.load() >= k; }, kCallTimeout)) {
      ADD_FAILURE() << "the flood stalled at " << done.load() << " of " << k;
      break;
    }
    const Outcome o = RunUnary(*stub, kQuietKey, quiet);
    EXPECT_TRUE(o.status.ok()) << o.status.error_message();
    repeat_prompt += o.usage.prompt_tokens();
    repeat_cached += o.usage.cached_prompt_tokens();
    ++repeats;
  }
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(::testing::Test::HasFailure());
  ASSERT_EQ(repeats, kFlood / kFloodPerQuiet);
  EXPECT_EQ(flood_errors.load(), 0);
  // The premise: the flood went through the pool many times over.
  EXPECT_GE(flood_tokens.load(), 15 * kCapacityBlocks * kBlockSize);

  // GetStats counts the same cached tokens the responses reported. The
  // engine publishes its stats at the end of a step, after it answered the
  // step's finished requests: wait for the snapshot of the last one.
  absl::StatusOr<v1::GetStatsResponse> stats;
  EXPECT_TRUE(WaitUntil(
      [&] {
        stats = server.Stats();
        return stats.ok() && stats->running() == 0 &&
               FindTenant(*stats, "q").prefix_hit_tokens() == repeat_cached;
      },
      kCallTimeout));
  ASSERT_TRUE(stats.ok()) << stats.status();
  const v1::TenantStats q = FindTenant(*stats, "q");
  const v1::TenantStats n = FindTenant(*stats, "n");
  EXPECT_EQ(q.prefix_hit_tokens(), repeat_cached);
  const double hit = static_cast<double>(q.prefix_hit_tokens()) /
                     static_cast<double>(repeat_prompt);
  std::printf(
      "cache_share: q cached %lld of %lld prompt tokens (%.1f%%) "
      "over %d repeats; flood %lld prompt tokens\n",
      static_cast<long long>(q.prefix_hit_tokens()),
      static_cast<long long>(repeat_prompt), 100 * hit, repeats,
      static_cast<long long>(flood_tokens.load()));
  EXPECT_GE(hit, 0.9);
  // q's prompt is still cached (its 24 whole blocks at least), n holds
  // cached blocks too, and cached blocks are nobody's usage.
  EXPECT_GE(q.kv_cached_bytes(), 24 * kBlockBytes);
  EXPECT_GT(n.kv_cached_bytes(), 0);
  EXPECT_LE(q.kv_cached_bytes() + n.kv_cached_bytes(),
            kCapacityBlocks * kBlockBytes);
  EXPECT_EQ(q.kv_used_bytes(), 0);
}

}  // namespace
}  // namespace kvasir::integration
