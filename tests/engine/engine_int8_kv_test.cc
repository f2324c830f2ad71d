// The int8 KV cache (kv_cache.dtype: int8) served end to end on the real
// stories260K model: its geometry in the engine's stats, greedy decoding
// close to llama.cpp's f32 continuation, and the cache's paths (prefix
// cache hits, preemption and recomputation) giving exactly the tokens of
// an uncontended run. int8 rounds each (token, KV head) row on its own, so
// recomputed or shared rows are bit for bit the ones first written.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "engine/engine.h"
#include "engine/engine_builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/golden.h"
#include "tests/testing/paths.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::GoldenCase;
using ::kvasir::testing::ModelPath;
using ::kvasir::testing::ReadGolden;
using ::kvasir::testing::RecordingSink;
using ::testing::IsEmpty;

constexpr int kBlockSize = 16;

struct EngineSetup {
  kvcache::KvDtype dtype = kvcache::KvDtype::kInt8;
  int64_t capacity_tokens = 1024;
  bool prefix_caching = false;
};

std::unique_ptr<Engine> MakeEngine(const EngineSetup& setup) {
  ModelSource source;
  source.path = ModelPath("stories260K.gguf");
  auto model = LoadModelForEngine(source);
  EXPECT_OK(model);
  if (!model.ok()) return nullptr;
  Engine::Options o;
  o.max_batch_tokens = 16;
  o.max_running = 8;
  o.block_size = kBlockSize;
  o.kv_dtype = setup.dtype;
  o.prefix_caching = setup.prefix_caching;
  o.kv_capacity_bytes = KvBytesForTokens((*model)->config, setup.dtype,
                                         kBlockSize, setup.capacity_tokens);
  auto engine = BuildEngineFromModel(*std::move(model), {}, o,
                                     {SoleTenant(o.kv_capacity_bytes)});
  EXPECT_OK(engine);
  return engine.ok() ? *std::move(engine) : nullptr;
}

Request Req(std::vector<int32_t> prompt, int max_new_tokens) {
  Request r;
  r.tenant = "default";
  r.prompt = std::move(prompt);
  r.stopping.max_new_tokens = max_new_tokens;
  return r;
}

// Greedy tokens of `prompt`, alone in `engine`.
std::vector<int32_t> Generate(Engine& engine, const std::vector<int32_t>& p,
                              int n) {
  auto sink = std::make_shared<RecordingSink>();
  EXPECT_OK(engine.Submit(Req(p, n), sink));
  EXPECT_TRUE(sink->WaitForFinish());
  EXPECT_THAT(sink->violations(), IsEmpty());
  return sink->token_ids();
}

// Tokens before the first difference.
size_t CommonPrefix(const std::vector<int32_t>& a,
                    const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

TEST(Int8KvEngineTest, StatsShowTheSmallerRowsAndMoreBlocks) {
  // stories260K: 5 layers, 4 KV heads of 8: 2 * 5 * 4 * (8 + 4) = 480
  // bytes per token in int8 against 1280 in f32.
  std::unique_ptr<Engine> f32 =
      MakeEngine({.dtype = kvcache::KvDtype::kF32, .capacity_tokens = 480});
  ASSERT_NE(f32, nullptr);
  const int64_t capacity =
      f32->Stats().kv.total_blocks * f32->Stats().kv.block_bytes;  // 30 blocks
  EXPECT_EQ(f32->Stats().kv.bytes_per_token, 1280);
  EXPECT_EQ(f32->Stats().kv.total_blocks, 30);

  std::unique_ptr<Engine> int8 = MakeEngine({});
  ASSERT_NE(int8, nullptr);
  const kvcache::KvCacheStats s = int8->Stats().kv;
  EXPECT_EQ(s.bytes_per_token, 480);
  EXPECT_EQ(s.block_bytes, 480 * kBlockSize);
  // The same bytes hold 8/3 as many int8 blocks: 30 * 1280 / 480 = 80.
  EXPECT_EQ(capacity / s.block_bytes, 80);
  // What ModelInfo reports (server/rpc/response_convert.cc).
  EXPECT_EQ(int8->kv_layout().dtype, kvcache::KvDtype::kInt8);
  EXPECT_EQ(int8->kv_layout().BytesPerToken(), 480);
  EXPECT_EQ(f32->kv_layout().BytesPerToken(), 1280);
}

// All six golden prompts at once in a cache of 160 tokens (the longest
// needs 69): chunked prefill, preemption and recomputation. Every request
// gets exactly the tokens it gets alone in a large cache; and those stay
// close to llama.cpp's f32-cache continuation.
TEST(Int8KvEngineTest, PreemptionRecomputesTheSameTokens) {
  const std::vector<GoldenCase> cases = ReadGolden("stories260K.jsonl");
  ASSERT_EQ(cases.size(), 6u);
  std::vector<std::vector<int32_t>> alone;
  {
    std::unique_ptr<Engine> big = MakeEngine({});
    ASSERT_NE(big, nullptr);
    size_t agree = 0, total = 0;
    for (const GoldenCase& c : cases) {
      const int n = static_cast<int>(c.continuation.size());
      alone.push_back(Generate(*big, c.prompt_ids, n));
      ASSERT_EQ(alone.back().size(), c.continuation.size());
      agree += CommonPrefix(alone.back(), c.continuation);
      total += c.continuation.size();
      // Greedy decoding of a 260K-parameter model amplifies any rounding
      // once two tokens are close; the first tokens must agree.
      EXPECT_GE(CommonPrefix(alone.back(), c.continuation), 8u)
          << "prompt '" << c.prompt << "'";
    }
    // Most of the 384 golden tokens come before the first divergence.
    EXPECT_GE(agree * 2, total) << agree << " of " << total;
  }

  absl::Notification all_submitted;
  std::unique_ptr<Engine> engine = MakeEngine({.capacity_tokens = 160});
  ASSERT_NE(engine, nullptr);
  absl::Cleanup release = [&] {
    if (!all_submitted.HasBeenNotified()) all_submitted.Notify();
  };
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (const GoldenCase& c : cases) {
    sinks.push_back(sinks.empty()
                        ? std::make_shared<RecordingSink>(&all_submitted)
                        : std::make_shared<RecordingSink>());
    ASSERT_OK(engine->Submit(
        Req(c.prompt_ids, static_cast<int>(c.continuation.size())),
        sinks.back()));
  }
  std::move(release).Invoke();
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_TRUE(sinks[i]->WaitForFinish());
    EXPECT_THAT(sinks[i]->violations(), IsEmpty());
    EXPECT_EQ(sinks[i]->token_ids(), alone[i]) << "prompt " << i;
  }
  EXPECT_GT(engine->Stats().preemptions, 0);
  engine->Shutdown(absl::InfiniteDuration());
  const EngineStats s = engine->Stats();
  EXPECT_EQ(s.kv.free_blocks + s.kv.cached_blocks, s.kv.total_blocks);
}

// A prompt of 69 tokens (4 full blocks) served twice with prefix caching:
// the second request reuses the first's int8 blocks (rows and scales) and
// gets the same tokens as an engine without prefix caching.
TEST(Int8KvEngineTest, PrefixCacheHitsGiveTheSameTokens) {
  const std::vector<GoldenCase> cases = ReadGolden("stories260K.jsonl");
  ASSERT_FALSE(cases.empty());
  std::vector<int32_t> prompt = cases[0].prompt_ids;
  prompt.insert(prompt.end(), cases[0].continuation.begin(),
                cases[0].continuation.end());
  constexpr int kNew = 24;

  std::unique_ptr<Engine> plain = MakeEngine({});
  ASSERT_NE(plain, nullptr);
  const std::vector<int32_t> want = Generate(*plain, prompt, kNew);
  ASSERT_EQ(want.size(), size_t{kNew});

  std::unique_ptr<Engine> cached = MakeEngine({.prefix_caching = true});
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(Generate(*cached, prompt, kNew), want);
  EXPECT_EQ(cached->Stats().kv.prefix_hit_tokens, 0);
  EXPECT_EQ(Generate(*cached, prompt, kNew), want);
  EXPECT_GE(cached->Stats().kv.prefix_hit_tokens, 4 * kBlockSize);
}

}  // namespace
}  // namespace kvasir::engine
