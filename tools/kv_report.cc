#include "tools/kv_report.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/units.h"
#include "engine/model/kv_heads.h"

namespace kvasir::tools {

std::string AttentionMode(int32_t n_heads, int32_t kv_heads) {
  if (kv_heads == n_heads) return "MHA";
  if (kv_heads == 1) return "MQA";
  return absl::StrCat("GQA-", kv_heads);
}

KvReport BuildKvReport(const engine::ModelConfig& config, int64_t budget_bytes,
                       int32_t ctx, int32_t block_size,
                       const std::vector<std::string>& methods) {
  KvReport report;
  report.model = config.name;
  report.n_heads = config.n_heads;
  report.native_kv_heads = config.n_kv_heads;
  report.budget_bytes = budget_bytes;
  report.ctx = ctx;
  report.block_size = block_size;
  report.methods = methods;
  for (int n : engine::ValidKvHeadCounts(config)) {
    engine::ModelConfig converted = config;
    converted.n_kv_heads = n;
    for (kvcache::KvDtype dtype : kvcache::AllKvDtypes()) {
      const kvcache::KvLayout layout = converted.KvLayoutFor(dtype, block_size);
      KvReportRow row;
      row.kv_heads = n;
      row.mode = AttentionMode(config.n_heads, n);
      row.native = n == config.n_kv_heads;
      row.dtype = dtype;
      row.bytes_per_token = layout.BytesPerToken();
      row.block_bytes = layout.BlockBytes();
      row.sequences =
          layout.BlocksInBytes(budget_bytes) / layout.BlocksForTokens(ctx);
      row.ppl.assign(methods.size(), std::nullopt);
      report.rows.push_back(std::move(row));
    }
  }
  return report;
}

std::string FormatKvReport(const KvReport& r) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> head = {"KV heads", "mode", "KV dtype",
                                   "bytes/token", "sequences"};
  const bool measured = !r.text.empty();
  if (measured) {
    for (const std::string& m : r.methods) head.push_back("PPL " + m);
  }
  cells.push_back(head);
  for (const KvReportRow& row : r.rows) {
    std::vector<std::string> c = {
        absl::StrCat(row.kv_heads),
        row.native ? row.mode + " (native)" : row.mode,
        std::string(kvcache::KvDtypeName(row.dtype)),
        absl::StrCat(row.bytes_per_token), absl::StrCat(row.sequences)};
    if (measured) {
      for (const std::optional<double>& p : row.ppl) {
        c.push_back(p.has_value() ? absl::StrFormat("%.4f", *p) : "-");
      }
    }
    cells.push_back(std::move(c));
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) {
      width[i] = std::max(width[i], line[i].size());
    }
  }
  std::string out = absl::StrCat(
      r.model, ": ", r.n_heads, " query heads, ", r.native_kv_heads,
      " KV heads as trained; sequences of ", r.ctx, " tokens in ",
      FormatByteSize(r.budget_bytes), " (blocks of ", r.block_size, " tokens)");
  if (measured) {
    absl::StrAppend(&out, "; perplexity of ", r.text, " at --ppl-ctx ",
                    r.ppl_ctx, ", calibrated on ",
                    r.calibration.empty() ? "generated text" : r.calibration);
  }
  out += "\n";
  for (const auto& line : cells) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      // Names left-aligned, numbers right-aligned.
      const bool left = i == 1 || i == 2;
      const std::string pad(width[i] - line[i].size(), ' ');
      if (i > 0) text += "  ";
      text += left ? line[i] + pad : pad + line[i];
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  }
  return out;
}

nlohmann::json KvReportJson(const KvReport& r) {
  nlohmann::json j;
  j["model"] = r.model;
  j["n_heads"] = r.n_heads;
  j["native_kv_heads"] = r.native_kv_heads;
  j["budget_bytes"] = r.budget_bytes;
  j["ctx"] = r.ctx;
  j["block_size"] = r.block_size;
  if (!r.text.empty()) {
    j["text"] = r.text;
    j["ppl_ctx"] = r.ppl_ctx;
    j["calibration"] = r.calibration;
  }
  j["methods"] = r.methods;
  nlohmann::json rows = nlohmann::json::array();
  for (const KvReportRow& row : r.rows) {
    nlohmann::json o;
    o["kv_heads"] = row.kv_heads;
    o["mode"] = row.mode;
    o["native"] = row.native;
    o["kv_dtype"] = std::string(kvcache::KvDtypeName(row.dtype));
    o["bytes_per_token"] = row.bytes_per_token;
    o["block_bytes"] = row.block_bytes;
    o["sequences"] = row.sequences;
    if (!r.text.empty()) {
      nlohmann::json ppl = nlohmann::json::object();
      for (size_t i = 0; i < r.methods.size(); ++i) {
        ppl[r.methods[i]] = row.ppl[i].has_value() ? nlohmann::json(*row.ppl[i])
                                                   : nlohmann::json(nullptr);
      }
      o["ppl"] = ppl;
    }
    rows.push_back(o);
  }
  j["rows"] = rows;
  return j;
}

}  // namespace kvasir::tools
