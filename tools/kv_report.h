#ifndef KVASIR_TOOLS_KV_REPORT_H_
#define KVASIR_TOOLS_KV_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.h"
#include "kvcache/kv_layout.h"
#include "nlohmann/json.hpp"

namespace kvasir::tools {

// `kvasir kv-report`'s table: for every K/V head count the model converts
// to (engine::ValidKvHeadCounts: MHA ... GQA ... MQA) and every KV dtype
// (kvcache::AllKvDtypes), the cache bytes per token and how many
// ctx-token sequences fit in a byte budget, plus (when measured) the
// perplexity of each conversion method.
struct KvReportRow {
  int32_t kv_heads = 0;
  std::string mode;     // "MHA", "GQA-2", "MQA"
  bool native = false;  // the model's own head count
  kvcache::KvDtype dtype = kvcache::KvDtype::kF32;
  int64_t bytes_per_token = 0;  // KvLayout::BytesPerToken
  int64_t block_bytes = 0;      // KvLayout::BlockBytes
  int64_t sequences = 0;        // ctx-token sequences in the budget
  // Per KvReport::methods; nullopt where not measured.
  std::vector<std::optional<double>> ppl;
};

struct KvReport {
  std::string model;
  int32_t n_heads = 0;
  int32_t native_kv_heads = 0;
  int64_t budget_bytes = 0;
  int32_t ctx = 0;         // tokens per sequence
  int32_t block_size = 0;  // tokens per KV block
  // Perplexity settings; empty text: not measured.
  std::string text;
  int32_t ppl_ctx = 0;
  // The calibrated column's calibration text; empty: text the model
  // generated.
  std::string calibration;
  std::vector<std::string> methods;  // conversion methods, column order
  std::vector<KvReportRow> rows;     // head counts descending, then dtypes
};

// The memory columns for `config` (perplexity left unmeasured). Sequences
// fitting = whole blocks in the budget (KvLayout::BlocksInBytes, as the
// arena and tenant limits round) / blocks per sequence (BlocksForTokens).
KvReport BuildKvReport(const engine::ModelConfig& config, int64_t budget_bytes,
                       int32_t ctx, int32_t block_size,
                       const std::vector<std::string>& methods);

// "MHA" when kv_heads == n_heads, "MQA" when 1, "GQA-<kv_heads>" otherwise.
std::string AttentionMode(int32_t n_heads, int32_t kv_heads);

// An aligned text table with a header line.
std::string FormatKvReport(const KvReport& report);
nlohmann::json KvReportJson(const KvReport& report);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_KV_REPORT_H_
