// `kvasir bench offline`: offline throughput of the engine. Keeps
// `concurrency` requests of random prompt tokens in flight until
// `requests` have run (ignore_eos: every request generates exactly
// gen-len tokens) and reports prefill and decode tokens/s and where the
// model's step time goes (matmul vs attention vs other).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/engine_builder.h"
#include "engine/ops/linear.h"
#include "engine/ops/machine_limits.h"
#include "kvcache/kv_layout.h"
#include "nlohmann/json.hpp"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/roofline_report.h"

namespace kvasir::tools {
namespace {

struct BenchFlags {
  std::string model;
  std::string tokenizer;
  int32_t kv_heads = 0;
  bool has_kv_heads = false;
  KvConvertFlags kv_convert;
  int32_t requests = 64;
  int32_t concurrency = 8;
  int32_t prompt_len = 128;
  int32_t gen_len = 128;
  int32_t max_batch_tokens = 512;
  int32_t block_size = engine::Engine::Options{}.block_size;
  std::string kv_dtype = "f32";
  std::string weights_dtype = "f32";
  int32_t threads = 0;
  uint64_t seed = 1;
  bool json = false;
  bool roofline = false;         // measure the machine's limits first
  int32_t bandwidth_mib = 1024;  // buffer of the read-bandwidth test
};

// Counts finished requests for the main thread, which tops the engine up.
class Completion {
 public:
  void Done(const engine::FinishInfo& info) {
    absl::MutexLock lock(&mu_);
    ++finished_;
    if (info.reason == engine::FinishReason::kError && error_.ok()) {
      error_ = info.error;
    }
    generated_ += info.generated_tokens;
  }
  // Waits until more than `seen` requests finished; returns the count.
  int WaitBeyond(int seen) {
    absl::MutexLock lock(&mu_);
    struct Arg {
      int* finished;
      int seen;
    } arg{&finished_, seen};
    mu_.Await(absl::Condition(
        +[](Arg* a) { return *a->finished > a->seen; }, &arg));
    return finished_;
  }
  absl::Status error() const {
    absl::MutexLock lock(&mu_);
    return error_;
  }
  int64_t generated() const {
    absl::MutexLock lock(&mu_);
    return generated_;
  }

 private:
  mutable absl::Mutex mu_;
  int finished_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t generated_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

class BenchSink final : public engine::RequestSink {
 public:
  explicit BenchSink(Completion* done) : done_(done) {}
  void OnTokens(absl::Span<const engine::GeneratedToken>,
                absl::string_view) override {}
  void OnFinish(const engine::FinishInfo& info) override { done_->Done(info); }

 private:
  Completion* done_;
};

absl::Status CheckFlags(const BenchFlags& f) {
  auto positive = [](absl::string_view flag, int64_t v) {
    return v >= 1 ? absl::OkStatus()
                  : absl::InvalidArgumentError(
                        absl::StrCat(flag, " ", v, " must be >= 1"));
  };
  for (auto [flag, v] :
       {std::pair<const char*, int64_t>{"--requests", f.requests},
        {"--concurrency", f.concurrency},
        {"--prompt-len", f.prompt_len},
        {"--gen-len", f.gen_len},
        {"--max-batch-tokens", f.max_batch_tokens},
        {"--bandwidth-mib", f.bandwidth_mib}}) {
    if (absl::Status s = positive(flag, v); !s.ok()) return s;
  }
  // The engine's own limit, named as the flag.
  if (f.block_size < 1 || f.block_size > kvcache::kMaxBlockSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("--block-size ", f.block_size, " must be in [1, ",
                     kvcache::kMaxBlockSize, "]"));
  }
  return absl::OkStatus();
}

double PerSecond(double count, int64_t ns) {
  return ns > 0 ? count * 1e9 / static_cast<double>(ns) : 0.0;
}

int RunBench(const BenchFlags& flags) {
  if (absl::Status s = CheckFlags(flags); !s.ok())
    return Fail("bench offline", s);
  absl::StatusOr<kvcache::KvDtype> kv_dtype =
      kvcache::ParseKvDtype(flags.kv_dtype, "--kv-dtype");
  if (!kv_dtype.ok()) return Fail("bench offline", kv_dtype.status());
  absl::StatusOr<engine::WeightsDtype> weights_dtype =
      engine::ParseWeightsDtype(flags.weights_dtype, "--weights-dtype");
  if (!weights_dtype.ok()) return Fail("bench offline", weights_dtype.status());

  // The limits first, on an idle machine (no engine thread yet), with the
  // thread count the engine will use.
  std::optional<engine::ops::MachineLimits> limits;
  const engine::ops::MachineLimitsOptions limits_options = {
      .threads = flags.threads > 0 ? flags.threads : omp_get_max_threads(),
      .bandwidth_bytes = int64_t{flags.bandwidth_mib} << 20};
  if (flags.roofline) {
    limits = engine::ops::MeasureMachineLimits(limits_options);
  }

  const absl::Time load_start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::LoadModelForEngine(ModelSourceFromFlags(flags));
  if (!model.ok()) return Fail("bench offline", model.status());
  const engine::ModelConfig config = (*model)->config;
  const int32_t vocab = config.vocab_size;
  if (flags.prompt_len + flags.gen_len > config.context_length) {
    return Fail(
        "bench offline",
        absl::InvalidArgumentError(absl::StrCat(
            "--prompt-len ", flags.prompt_len, " + --gen-len ", flags.gen_len,
            " exceeds the model's context length ", config.context_length)));
  }

  engine::Engine::Options options;
  options.max_batch_tokens = flags.max_batch_tokens;
  options.max_running = flags.concurrency;
  options.max_queued = std::max(flags.concurrency, 1);
  options.kv_dtype = *kv_dtype;
  options.block_size = flags.block_size;
  // Room for every in-flight sequence at full length, plus a block each.
  options.kv_capacity_bytes = engine::KvBytesForTokens(
      config, *kv_dtype, options.block_size,
      int64_t{flags.concurrency} *
          (flags.prompt_len + flags.gen_len + options.block_size));
  absl::StatusOr<std::unique_ptr<engine::Engine>> eng =
      engine::BuildEngineFromModel(
          *std::move(model),
          engine::RunnerSettings{*weights_dtype, flags.threads}, options,
          {engine::SoleTenant(options.kv_capacity_bytes)});
  if (!eng.ok()) return Fail("bench offline", eng.status());
  const double load_s = absl::ToDoubleSeconds(absl::Now() - load_start);

  std::mt19937_64 rng(flags.seed);
  // Random ids above the control tokens (0..2 are UNK/BOS/EOS in Llama
  // vocabularies), so no prompt is cut short by an EOS.
  std::uniform_int_distribution<int32_t> token(3, vocab - 1);
  Completion completion;
  auto submit = [&]() -> absl::Status {
    engine::Request r;
    r.tenant = std::string(engine::kDefaultTenantName);
    r.prompt.resize(static_cast<size_t>(flags.prompt_len));
    for (int32_t& t : r.prompt) t = token(rng);
    r.stopping.max_new_tokens = flags.gen_len;
    r.stopping.ignore_eos = true;
    return (*eng)
        ->Submit(std::move(r), std::make_shared<BenchSink>(&completion))
        .status();
  };

  const absl::Time start = absl::Now();
  int submitted = 0;
  for (; submitted < std::min(flags.concurrency, flags.requests); ++submitted) {
    if (absl::Status s = submit(); !s.ok()) return Fail("bench offline", s);
  }
  int finished = 0;
  while (finished < flags.requests) {
    finished = completion.WaitBeyond(finished);
    if (!completion.error().ok())
      return Fail("bench offline", completion.error());
    // Keep `concurrency` in flight.
    while (submitted < flags.requests &&
           submitted - finished < flags.concurrency) {
      if (absl::Status s = submit(); !s.ok()) return Fail("bench offline", s);
      ++submitted;
    }
  }
  const double wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  (*eng)->Shutdown(absl::ZeroDuration());
  const engine::EngineStats st = (*eng)->Stats();
  // A second reading, the engine idle again: on a shared machine the
  // bandwidth moves within a run, and the limit is the best reading.
  if (limits) engine::ops::AddReadReading(limits_options, &*limits);

  const double prefill_tps = PerSecond(st.prefill_tokens, st.prefill_step_ns);
  const double decode_tps = PerSecond(st.decode_step_tokens, st.decode_step_ns);
  const double output_tps =
      wall_s > 0 ? static_cast<double>(completion.generated()) / wall_s : 0;
  const nlohmann::json step_split = SplitJson(st.step_timings);
  const std::string mode =
      absl::StrCat(engine::AttentionModeName(config.attention_mode()),
                   " H=", config.n_heads, " Hkv=", config.n_kv_heads);
  if (flags.json) {
    nlohmann::json j;
    j["model"] = flags.model;
    j["attention"] = mode;
    j["requests"] = flags.requests;
    j["concurrency"] = flags.concurrency;
    j["prompt_len"] = flags.prompt_len;
    j["gen_len"] = flags.gen_len;
    j["max_batch_tokens"] = flags.max_batch_tokens;
    j["block_size"] = st.kv.block_size;  // the engine's, as it ran
    j["prefill_tokens_per_s"] = prefill_tps;
    j["decode_tokens_per_s"] = decode_tps;
    j["output_tokens_per_s"] = output_tps;
    j["wall_s"] = wall_s;
    j["load_s"] = load_s;
    j["steps"] = st.steps;
    j["preemptions"] = st.preemptions;
    j["step_split"] = step_split;
    j["roofline"] = RooflineJson(st, limits ? &*limits : nullptr);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("model           %s (%s)\n", flags.model.c_str(), mode.c_str());
    std::printf(
        "requests        %d, concurrency %d, prompt %d, gen %d, "
        "max_batch_tokens %d, block_size %d\n",
        flags.requests, flags.concurrency, flags.prompt_len, flags.gen_len,
        flags.max_batch_tokens, st.kv.block_size);
    std::printf("prefill         %.1f tokens/s\n", prefill_tps);
    std::printf(
        "decode          %.2f tokens/s (aggregate, decode-only steps)\n",
        decode_tps);
    std::printf("output          %.2f tokens/s over %.2f s wall\n", output_tps,
                wall_s);
    std::printf("step split      %s (all steps)\n",
                SplitText(step_split).c_str());
    std::printf("steps           %lld, preemptions %lld, load %.2f s\n",
                static_cast<long long>(st.steps),
                static_cast<long long>(st.preemptions), load_s);
    PrintRoofline(RooflineJson(st, limits ? &*limits : nullptr));
  }
  return 0;
}

// Adds a subcommand of `bench` that runs the offline workload; `roofline`:
// measure the machine's limits first and report the run against them.
void AddWorkloadCommand(CLI::App* bench, const std::string& name,
                        const std::string& description, bool roofline,
                        int* exit_code) {
  auto flags = std::make_shared<BenchFlags>();
  flags->roofline = roofline;
  CLI::App* cmd = bench->add_subcommand(name, description);
  cmd->add_option("--model", flags->model,
                  "GGUF file, llama2.c .bin checkpoint or dummy:<preset>")
      ->required();
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "llama2.c tokenizer .bin (needed for .bin checkpoints)");
  CLI::Option* kv_heads =
      cmd->add_option("--kv-heads", flags->kv_heads,
                      "convert to this many K/V heads (MHA/GQA/MQA) at load");
  AddKvConvertFlags(cmd, &flags->kv_convert);
  cmd->add_option("--requests", flags->requests, "requests in all (64)");
  cmd->add_option("--concurrency", flags->concurrency,
                  "requests in flight (8)");
  cmd->add_option("--prompt-len", flags->prompt_len,
                  "random prompt tokens per request (128)");
  cmd->add_option("--gen-len", flags->gen_len,
                  "tokens generated per request (128)");
  cmd->add_option("--max-batch-tokens", flags->max_batch_tokens,
                  "tokens per step (512)");
  cmd->add_option("--block-size", flags->block_size,
                  "tokens per KV block (16, as kv_cache.block_size)");
  cmd->add_option("--kv-dtype", flags->kv_dtype, KvDtypeHelp());
  cmd->add_option("--weights-dtype", flags->weights_dtype,
                  "f32 (default) or bf16");
  AddThreadsFlag(cmd, &flags->threads);
  cmd->add_option("--seed", flags->seed, "seed of the random prompts");
  cmd->add_flag("--json", flags->json, "print one JSON object");
  if (roofline) {
    cmd->add_option("--bandwidth-mib", flags->bandwidth_mib,
                    "MiB read by the bandwidth test; far more than the "
                    "last-level cache (1024)");
  }
  cmd->callback([flags, exit_code, kv_heads] {
    flags->has_kv_heads = kv_heads->count() > 0;
    *exit_code = RunBench(*flags);
  });
}

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  AddWorkloadCommand(
      bench, "offline",
      "Offline throughput: keep --concurrency requests in flight until "
      "--requests have run; prefill and decode tokens/s, step time split, "
      "bytes and flops per second",
      /*roofline=*/false, exit_code);
  AddWorkloadCommand(
      bench, "roofline",
      "The offline workload against this machine's limits: measures read "
      "bandwidth and FMA / int8 peaks in-process first, then reports the "
      "run's weight GB/s, KV GB/s and matmul GFLOP/s as % of them",
      /*roofline=*/true, exit_code);
  AddBenchServeCommand(bench, exit_code);
}

}  // namespace kvasir::tools
