// `kvasir inspect`: loads a model and prints what an operator needs to size
// a deployment: hyperparameters, attention mode, parameter count, tensor
// types and memory, the tokenizer, and the KV-cache cost per token for
// every KV-head count the checkpoint can be converted to.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/units.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "engine/model/kv_heads.h"
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
  int kv_heads = 0;  // 0: as the checkpoint says
  bool json = false;
};

// What the file says about itself (GGUF only): tensor types, sizes and the
// tokenizer's kind.
struct FileFacts {
  bool gguf = false;
  int64_t file_bytes = 0;
  std::map<std::string, int> tensor_types;  // "Q4_K" -> count
  int64_t tensor_bytes = 0;
  int64_t tensor_elements = 0;
  std::string tokenizer_model;  // tokenizer.ggml.model
  std::string tokenizer_pre;    // tokenizer.ggml.pre
  bool chat_template = false;
  double bits_per_weight() const {
    return tensor_elements > 0 ? 8.0 * tensor_bytes / tensor_elements : 0.0;
  }
};

FileFacts ReadFileFacts(const std::string& path) {
  FileFacts facts;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) facts.file_bytes = static_cast<int64_t>(size);
  absl::StatusOr<std::unique_ptr<engine::GgufFile>> file =
      engine::GgufFile::Open(path);
  if (!file.ok()) return facts;  // not a GGUF (llama2.c, dummy)
  facts.gguf = true;
  for (const engine::GgufTensorInfo& t : (*file)->tensors()) {
    ++facts.tensor_types[engine::gguf::TensorTypeName(t.type)];
    facts.tensor_bytes += static_cast<int64_t>(t.n_bytes);
    facts.tensor_elements += static_cast<int64_t>(t.n_elements);
  }
  auto text = [&](const char* key) {
    absl::StatusOr<std::string> v = (*file)->GetString(key);
    return v.ok() ? *v : std::string();
  };
  facts.tokenizer_model = text("tokenizer.ggml.model");
  facts.tokenizer_pre = text("tokenizer.ggml.pre");
  facts.chat_template =
      (*file)->FindValue("tokenizer.chat_template") != nullptr;
  return facts;
}

// Bytes the loaded weights hold in memory (block types as stored, dense
// tensors as f32).
int64_t WeightMemoryBytes(const engine::Model& m) {
  int64_t bytes = m.weights.tok_embeddings.nbytes() +
                  m.weights.final_norm.nbytes() + m.weights.output.nbytes() +
                  m.weights.rope_freqs.nbytes();
  for (const engine::LayerWeights& l : m.weights.layers) {
    for (const engine::Tensor* t :
         {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate,
          &l.w_up, &l.w_down, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm}) {
      bytes += t->nbytes();
    }
  }
  return bytes;
}

// Every KV-head count the checkpoint's `hkv` heads can be converted to
// (engine::ValidKvHeadCounts, ConvertKvHeads's rules), MQA first.
std::vector<int> ValidKvHeads(const engine::ModelConfig& c, int hkv) {
  engine::ModelConfig checkpoint = c;
  checkpoint.n_kv_heads = hkv;
  std::vector<int> out = engine::ValidKvHeadCounts(checkpoint);
  std::reverse(out.begin(), out.end());
  return out;
}

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

struct Report {
  const engine::Model& model;
  double load_seconds;
  FileFacts facts;
  int checkpoint_kv_heads;  // before any --kv-heads conversion
  bool kv_converted_to_f32;
};

engine::ModelConfig WithKvHeads(const engine::ModelConfig& c, int n) {
  engine::ModelConfig out = c;
  out.n_kv_heads = n;
  return out;
}

nlohmann::json ToJson(const Report& r) {
  const engine::Model& m = r.model;
  const double load_seconds = r.load_seconds;
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
      {"bf16", c.KvBytesPerToken(kvcache::KvDtype::kBF16)},
      {"int8", c.KvBytesPerToken(kvcache::KvDtype::kInt8)}};
  j["load_seconds"] = load_seconds;
  j["weights_memory_bytes"] = WeightMemoryBytes(m);
  if (r.facts.gguf) {
    j["file_bytes"] = r.facts.file_bytes;
    j["tensor_types"] = r.facts.tensor_types;
    j["bits_per_weight"] = r.facts.bits_per_weight();
    j["tokenizer_model"] = r.facts.tokenizer_model;
    j["tokenizer_pre"] = r.facts.tokenizer_pre;
    j["chat_template"] = r.facts.chat_template;
  }
  j["checkpoint_kv_heads"] = r.checkpoint_kv_heads;
  j["kv_converted_to_f32"] = r.kv_converted_to_f32;
  nlohmann::json table = nlohmann::json::array();
  for (int n : ValidKvHeads(c, r.checkpoint_kv_heads)) {
    const engine::ModelConfig k = WithKvHeads(c, n);
    table.push_back(
        {{"kv_heads", n},
         {"mode", std::string(engine::AttentionModeName(k.attention_mode()))},
         {"f32", k.KvBytesPerToken(kvcache::KvDtype::kF32)},
         {"bf16", k.KvBytesPerToken(kvcache::KvDtype::kBF16)},
         {"int8", k.KvBytesPerToken(kvcache::KvDtype::kInt8)},
         {"active", n == c.n_kv_heads}});
  }
  j["kv_heads_table"] = table;
  return j;
}

void PrintText(const Report& r) {
  const engine::Model& m = r.model;
  const double load_seconds = r.load_seconds;
  const engine::ModelConfig& c = m.config;
  const bool tied = m.weights.tied_output();
  const int64_t params = c.ParameterCount(tied);
  const int64_t kv_f32 = c.KvBytesPerToken(kvcache::KvDtype::kF32);
  const int64_t kv_bf16 = c.KvBytesPerToken(kvcache::KvDtype::kBF16);
  const int64_t kv_int8 = c.KvBytesPerToken(kvcache::KvDtype::kInt8);
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
  row("kv_bytes_per_token",
      absl::StrFormat("f32 %d (%s), bf16 %d (%s), int8 %d (%s, with its "
                      "scales)",
                      kv_f32, FormatByteSize(kv_f32), kv_bf16,
                      FormatByteSize(kv_bf16), kv_int8,
                      FormatByteSize(kv_int8)));
  row("kv_bytes_at_context",
      absl::StrFormat("f32 %s, bf16 %s, int8 %s",
                      FormatByteSize(kv_f32 * c.context_length),
                      FormatByteSize(kv_bf16 * c.context_length),
                      FormatByteSize(kv_int8 * c.context_length)));
  if (r.facts.gguf) {
    std::string types;
    for (const auto& [name, count] : r.facts.tensor_types) {
      absl::StrAppend(&types, types.empty() ? "" : ", ", name, " x", count);
    }
    row("tensor_types", types);
    row("bits_per_weight", absl::StrFormat("%.2f", r.facts.bits_per_weight()));
    row("file_size", FormatByteSize(r.facts.file_bytes));
    row("tokenizer", absl::StrCat(r.facts.tokenizer_model,
                                  r.facts.tokenizer_pre.empty() ? "" : " / ",
                                  r.facts.tokenizer_pre));
    row("chat_template", r.facts.chat_template ? "present" : "none");
  }
  row("weights_in_memory", FormatByteSize(WeightMemoryBytes(m)));
  if (r.kv_converted_to_f32) {
    row("kv_conversion",
        absl::StrFormat("K/V projections converted from %d to %d heads, "
                        "kept as f32",
                        r.checkpoint_kv_heads, c.n_kv_heads));
  }
  row("load_time", absl::StrFormat("%.2f s", load_seconds));
  std::printf("\nKV bytes per token by KV heads (checkpoint: %d):\n",
              r.checkpoint_kv_heads);
  std::printf("  %-8s %-5s %14s %14s %14s\n", "kv_heads", "mode", "f32", "bf16",
              "int8");
  for (int n : ValidKvHeads(c, r.checkpoint_kv_heads)) {
    const engine::ModelConfig k = WithKvHeads(c, n);
    std::printf(
        "  %-8d %-5s %14s %14s %14s%s\n", n,
        std::string(engine::AttentionModeName(k.attention_mode())).c_str(),
        FormatByteSize(k.KvBytesPerToken(kvcache::KvDtype::kF32)).c_str(),
        FormatByteSize(k.KvBytesPerToken(kvcache::KvDtype::kBF16)).c_str(),
        FormatByteSize(k.KvBytesPerToken(kvcache::KvDtype::kInt8)).c_str(),
        n == c.n_kv_heads ? "  <- active" : "");
  }
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
  engine::Model& m = **model;
  const int checkpoint_kv_heads = m.config.n_kv_heads;
  bool converted_to_f32 = false;
  if (flags.kv_heads != 0 && flags.kv_heads != checkpoint_kv_heads) {
    converted_to_f32 =
        !m.weights.layers.empty() && !m.weights.layers[0].wk.is_f32();
    if (absl::Status s = engine::ConvertKvHeads(m, flags.kv_heads); !s.ok()) {
      return Fail("inspect", s);
    }
  }
  const double seconds = absl::ToDoubleSeconds(clock.Now() - start);
  const Report report{m, seconds, ReadFileFacts(flags.model),
                      checkpoint_kv_heads, converted_to_f32};
  if (flags.json) {
    std::printf("%s\n", ToJson(report).dump().c_str());
  } else {
    PrintText(report);
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
  cmd->add_option("--kv-heads", flags->kv_heads,
                  "convert to this many KV heads first (0: as stored)");
  cmd->add_flag("--json", flags->json, "print one JSON object");
  cmd->callback([flags, exit_code] { *exit_code = RunInspect(*flags); });
}

}  // namespace kvasir::tools
