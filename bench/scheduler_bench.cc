// Scheduler micro-benchmark: the CPU cost of one continuous-batching step
// (Schedule + Commit, no model) with N running sequences spread over T
// tenants. Sequences decode until 256 tokens, then finish and a new request
// (a 64-token prompt) takes their place, so steps mix decodes and prefill.
// This is the per-step overhead the engine adds to every model step.
//
//   build/bench/scheduler_bench --benchmark_counters_tabular=true
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/clock.h"
#include "engine/sched/admission_control.h"
#include "engine/sched/scheduler.h"
#include "engine/sched/sequence.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::engine::sched {
namespace {

constexpr int kBlockSize = 16;
constexpr int kPrompt = 64;
constexpr int kMaxTokens = 256;

kvcache::KvLayout BenchLayout() {
  kvcache::KvLayout layout;
  layout.n_layers = 1;
  layout.n_kv_heads = 1;
  layout.head_dim = 1;
  layout.block_size = kBlockSize;
  return layout;
}

void BM_Step(benchmark::State& state) {
  const int running = static_cast<int>(state.range(0));
  const int tenants = static_cast<int>(state.range(1));
  FakeClock clock;
  kvcache::KvCacheManager::Options ko;
  ko.layout = BenchLayout();
  // Every sequence at full length, twice over.
  ko.capacity_bytes = int64_t{2} * running * (kMaxTokens / kBlockSize + 1) *
                      ko.layout.BlockBytes();
  std::vector<TenantConfig> configs;
  for (int t = 0; t < tenants; ++t) {
    TenantConfig c;
    c.name = absl::StrCat("tenant", t);
    c.limit_bytes = ko.capacity_bytes;
    c.weight = 1.0 + t;
    configs.push_back(c);
  }
  auto kv = kvcache::KvCacheManager::Create(ko, ToKvBudgets(configs));
  if (!kv.ok()) {
    state.SkipWithError(std::string(kv.status().message()).c_str());
    return;
  }
  AdmissionControl admission(1 << 20);
  auto sched = Scheduler::Create({.max_batch_tokens = running + kPrompt,
                                  .max_running = running,
                                  .clock = &clock},
                                 kv->get(), &admission, configs);
  if (!sched.ok()) {
    state.SkipWithError(std::string(sched.status().message()).c_str());
    return;
  }
  std::vector<std::unique_ptr<Sequence>> seqs(static_cast<size_t>(running));
  int32_t next_token = 0;
  auto fresh = [&](size_t i) {
    auto s = std::make_unique<Sequence>();
    s->id = i;
    s->tenant = configs[i % configs.size()].name;
    for (int k = 0; k < kPrompt; ++k) s->tokens.push_back(next_token++);
    s->tokens.reserve(kMaxTokens + 1);
    s->prompt_len = kPrompt;
    s->max_new_tokens = kMaxTokens - kPrompt;
    if (!(*sched)->Add(s.get()).ok()) state.SkipWithError("Add failed");
    seqs[i] = std::move(s);
  };
  for (size_t i = 0; i < seqs.size(); ++i) fresh(i);
  int64_t tokens = 0;
  for (auto _ : state) {
    const StepPlan& plan = (*sched)->Schedule();
    (*sched)->Commit();
    tokens += plan.num_tokens;
    for (const ScheduledSeq& e : plan.scheduled) {
      if (e.compute_logits) e.seq->AppendToken(next_token++ & 0xffff);
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (seqs[i]->num_generated() >= seqs[i]->max_new_tokens) {
        (*sched)->Finish(seqs[i].get());
        fresh(i);
      }
    }
  }
  for (auto& s : seqs) (*sched)->Finish(s.get());
  state.counters["per_token"] = benchmark::Counter(
      static_cast<double>(tokens),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Step)
    ->ArgsProduct({{8, 64, 256}, {1, 8}})
    ->ArgNames({"running", "tenants"});

}  // namespace
}  // namespace kvasir::engine::sched

BENCHMARK_MAIN();
