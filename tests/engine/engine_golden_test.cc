// Batch invariance with the real models: every golden request, submitted
// together into an engine whose token budget forces chunked prefill and
// whose KV cache is small enough to force preemption, still produces
// exactly llama.cpp's greedy continuation.
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
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

struct ModelCase {
  std::string model;
  std::string golden;
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.model; }

class EngineGoldenTest : public ::testing::TestWithParam<ModelCase> {
 protected:
  // 16 tokens per step, 16-token blocks, 10 blocks (160 tokens) of KV: the
  // longest request alone needs 6.
  std::unique_ptr<Engine> MakeEngine() {
    ModelSource source;
    source.path = ModelPath(GetParam().model);
    auto model = LoadModelForEngine(source);
    EXPECT_OK(model);
    if (!model.ok()) return nullptr;
    Engine::Options o;
    o.max_batch_tokens = 16;
    o.max_running = 8;
    o.block_size = 16;
    o.kv_capacity_bytes =
        KvBytesForTokens((*model)->config, kvcache::KvDtype::kF32, 16, 160);
    auto engine = BuildEngineFromModel(*std::move(model), {}, o,
                                       {SoleTenant(o.kv_capacity_bytes)});
    EXPECT_OK(engine);
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  static Request Req(const GoldenCase& c) {
    Request r;
    r.tenant = "default";
    r.prompt = c.prompt_ids;
    r.stopping.max_new_tokens = static_cast<int32_t>(c.continuation.size());
    return r;
  }

  static void ExpectGolden(
      const std::vector<GoldenCase>& cases,
      const std::vector<std::shared_ptr<RecordingSink>>& sinks) {
    for (size_t i = 0; i < cases.size(); ++i) {
      ASSERT_TRUE(sinks[i]->WaitForFinish()) << cases[i].prompt;
      EXPECT_THAT(sinks[i]->violations(), IsEmpty());
      EXPECT_EQ(sinks[i]->info().reason, FinishReason::kLength);
      EXPECT_EQ(sinks[i]->token_ids(), cases[i].continuation)
          << "prompt '" << cases[i].prompt << "'";
    }
  }

  static void ExpectAllBlocksFree(Engine& engine) {
    engine.Shutdown(absl::InfiniteDuration());
    const EngineStats s = engine.Stats();
    EXPECT_EQ(s.kv.free_blocks + s.kv.cached_blocks, s.kv.total_blocks);
    for (const TenantStats& t : s.tenants) EXPECT_EQ(t.kv.used_blocks, 0);
  }
};

TEST_P(EngineGoldenTest, AllAtOnceWithChunkingAndPreemption) {
  const std::vector<GoldenCase> cases = ReadGolden(GetParam().golden);
  ASSERT_EQ(cases.size(), 6u);
  // The first sink holds the engine thread at its first token until all
  // six are submitted, so they compete for blocks on any thread schedule.
  // Declared before the engine: its thread may wait on it until ~Engine.
  absl::Notification all_submitted;
  std::unique_ptr<Engine> engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  absl::Cleanup release = [&] {  // before ~Engine, even when ASSERT returns
    if (!all_submitted.HasBeenNotified()) all_submitted.Notify();
  };
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (const GoldenCase& c : cases) {
    sinks.push_back(sinks.empty()
                        ? std::make_shared<RecordingSink>(&all_submitted)
                        : std::make_shared<RecordingSink>());
    ASSERT_OK(engine->Submit(Req(c), sinks.back()));
  }
  std::move(release).Invoke();
  ExpectGolden(cases, sinks);
  EXPECT_GT(engine->Stats().preemptions, 0);
  ExpectAllBlocksFree(*engine);
}

TEST_P(EngineGoldenTest, StaggeredArrivals) {
  const std::vector<GoldenCase> cases = ReadGolden(GetParam().golden);
  ASSERT_EQ(cases.size(), 6u);
  std::unique_ptr<Engine> engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (size_t i = 0; i < cases.size(); ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_OK(engine->Submit(Req(cases[i]), sinks.back()));
    // The next one arrives while this one is decoding.
    ASSERT_TRUE(sinks.back()->WaitForTokens(5 + 3 * i));
  }
  ExpectGolden(cases, sinks);
  ExpectAllBlocksFree(*engine);
}

INSTANTIATE_TEST_SUITE_P(
    Models, EngineGoldenTest,
    ::testing::Values(ModelCase{"stories260K.gguf", "stories260K.jsonl"},
                      ModelCase{"babyllama5000.gguf", "babyllama.jsonl"}),
    [](const ::testing::TestParamInfo<ModelCase>& info) {
      return info.param.golden == "babyllama.jsonl"
                 ? std::string("babyllama")
                 : std::string("stories260K");
    });

}  // namespace
}  // namespace kvasir::engine
