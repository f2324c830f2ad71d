// The step loop's rule: no heap allocation per token. This binary replaces
// the global operator new with a counting one and checks that, once warm
// (primitives made, buffers grown), LlamaRunner::Step and the scheduler's
// decode steps allocate nothing.
//
// oneDNN 2.6 itself allocates inside every dnnl_primitive_execute (it
// builds a std::unordered_map of the arguments): out of our hands, so
// allocations with libdnnl on the stack are counted apart.

#include <dlfcn.h>
#include <execinfo.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/llama_runner.h"
#include "engine/ops/dense_gemv.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/sched/scheduler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_arena.h"
#include "tests/engine/decoder_test_util.h"
#include "tests/engine/sched/sched_harness.h"
#include "tests/testing/status_matchers.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
std::atomic<int64_t> g_onednn_allocations{0};

// Whether libdnnl is on the calling thread's stack. (backtrace and dladdr
// use malloc, not operator new.)
bool CalledFromOneDnn() {
  void* frames[32];
  const int n = backtrace(frames, 32);
  for (int i = 1; i < n; ++i) {
    Dl_info info;
    if (dladdr(frames[i], &info) != 0 && info.dli_fname != nullptr &&
        std::strstr(info.dli_fname, "libdnnl") != nullptr) {
      return true;
    }
  }
  return false;
}

}  // namespace

// Replacements of the (unaligned) global allocation functions; the aligned
// ones keep their default definitions, which do not call these. (GCC cannot
// tell that these deletes pair with the news above.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) {
    (CalledFromOneDnn() ? g_onednn_allocations : g_allocations)
        .fetch_add(1, std::memory_order_relaxed);
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace kvasir::engine {
namespace {

using ::kvasir::engine::sched::testing::BlocksTenant;
using ::kvasir::engine::sched::testing::SchedHarness;
using ::kvasir::testing::IsOk;

// Heap allocations made by fn (on any thread), except oneDNN's own.
template <typename Fn>
int64_t CountAllocations(Fn&& fn) {
  CalledFromOneDnn();  // the first backtrace loads the unwinder
  g_allocations.store(0);
  g_onednn_allocations.store(0);
  g_counting.store(true);
  fn();
  g_counting.store(false);
  return g_allocations.load();
}

TEST(StepAllocationTest, CountingWorks) {
  // The vector escapes through a volatile pointer, so the compiler may not
  // elide either allocation (new/delete pairs are elidable otherwise).
  static std::vector<int>* volatile escape = nullptr;
  const int64_t n = CountAllocations([] {
    auto v = std::make_unique<std::vector<int>>(100);
    escape = v.get();
  });
  EXPECT_NE(escape, nullptr);
  EXPECT_EQ(n, 2);
}

// Every projection and embedding matrix of `model` re-encoded as `type`.
void QuantizeMatrices(Model& model, uint32_t type) {
  auto encode = [type](Tensor& t) {
    Tensor q = Tensor::UninitializedBlocks(type, t.dim(0), t.dim(1));
    for (int64_t r = 0; r < t.dim(0); ++r) {
      quant::QuantizeRow(type, t.row(r), t.dim(1),
                         q.bytes() + r * q.row_bytes());
    }
    t = std::move(q);
  };
  ModelWeights& w = model.weights;
  encode(w.tok_embeddings);
  if (!w.output.empty()) encode(w.output);
  for (LayerWeights& l : w.layers) {
    for (Tensor* t :
         {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      encode(*t);
    }
  }
}

// f32 weights (oneDNN) or Q8_0 weights (Kvasir's quantized kernels).
class StepAllocationRunnerTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(StepAllocationRunnerTest, LlamaRunnerStepDoesNotAllocateOnceWarm) {
  testing::TinyShape shape = testing::TinyShapes()[2];  // GQA, G = 4
  shape.n_layers = 3;
  // A prefill chunk past the decode GEMV's rows, so that f32 runs oneDNN.
  constexpr int kPrefill = ops::kMaxGemvRows + 2;
  constexpr int kPromptLen = kPrefill + 3;
  constexpr int kBlocksPerSeq = (kPromptLen + 3) / 4;
  LlamaRunner::Options options;
  options.max_batch_tokens = kPrefill + 1;
  options.max_seqs = 4;
  options.block_size = 4;
  std::unique_ptr<Model> model = testing::RandomModel(shape, 11);
  if (GetParam() != 0) QuantizeMatrices(*model, GetParam());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LlamaRunner> runner,
                       LlamaRunner::CreateOwning(options, std::move(model)));
  ASSERT_OK_AND_ASSIGN(
      kvcache::KvArena kv,
      kvcache::KvArena::Create(
          runner->kv_layout(),
          runner->kv_layout().BlockBytes() * 2 * kBlocksPerSeq));
  const std::vector<int32_t> prompt =
      testing::RandomTokens(kPromptLen, shape.vocab_size, 1);
  std::vector<int32_t> tables[2];
  for (int b = 0; b < 2 * kBlocksPerSeq; ++b) {
    tables[b / kBlocksPerSeq].push_back(b);
  }
  // A decode of two sequences (M = 2) after a prefill chunk plus a decode
  // (M = kPrefill + 1): each shape's primitives exist after the first
  // steps.
  auto step = [&](int pos) {
    const SequenceStep decode[] = {
        {.tokens = absl::MakeConstSpan(prompt).subspan(pos, 1),
         .start_pos = pos,
         .block_table = tables[0],
         .compute_logits = true},
        {.tokens = absl::MakeConstSpan(prompt).subspan(pos, 1),
         .start_pos = pos,
         .block_table = tables[1],
         .compute_logits = true}};
    return runner->Step(decode, kv);
  };
  const SequenceStep prefill[] = {
      {.tokens = absl::MakeConstSpan(prompt).subspan(0, kPrefill),
       .start_pos = 0,
       .block_table = tables[0],
       .compute_logits = true},
      {.tokens = absl::MakeConstSpan(prompt).subspan(0, 1),
       .start_pos = 0,
       .block_table = tables[1],
       .compute_logits = true}};
  ASSERT_THAT(runner->Step(prefill, kv), IsOk());
  ASSERT_THAT(step(kPrefill), IsOk());

  absl::Status status;
  const int64_t n = CountAllocations([&] {
    for (int pos = kPrefill; pos < kPromptLen && status.ok(); ++pos) {
      status = step(pos);
    }
    if (status.ok()) status = runner->Step(prefill, kv);
  });
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(n, 0);
  if (GetParam() == 0) {
    // (The exclusion above is no blanket: the steps did run oneDNN.)
    EXPECT_GT(g_onednn_allocations.load(), 0);
  } else {
    EXPECT_THAT(runner->matmul_impl(), ::testing::HasSubstr("quant:"));
    EXPECT_EQ(g_onednn_allocations.load(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, StepAllocationRunnerTest,
                         ::testing::Values(0u, 8u),  // F32, Q8_0
                         [](const auto& info) {
                           return info.param == 0 ? "F32" : "Q8_0";
                         });

TEST(StepAllocationTest, SchedulerDecodeStepsDoNotAllocate) {
  // A long tenant name (no small-string optimisation), blocks of 16 tokens.
  const std::string tenant = "tenant-with-a-name-longer-than-sso";
  SchedHarness::Options o;
  o.num_blocks = 4;
  o.block_size = 16;
  o.max_batch_tokens = 64;
  SchedHarness h(o, {BlocksTenant(tenant, 0, 4, 1.0, 16)});
  std::vector<int32_t> prompt;
  for (int i = 0; i < 16; ++i) prompt.push_back(i + 1);
  ASSERT_OK(h.Submit("a", tenant, 0, 14, 0, absl::InfiniteFuture(), prompt));
  ASSERT_OK(h.Submit("b", tenant, 16, 14));
  sched::Scheduler& s = h.sched();
  const int32_t kv_id = s.tenant(0).kv_id;

  // One engine step (Schedule, Commit, the sampled tokens), as the engine
  // does it, minus the model; returns the allocations of the scheduler and
  // the per-step stats query.
  auto step = [&] {
    const sched::StepPlan* plan = nullptr;
    int64_t n = CountAllocations([&] { plan = &s.Schedule(); });
    n += CountAllocations([&] {
      s.Commit();
      const kvcache::TenantKvStats u = h.kv().GetTenant(kv_id);
      EXPECT_GE(u.used_blocks, 0);
    });
    for (const sched::ScheduledSeq& e : plan->scheduled) {
      if (!e.compute_logits) continue;
      e.seq->tokens.reserve(64);  // the engine's token vector, not ours
      e.seq->AppendToken(500 + e.seq->num_tokens());
    }
    return n;
  };
  step();  // prefills: the first block of each
  // c shares a's first block (cached) but needs a second one that no one
  // has: it waits at every step below, looking its prefix up each time.
  std::vector<int32_t> longer = prompt;
  longer.push_back(99);
  ASSERT_OK(h.Submit("c", tenant, 0, 2, 0, absl::InfiniteFuture(), longer));
  step();  // a and b take their second blocks; c waits
  EXPECT_EQ(h.State(), "a:D17 b:D17 c:W");
  // Positions 17..28: inside the second blocks.
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(step(), 0) << "decode step " << i;
  }
  EXPECT_EQ(h.State(), "a:D29 b:D29 c:W");
}

TEST(StepAllocationTest, RateLimitedDecodeStepsDoNotAllocate) {
  const std::string tenant = "tenant-with-a-name-longer-than-sso";
  SchedHarness::Options o;
  o.num_blocks = 4;
  o.block_size = 16;
  o.max_batch_tokens = 64;
  // 100 tokens/s, 5 ms steps: every other step has a token for one stream.
  TenantConfig t = BlocksTenant(tenant, 0, 4, 1.0, 16);
  t.rate_limit.tokens_per_second = 100;
  t.rate_limit.burst = 2;
  SchedHarness h(o, {t});
  // 8-token prompts: the decodes below stay inside their first blocks.
  ASSERT_OK(h.Submit("a", tenant, 8, 30));
  ASSERT_OK(h.Submit("b", tenant, 8, 30));
  EXPECT_EQ(h.Step(), "a+8 b+8");  // both tokens of the burst
  sched::Scheduler& s = h.sched();
  int served = 0;
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    h.clock().Advance(absl::Milliseconds(5));
    const sched::StepPlan* plan = nullptr;
    EXPECT_EQ(CountAllocations([&] {
                plan = &s.Schedule();
                s.Commit();
              }),
              0)
        << "step " << i;
    (plan->scheduled.empty() ? refused : served) += 1;
    for (const sched::ScheduledSeq& e : plan->scheduled) {
      e.seq->AppendToken(500 + e.seq->num_tokens());
    }
  }
  EXPECT_EQ(served, 10);
  EXPECT_EQ(refused, 10);
}

}  // namespace
}  // namespace kvasir::engine
