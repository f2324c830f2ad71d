#ifndef KVASIR_TESTS_ENGINE_ENGINE_TEST_FIXTURE_H_
#define KVASIR_TESTS_ENGINE_ENGINE_TEST_FIXTURE_H_

// The EngineTest fixture of engine_test.cc and engine_admission_test.cc:
// an Engine on the FakeRunner and a fake clock, with helpers to build,
// submit and run requests.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_runner.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::engine_test {

using ::kvasir::testing::FakeRunner;
using ::kvasir::testing::RecordingSink;

// FakeRunner's K/V: 1 layer, 1 head, head_dim 2, f32 = 16 bytes per token;
// 16-token blocks of 256 bytes.
constexpr int64_t kBlockBytes = 256;

inline TenantConfig Tenant(std::string name, int64_t reserved_blocks = 0,
                           int64_t limit_blocks = 256) {
  TenantConfig t;
  t.name = std::move(name);
  t.reserved_bytes = reserved_blocks * kBlockBytes;
  t.limit_bytes = limit_blocks * kBlockBytes;
  return t;
}

inline Engine::Options DefaultOptions() {
  Engine::Options o;
  o.max_batch_tokens = 64;
  o.max_running = 16;
  o.max_queued = 64;
  o.block_size = 16;
  o.kv_capacity_bytes = 256 * kBlockBytes;
  return o;
}

inline std::string Bytes(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (id >= 3 && id < 259) s.push_back(static_cast<char>(id - 3));
  }
  return s;
}

inline void ExpectAllBlocksFree(const EngineStats& s) {
  EXPECT_GT(s.kv.total_blocks, 0);
  EXPECT_EQ(s.kv.free_blocks + s.kv.cached_blocks, s.kv.total_blocks);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.queued, 0);
  for (const TenantStats& t : s.tenants) {
    EXPECT_EQ(t.kv.used_blocks, 0) << t.name;
  }
}

class EngineTest : public ::testing::Test {
 protected:
  // A setup where Req(..., kEndless) practically never ends: it would take
  // a million steps. Tests that need a request to stay running whatever
  // the thread timing use it (and cancel it).
  static constexpr int32_t kEndless = 999000;
  void StartEndless(int32_t max_running,
                    std::vector<TenantConfig> tenants = {}) {
    Engine::Options o = DefaultOptions();
    o.max_running = max_running;
    o.kv_capacity_bytes = 62600 * kBlockBytes;
    if (tenants.empty()) tenants = {Tenant("t", 0, 62600)};
    FakeRunner::Options ro;
    ro.context_length = 1000000;
    Start(o, tenants, ro);
  }

  void Start(Engine::Options options = DefaultOptions(),
             std::vector<TenantConfig> tenants = {Tenant("t")},
             FakeRunner::Options ro = {}) {
    auto runner = FakeRunner::Create(ro);
    ASSERT_OK(runner);
    runner_ = runner->get();
    options.clock = &clock_;
    auto engine = Engine::Create(options, *std::move(runner), tenants);
    ASSERT_OK(engine);
    engine_ = *std::move(engine);
  }

  void TearDown() override {
    if (engine_ == nullptr) return;
    runner_->Resume();
    engine_->Shutdown(absl::InfiniteDuration());
    ExpectAllBlocksFree(engine_->Stats());
  }

  static Request Req(absl::string_view text, int32_t max_new,
                     std::string tenant = "t") {
    Request r;
    r.tenant = std::move(tenant);
    r.prompt = FakeRunner::Ids(text);
    r.stopping.max_new_tokens = max_new;
    return r;
  }

  std::shared_ptr<RecordingSink> Submit(Request r) {
    auto sink = std::make_shared<RecordingSink>();
    auto id = engine_->Submit(std::move(r), sink);
    EXPECT_OK(id);
    return sink;
  }

  std::shared_ptr<RecordingSink> Run(Request r) {
    auto sink = Submit(std::move(r));
    EXPECT_TRUE(sink->WaitForFinish());
    EXPECT_THAT(sink->violations(), ::testing::IsEmpty());
    return sink;
  }

  FakeClock clock_;
  FakeRunner* runner_ = nullptr;
  std::unique_ptr<Engine> engine_;
};

}  // namespace kvasir::engine::engine_test

#endif  // KVASIR_TESTS_ENGINE_ENGINE_TEST_FIXTURE_H_
