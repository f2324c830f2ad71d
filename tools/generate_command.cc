// `kvasir generate`: runs the engine in-process on one prompt and streams
// the text to stdout as it is produced (or prints one JSON object).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/engine_builder.h"
#include "engine/ops/linear.h"
#include "kvcache/kv_layout.h"
#include "nlohmann/json.hpp"
#include "tools/command_util.h"
#include "tools/commands.h"

namespace kvasir::tools {
namespace {

// A "<key> <n> kB" line of /proc/self/status in bytes; -1 when absent.
int64_t ProcStatusBytes(absl::string_view key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, key)) {
      return std::strtoll(line.c_str() + key.size(), nullptr, 10) * 1024;
    }
  }
  return -1;
}

struct GenerateFlags {
  std::string model;
  std::string tokenizer;
  std::string prompt;
  int32_t max_tokens = 64;
  float temperature = 0.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool has_seed = false;
  int32_t kv_heads = 0;
  bool has_kv_heads = false;
  KvConvertFlags kv_convert;
  std::string kv_dtype = "f32";
  std::string weights_dtype = "f32";
  int32_t threads = 0;
  bool json = false;
  bool parse_special = false;
};

// Hands the engine thread's output to the main thread, which prints it (a
// sink must not block on stdout).
class StreamSink final : public engine::RequestSink {
 public:
  void OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    for (const engine::GeneratedToken& t : tokens) ids_.push_back(t.token);
    pending_.append(text.data(), text.size());
    text_.append(text.data(), text.size());
  }
  void OnFinish(const engine::FinishInfo& info) override {
    absl::MutexLock lock(&mu_);
    info_ = info;
  }

  // Waits for new text or the finish; returns the new text and whether the
  // request is done.
  bool Next(std::string* text) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StreamSink::Ready));
    text->swap(pending_);
    pending_.clear();
    return info_.has_value();
  }

  std::vector<int32_t> ids() const {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  std::string text() const {
    absl::MutexLock lock(&mu_);
    return text_;
  }
  engine::FinishInfo info() const {
    absl::MutexLock lock(&mu_);
    return *info_;
  }

 private:
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !pending_.empty() || info_.has_value();
  }

  mutable absl::Mutex mu_;
  std::vector<int32_t> ids_ ABSL_GUARDED_BY(mu_);
  std::string pending_ ABSL_GUARDED_BY(mu_);
  std::string text_ ABSL_GUARDED_BY(mu_);
  std::optional<engine::FinishInfo> info_ ABSL_GUARDED_BY(mu_);
};

double PerSecond(double count, absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  return s > 0 ? count / s : 0.0;
}

int RunGenerate(const GenerateFlags& flags) {
  absl::StatusOr<kvasir::kvcache::KvDtype> kv_dtype =
      kvcache::ParseKvDtype(flags.kv_dtype, "--kv-dtype");
  if (!kv_dtype.ok()) return Fail("generate", kv_dtype.status());
  absl::StatusOr<engine::WeightsDtype> weights_dtype =
      engine::ParseWeightsDtype(flags.weights_dtype, "--weights-dtype");
  if (!weights_dtype.ok()) return Fail("generate", weights_dtype.status());
  if (flags.max_tokens < 1) {
    return Fail("generate",
                absl::InvalidArgumentError(absl::StrCat(
                    "--max-tokens ", flags.max_tokens, " must be >= 1")));
  }

  const absl::Time load_start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::LoadModelForEngine(ModelSourceFromFlags(flags));
  if (!model.ok()) return Fail("generate", model.status());
  // BOS (when the vocabulary adds one) + the text, as the golden files and
  // llama.cpp do.
  absl::StatusOr<std::vector<int32_t>> prompt = (*model)->tokenizer->Encode(
      flags.prompt,
      {.add_special = true, .parse_special = flags.parse_special});
  if (!prompt.ok()) return Fail("generate", prompt.status());

  // The context bounds the KV cache sized below: checked first, so that a
  // huge --max-tokens is a usage error, not gigabytes allocated.
  const int64_t context = (*model)->config.context_length;
  const int64_t prompt_tokens = static_cast<int64_t>(prompt->size());
  if (prompt_tokens + flags.max_tokens > context) {
    return Fail("generate", absl::InvalidArgumentError(absl::StrCat(
                                "--max-tokens ", flags.max_tokens,
                                " plus the prompt's ", prompt_tokens,
                                " tokens exceeds the model's context "
                                "length ",
                                context, " (at most ",
                                std::max<int64_t>(0, context - prompt_tokens),
                                " for this prompt)")));
  }
  engine::Engine::Options options;
  options.max_running = 1;
  options.kv_dtype = *kv_dtype;
  const int64_t tokens = prompt_tokens + flags.max_tokens;
  options.kv_capacity_bytes = engine::KvBytesForTokens(
      (*model)->config, *kv_dtype, options.block_size, tokens);
  absl::StatusOr<std::unique_ptr<engine::Engine>> eng =
      engine::BuildEngineFromModel(
          *std::move(model),
          engine::RunnerSettings{*weights_dtype, flags.threads}, options,
          {engine::SoleTenant(options.kv_capacity_bytes)});
  if (!eng.ok()) return Fail("generate", eng.status());
  const absl::Duration load_time = absl::Now() - load_start;

  engine::Request request;
  request.tenant = std::string(engine::kDefaultTenantName);
  request.prompt = *prompt;
  request.sampling.temperature = flags.temperature;
  request.sampling.top_k = flags.top_k;
  request.sampling.top_p = flags.top_p;
  if (flags.has_seed) request.sampling.seed = flags.seed;
  request.stopping.max_new_tokens = flags.max_tokens;
  auto sink = std::make_shared<StreamSink>();
  absl::StatusOr<engine::RequestId> id =
      (*eng)->Submit(std::move(request), sink);
  if (!id.ok()) return Fail("generate", id.status());

  std::string chunk;
  bool done = false;
  while (!done) {
    done = sink->Next(&chunk);
    if (!flags.json && !chunk.empty()) {
      std::fwrite(chunk.data(), 1, chunk.size(), stdout);
      std::fflush(stdout);
    }
  }
  (*eng)->Shutdown(absl::ZeroDuration());
  const engine::FinishInfo info = sink->info();
  if (info.reason == engine::FinishReason::kError)
    return Fail("generate", info.error);

  const absl::Duration decode_time = info.total_time - info.time_to_first_token;
  const double prefill_tps =
      PerSecond(info.prompt_tokens, info.time_to_first_token);
  const double decode_tps =
      PerSecond(std::max(0, info.generated_tokens - 1), decode_time);
  if (flags.json) {
    nlohmann::json j;
    j["model"] = flags.model;
    j["prompt"] = flags.prompt;
    j["prompt_token_ids"] = *prompt;
    j["token_ids"] = sink->ids();
    j["text"] = sink->text();
    j["finish_reason"] = std::string(engine::FinishReasonName(info.reason));
    j["timing"] = {
        {"load_s", absl::ToDoubleSeconds(load_time)},
        {"time_to_first_token_s",
         absl::ToDoubleSeconds(info.time_to_first_token)},
        {"total_s", absl::ToDoubleSeconds(info.total_time)},
        {"prefill_tokens_per_s", prefill_tps},
        {"decode_tokens_per_s", decode_tps},
    };
    // After the run: the weights as held, the KV pages touched, buffers.
    j["memory"] = {{"resident_bytes", ProcStatusBytes("VmRSS:")},
                   {"peak_resident_bytes", ProcStatusBytes("VmHWM:")}};
    // Invalid UTF-8 cannot happen (the decoder replaces it), but never
    // throw on output.
    std::printf("%s\n",
                j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                    .c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);  // the summary on stderr comes after the text
    std::fprintf(stderr,
                 "[%d prompt + %d generated tokens, %s; prefill %.1f tok/s, "
                 "decode %.2f tok/s, load %.2f s]\n",
                 info.prompt_tokens, info.generated_tokens,
                 std::string(engine::FinishReasonName(info.reason)).c_str(),
                 prefill_tps, decode_tps, absl::ToDoubleSeconds(load_time));
  }
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Run the engine in-process on one prompt (no server)");
  cmd->add_option("--model", flags->model,
                  "GGUF file, llama2.c .bin checkpoint or dummy:<preset>")
      ->required();
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "llama2.c tokenizer .bin (needed for .bin checkpoints)");
  cmd->add_option("--prompt", flags->prompt,
                  "text; BOS is added before it when the vocabulary wants it")
      ->required();
  cmd->add_flag("--parse-special", flags->parse_special,
                "encode special-token text in the prompt (<|im_start|>, "
                "<|eot_id|>) as those tokens instead of as plain text");
  cmd->add_option("--max-tokens", flags->max_tokens,
                  "tokens to generate (default 64)");
  cmd->add_option("--temperature", flags->temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", flags->top_k, "0 = off");
  cmd->add_option("--top-p", flags->top_p, "(0, 1]; 1 = off");
  CLI::Option* seed = cmd->add_option("--seed", flags->seed, "sampling seed");
  CLI::Option* kv_heads =
      cmd->add_option("--kv-heads", flags->kv_heads,
                      "convert the model to this many K/V heads at load");
  AddKvConvertFlags(cmd, &flags->kv_convert);
  cmd->add_option("--kv-dtype", flags->kv_dtype, KvDtypeHelp());
  cmd->add_option("--weights-dtype", flags->weights_dtype,
                  "f32 (default) or bf16");
  AddThreadsFlag(cmd, &flags->threads);
  cmd->add_flag("--json", flags->json,
                "print one JSON object: prompt_token_ids, token_ids, text, "
                "finish_reason, timing");
  cmd->callback([flags, exit_code, seed, kv_heads] {
    flags->has_seed = seed->count() > 0;
    flags->has_kv_heads = kv_heads->count() > 0;
    *exit_code = RunGenerate(*flags);
  });
}

}  // namespace kvasir::tools
