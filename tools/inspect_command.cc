// `kvasir inspect`: loads a model and prints what an operator needs to size
// a deployment: hyperparameters, attention mode, parameter count and the
// KV-cache cost per token.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/units.h"
#include "engine/model/loader.h"
#include "kvcache/kv_layout.h"
#include "nlohmann/json.hpp"
#include "tools/command_util.h"
#include "tools/commands.h"

namespace kvasir::tools {
namespace {

struct InspectFlags {
  std::string model;
  std::string tokenizer;
  uint64_t seed = 0;
  bool json = false;
};

// "1,234,567".
std::string WithThousands(int64_t n) {
  std::string digits = absl::StrFormat("%d", n);
  std::string out;
  const int lead = static_cast<int>(digits.size()) % 3;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (static_cast<int>(i) - lead) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string HumanCount(int64_t n) {
  if (n >= 1000000000) return absl::StrFormat("%.2fB", n / 1e9);
  if (n >= 1000000) return absl::StrFormat("%.2fM", n / 1e6);
  if (n >= 1000) return absl::StrFormat("%.2fK", n / 1e3);
  return absl::StrFormat("%d", n);
}

nlohmann::json ToJson(const engine::Model& m, double load_seconds) {
  const engine::ModelConfig& c = m.config;
  const bool tied = m.weights.tied_output();
  nlohmann::json j;
  j["model"] = c.name;
  j["architecture"] = c.architecture;
  j["dim"] = c.dim;
  j["hidden_dim"] = c.hidden_dim;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["attention_mode"] =
      std::string(engine::AttentionModeName(c.attention_mode()));
  j["group_size"] = c.group_size();
  j["vocab_size"] = c.vocab_size;
  j["context_length"] = c.context_length;
  // Floats through their shortest decimal form: 1e-05, not 9.99999974e-06.
  j["rope_theta"] = std::strtod(absl::StrCat(c.rope_theta).c_str(), nullptr);
  j["rms_eps"] = std::strtod(absl::StrCat(c.rms_eps).c_str(), nullptr);
  j["parameters"] = c.ParameterCount(tied);
  j["tied_output"] = tied;
  j["bos_id"] = m.tokenizer->bos_id();
  j["eos_id"] = m.tokenizer->eos_id();
  j["end_of_generation_ids"] = m.tokenizer->EndOfGenerationIds();
  j["kv_bytes_per_token"] = {
      {"f32", c.KvBytesPerToken(kvcache::KvDtype::kF32)},
      {"bf16", c.KvBytesPerToken(kvcache::KvDtype::kBF16)}};
  j["load_seconds"] = load_seconds;
  return j;
}

void PrintText(const engine::Model& m, double load_seconds) {
  const engine::ModelConfig& c = m.config;
  const bool tied = m.weights.tied_output();
  const int64_t params = c.ParameterCount(tied);
  const int64_t kv_f32 = c.KvBytesPerToken(kvcache::KvDtype::kF32);
  const int64_t kv_bf16 = c.KvBytesPerToken(kvcache::KvDtype::kBF16);
  auto row = [](const char* key, const std::string& value) {
    std::printf("%-20s %s\n", key, value.c_str());
  };
  row("model", c.name);
  row("architecture", c.architecture);
  row("dim", absl::StrFormat("%d", c.dim));
  row("hidden_dim", absl::StrFormat("%d", c.hidden_dim));
  row("n_layers", absl::StrFormat("%d", c.n_layers));
  row("n_heads", absl::StrFormat("%d", c.n_heads));
  row("n_kv_heads", absl::StrFormat("%d", c.n_kv_heads));
  row("head_dim", absl::StrFormat("%d", c.head_dim));
  row("attention",
      absl::StrFormat("%s (H=%d, Hkv=%d, group size %d)",
                      engine::AttentionModeName(c.attention_mode()), c.n_heads,
                      c.n_kv_heads, c.group_size()));
  row("vocab_size", absl::StrFormat("%d", c.vocab_size));
  row("context_length", absl::StrFormat("%d", c.context_length));
  row("rope_theta", absl::StrFormat("%g", c.rope_theta));
  row("rms_eps", absl::StrFormat("%g", c.rms_eps));
  row("parameters",
      absl::StrFormat("%s (%s)", WithThousands(params), HumanCount(params)));
  row("output", tied ? "tied to the token embedding" : "separate matrix");
  row("bos_id / eos_id",
      absl::StrFormat("%d / %d", m.tokenizer->bos_id(), m.tokenizer->eos_id()));
  row("end_of_generation",
      absl::StrJoin(m.tokenizer->EndOfGenerationIds(), ", "));
  row("kv_bytes_per_token", absl::StrFormat("f32 %d (%s), bf16 %d (%s)", kv_f32,
                                            FormatByteSize(kv_f32), kv_bf16,
                                            FormatByteSize(kv_bf16)));
  row("kv_bytes_at_context",
      absl::StrFormat("f32 %s, bf16 %s",
                      FormatByteSize(kv_f32 * c.context_length),
                      FormatByteSize(kv_bf16 * c.context_length)));
  row("load_time", absl::StrFormat("%.2f s", load_seconds));
}

int RunInspect(const InspectFlags& flags) {
  engine::LoadOptions options;
  options.path_or_spec = flags.model;
  options.tokenizer_path = flags.tokenizer;
  options.seed = flags.seed;
  SystemClock clock;
  const absl::Time start = clock.Now();
  absl::StatusOr<std::unique_ptr<engine::Model>> model =
      engine::LoadModel(options);
  if (!model.ok()) {
    return Fail("inspect", model.status());
  }
  const double seconds = absl::ToDoubleSeconds(clock.Now() - start);
  if (flags.json) {
    std::printf("%s\n", ToJson(**model, seconds).dump().c_str());
  } else {
    PrintText(**model, seconds);
  }
  return 0;
}

}  // namespace

void AddInspectCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Load a model and print its hyperparameters, attention mode, "
      "parameter count and KV-cache bytes per token");
  cmd->add_option("--model", flags->model,
                  "GGUF file, llama2.c .bin checkpoint or dummy:<preset> "
                  "(tiny, 15m, 110m, 1b)")
      ->required();
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "llama2.c tokenizer .bin (needed for .bin checkpoints)");
  cmd->add_option("--seed", flags->seed, "seed of a dummy model's weights");
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->callback([flags, exit_code] { *exit_code = RunInspect(*flags); });
}

}  // namespace kvasir::tools
