// Step time of the Llama decoder (LlamaRunner) on random-weight models
// shaped like stories110M and TinyLlama-1.1B: single-sequence decode,
// batched decode and a 512-token prefill, split into matmul / attention /
// other time (LlamaRunner::last_timings).
//
//   build/bench/decoder_bench [--shapes=110m,1b] [--weights=f32|bf16]
//                             [--kv=f32|bf16] [--context=256] [--no_matmuls]
//                             [--benchmark_* flags]
//
// It first times the TinyLlama-1.1B projections as oneDNN matmuls two ways,
// the measurement behind ops::Linear's design: one primitive per row count
// M with weights in the layout the kernel picks (what Linear does), against
// one primitive with a runtime M (DNNL_RUNTIME_DIM_VAL).
//
// Decode steps run at position --context: the sequences' block tables
// cover that many cached positions, whose K/V are whatever the (zeroed)
// arena holds. The work of a step does not depend on those values, so this
// measures a decode step at that context without a long prefill first.

#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "engine/model/dummy_model.h"
#include "engine/model/llama_runner.h"
#include "engine/model/model.h"
#include "engine/ops/linear.h"
#include "kvcache/kv_arena.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace kvasir::engine {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Flags {
  std::vector<std::string> shapes = {"110m", "1b"};
  WeightsDtype weights = WeightsDtype::kF32;
  kvcache::KvDtype kv = kvcache::KvDtype::kF32;
  int context = 256;
  bool matmuls = true;
};

// Runs `n_seqs` sequences of `n_tokens` new tokens each at position `pos`
// per step, logits for every sequence.
void RunSteps(benchmark::State& state, LlamaRunner& runner,
              kvcache::KvArena& kv, int n_seqs, int n_tokens, int pos) {
  const int blocks_per_seq =
      static_cast<int>(runner.kv_layout().BlocksForTokens(pos + n_tokens));
  std::vector<std::vector<int32_t>> tables(n_seqs);
  std::vector<int32_t> tokens(n_tokens);
  for (int i = 0; i < n_tokens; ++i) tokens[i] = (i * 7919 + 13) % 32000;
  std::vector<SequenceStep> seqs(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    for (int b = 0; b < blocks_per_seq; ++b) {
      tables[s].push_back(s * blocks_per_seq + b);
    }
    seqs[s] = {.tokens = tokens,
               .start_pos = pos,
               .block_table = tables[s],
               .compute_logits = true};
  }
  // Warm-up step: creates the primitives for this M.
  if (absl::Status st = runner.Step(seqs, kv); !st.ok()) {
    state.SkipWithError(std::string(st.message()).c_str());
    return;
  }
  double matmul = 0, attention = 0, other = 0;
  for (auto _ : state) {
    absl::Status st = runner.Step(seqs, kv);
    if (!st.ok()) {
      state.SkipWithError(std::string(st.message()).c_str());
      return;
    }
    const StepTimings t = runner.last_timings();
    matmul += t.matmul_ns;
    attention += t.attention_ns;
    other += t.other_ns;
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["matmul_ms"] = matmul / it * 1e-6;
  state.counters["attention_ms"] = attention / it * 1e-6;
  state.counters["other_ms"] = other / it * 1e-6;
  state.counters["primitives"] = runner.cached_primitives();
  state.counters["tokens_per_s"] = benchmark::Counter(
      double(n_seqs) * n_tokens, benchmark::Counter::kIsIterationInvariantRate);
}

// y[M, N] = x[M, K] W^T for the projections of TinyLlama-1.1B.
struct MatmulShape {
  const char* name;
  int64_t n, k;
};
const MatmulShape kMatmuls[] = {
    {"wqkv", 2560, 2048}, {"w_gate_up", 11264, 2048}, {"w_down", 2048, 5632}};
const int kMatmulRows[] = {1, 8, 32, 128, 512};

std::vector<float> RandomVector(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>(SplitMix(seed + i) >> 40) * 0x1p-24f - 0.5f;
  }
  return v;
}

// ops::Linear: a fixed-M primitive per row count, weights laid out once.
void BM_FixedM(benchmark::State& state, MatmulShape shape) {
  const int m = static_cast<int>(state.range(0));
  auto ctx = ops::MatmulContext::Create();
  const std::vector<float> w = RandomVector(shape.n * shape.k, 1);
  if (!ctx.ok()) {
    state.SkipWithError("cannot create the matmul context");
    return;
  }
  const ops::Linear::WeightPart part{w.data(), shape.n};
  auto linear = ops::Linear::Create({.name = shape.name, .max_rows = m},
                                    ctx->get(), {&part, 1}, shape.k);
  if (!linear.ok()) {
    state.SkipWithError("cannot create the matmul");
    return;
  }
  ops::MatmulContext& c = **ctx;
  const std::vector<float> x = RandomVector(m * shape.k, 2);
  std::vector<float> y(static_cast<size_t>(m * shape.n));
  (void)(*linear)->Forward(c, x.data(), m, y.data());
  for (auto _ : state) {
    absl::Status st = (*linear)->Forward(c, x.data(), m, y.data());
    benchmark::DoNotOptimize(st);
  }
  state.SetLabel((*linear)->impl_name());
}

// One primitive for every M (DNNL_RUNTIME_DIM_VAL rows).
void BM_RuntimeM(benchmark::State& state, MatmulShape shape) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const int64_t m = state.range(0);
  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(eng);
    const dnnl::memory::dim rt = DNNL_RUNTIME_DIM_VAL;
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(
            dnnl::memory::desc({rt, shape.k}, dt::f32, tag::ab),
            dnnl::memory::desc({shape.k, shape.n}, dt::f32, tag::any),
            dnnl::memory::desc({rt, shape.n}, dt::f32, tag::ab)),
        eng);
    std::vector<float> w = RandomVector(shape.n * shape.k, 1);
    dnnl::memory user_w({{shape.k, shape.n}, dt::f32, tag::ba}, eng, w.data());
    dnnl::memory weights(pd.weights_desc(), eng);
    dnnl::reorder(user_w, weights).execute(stream, user_w, weights);
    dnnl::matmul primitive(pd);
    std::vector<float> x = RandomVector(m * shape.k, 2);
    std::vector<float> y(static_cast<size_t>(m * shape.n));
    dnnl::memory src({{m, shape.k}, dt::f32, tag::ab}, eng, x.data());
    dnnl::memory dst({{m, shape.n}, dt::f32, tag::ab}, eng, y.data());
    const std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    primitive.execute(stream, args);
    stream.wait();
    for (auto _ : state) {
      primitive.execute(stream, args);
      stream.wait();
    }
    state.SetLabel(pd.impl_info_str());
  } catch (const dnnl::error& e) {
    state.SkipWithError(e.what());
  }
}

void RegisterMatmulComparison() {
  for (const MatmulShape& shape : kMatmuls) {
    for (int m : kMatmulRows) {
      const std::string suffix = std::string(shape.name) + "/" +
                                 std::to_string(shape.n) + "x" +
                                 std::to_string(shape.k);
      benchmark::RegisterBenchmark(("matmul/fixed_m/" + suffix).c_str(),
                                   BM_FixedM, shape)
          ->Arg(m)
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.3);
      benchmark::RegisterBenchmark(("matmul/runtime_m/" + suffix).c_str(),
                                   BM_RuntimeM, shape)
          ->Arg(m)
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.3);
    }
  }
}

// The runner and arena of the shape being benchmarked. Benchmarks run in
// registration order, so one slot suffices: a new shape frees the previous
// model before building its own (the 1.1B model is 4 GB).
class Slot {
 public:
  explicit Slot(const Flags& flags) : flags_(flags) {}

  // Null (after printing why) if the model cannot be built.
  LlamaRunner* Get(const DummyPreset& shape) {
    if (name_ == shape.name) return runner_.get();
    kv_.reset();
    runner_.reset();
    name_ = shape.name;
    std::fprintf(stderr, "building random %s model...\n", shape.name.c_str());
    LlamaRunner::Options options;
    options.max_batch_tokens = 512;
    options.max_seqs = 64;
    options.weights_dtype = flags_.weights;
    options.kv_dtype = flags_.kv;
    absl::StatusOr<std::unique_ptr<Model>> model =
        CreateDummyModel(shape.name, /*seed=*/1);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return nullptr;
    }
    auto runner = LlamaRunner::CreateOwning(options, *std::move(model));
    if (!runner.ok()) {
      std::fprintf(stderr, "%s\n", runner.status().ToString().c_str());
      return nullptr;
    }
    const kvcache::KvLayout layout = (*runner)->kv_layout();
    // Enough blocks for 32 sequences at --context + 1, and a 512 prefill.
    const int64_t per_seq = layout.BlocksForTokens(flags_.context + 1);
    const int64_t blocks =
        std::max<int64_t>(32 * per_seq, 512 / layout.block_size);
    auto kv = kvcache::KvArena::Create(layout, blocks * layout.BlockBytes());
    if (!kv.ok()) {
      std::fprintf(stderr, "%s\n", kv.status().ToString().c_str());
      return nullptr;
    }
    runner_ = std::move(runner).value();
    kv_ = std::make_unique<kvcache::KvArena>(std::move(kv).value());
    std::fprintf(stderr,
                 "%s: %.2f GB of %s weights, matmul kernel %s, %d threads, "
                 "%d matmul primitives after load, KV %s\n",
                 shape.name.c_str(), runner_->weight_bytes() * 1e-9,
                 std::string(WeightsDtypeName(flags_.weights)).c_str(),
                 runner_->matmul_impl().c_str(), runner_->num_threads(),
                 runner_->cached_primitives(), layout.DebugString().c_str());
    return runner_.get();
  }
  kvcache::KvArena& kv() { return *kv_; }

 private:
  Flags flags_;
  std::string name_;
  std::unique_ptr<LlamaRunner> runner_;
  std::unique_ptr<kvcache::KvArena> kv_;
};

void RegisterShape(const DummyPreset& shape, const Flags& flags, Slot* slot) {
  const std::string prefix =
      shape.name + "/" + std::string(WeightsDtypeName(flags.weights)) + "/";
  auto run = [slot, shape](benchmark::State& state, int seqs, int tokens,
                           int pos) {
    LlamaRunner* runner = slot->Get(shape);
    if (runner == nullptr) {
      state.SkipWithError("cannot build the model");
      return;
    }
    RunSteps(state, *runner, slot->kv(), seqs, tokens, pos);
  };
  for (int batch : {1, 8, 32}) {
    benchmark::RegisterBenchmark(
        (prefix + "decode/batch:" + std::to_string(batch) +
         "/context:" + std::to_string(flags.context))
            .c_str(),
        [=](benchmark::State& state) { run(state, batch, 1, flags.context); })
        ->Unit(benchmark::kMillisecond)
        ->MinTime(1.0);
  }
  benchmark::RegisterBenchmark(
      (prefix + "prefill/tokens:512").c_str(),
      [=](benchmark::State& state) { run(state, 1, 512, 0); })
      ->Unit(benchmark::kMillisecond)
      ->Iterations(shape.config.dim > 1024 ? 2 : 5);
}

}  // namespace
}  // namespace kvasir::engine

int main(int argc, char** argv) {
  using namespace kvasir::engine;
  Flags flags;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? argv[i] + n : nullptr;
    };
    if (const char* v = value("--shapes=")) {
      flags.shapes = absl::StrSplit(v, ',', absl::SkipEmpty());
    } else if (const char* v = value("--weights=")) {
      auto d = ParseWeightsDtype(v, "--weights");
      if (!d.ok())
        return std::fprintf(stderr, "%s\n", d.status().ToString().c_str()), 2;
      flags.weights = *d;
    } else if (const char* v = value("--kv=")) {
      auto d = kvasir::kvcache::ParseKvDtype(v, "--kv");
      if (!d.ok())
        return std::fprintf(stderr, "%s\n", d.status().ToString().c_str()), 2;
      flags.kv = *d;
    } else if (a == "--no_matmuls") {
      flags.matmuls = false;
    } else if (const char* v = value("--context=")) {
      flags.context = std::atoi(v);
      if (flags.context < 0 || flags.context > 1500) {
        std::fprintf(stderr, "--context %d must be in [0, 1500]\n",
                     flags.context);
        return 2;
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  if (flags.matmuls) RegisterMatmulComparison();
  Slot slot(flags);
  for (const std::string& name : flags.shapes) {
    absl::StatusOr<DummyPreset> shape = FindDummyPreset(name);
    if (!shape.ok()) {
      std::fprintf(stderr, "--shapes: %s\n",
                   std::string(shape.status().message()).c_str());
      return 2;
    }
    RegisterShape(*shape, flags, &slot);
  }
  // One run: Google Benchmark 1.7 cannot run benchmarks twice per process.
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
