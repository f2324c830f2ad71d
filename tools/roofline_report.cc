#include "tools/roofline_report.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "engine/engine.h"
#include "engine/ops/machine_limits.h"
#include "nlohmann/json.hpp"

namespace kvasir::tools {
namespace {

// x per second of `ns`, in units of 1e9 (GB/s, GFLOP/s).
double GigaPerSecond(double x, int64_t ns) {
  return ns > 0 ? x / static_cast<double>(ns) : 0.0;
}

double Percent(double part, double whole) {
  return whole > 0 ? 100.0 * part / whole : 0.0;
}

// The arithmetic most of t's matmul flops ran on, and its peak: bf16 dot
// products for bf16 weights (f32 FMAs where the CPU has no AVX512_BF16:
// the weights are widened), int8 dot products for quantized weights, f32
// FMAs for f32 and f16 weights.
struct Peak {
  const char* name;
  double rate;  // GFLOP/s or GOP/s
};
Peak PeakUsed(const engine::StepTimings& t,
              const engine::ops::MachineLimits& limits) {
  const int64_t bf16 = limits.bf16_gflops > 0 ? t.bf16_flops : 0;
  const int64_t f32 = t.matmul_flops - bf16 - t.quant_flops;
  if (t.quant_flops > std::max(f32, bf16)) {
    return {"int8_dot", limits.int8_gops};
  }
  if (bf16 > f32) return {"bf16_dot", limits.bf16_gflops};
  return {"f32_fma", limits.f32_gflops};
}

// The matmuls' percentages of each peak, and of the one they ran on
// (returned).
Peak PeakPercents(double gflops, const engine::StepTimings& t,
                  const engine::ops::MachineLimits& limits,
                  nlohmann::json* out) {
  const Peak peak = PeakUsed(t, limits);
  (*out)["peak_used"] = peak.name;
  (*out)["matmul_pct_of_peak_used"] = Percent(gflops, peak.rate);
  (*out)["matmul_pct_of_f32_peak"] = Percent(gflops, limits.f32_gflops);
  (*out)["matmul_pct_of_int8_peak"] = Percent(gflops, limits.int8_gops);
  (*out)["matmul_pct_of_bf16_peak"] = Percent(gflops, limits.bf16_gflops);
  return peak;
}

// "36.1, 57.3"
std::string Readings(const nlohmann::json& readings) {
  std::string out;
  for (const nlohmann::json& r : readings) {
    if (!out.empty()) out += ", ";
    out += absl::StrFormat("%.1f", r.get<double>());
  }
  return out;
}

}  // namespace

nlohmann::json LimitsJson(const engine::ops::MachineLimits& limits) {
  return {{"threads", limits.threads},
          {"read_GBps", limits.read_gbps},
          {"read_GBps_readings", limits.read_readings},
          {"f32_fma_GFLOPs", limits.f32_gflops},
          {"int8_dot_GOPs", limits.int8_gops},
          {"bf16_dot_GFLOPs", limits.bf16_gflops},
          {"fma_isa", limits.fma_isa},
          {"int8_isa", limits.int8_isa},
          {"bf16_isa", limits.bf16_isa}};
}

nlohmann::json SplitJson(const engine::StepTimings& t) {
  const double model_ns =
      static_cast<double>(t.matmul_ns + t.attention_ns + t.other_ns);
  auto share = [&](int64_t ns) {
    return Percent(static_cast<double>(ns), model_ns);
  };
  return {{"matmul_ns", t.matmul_ns},
          {"attention_ns", t.attention_ns},
          {"other_ns", t.other_ns},
          {"matmul_pct", share(t.matmul_ns)},
          {"attention_pct", share(t.attention_ns)},
          {"other_pct", share(t.other_ns)}};
}

std::string SplitText(const nlohmann::json& split) {
  return absl::StrFormat("matmul %.1f%%, attention %.1f%%, other %.1f%%",
                         split["matmul_pct"].get<double>(),
                         split["attention_pct"].get<double>(),
                         split["other_pct"].get<double>());
}

nlohmann::json RooflineJson(const engine::EngineStats& stats,
                            const engine::ops::MachineLimits* limits) {
  nlohmann::json j;
  if (limits != nullptr) j["limits"] = LimitsJson(*limits);

  const engine::StepTimings& d = stats.decode_timings;
  nlohmann::json dec;
  // Bytes per weight: bytes read per step over the weights of a step (its
  // multiply-adds per row: total multiply-adds over total rows).
  const double tokens = static_cast<double>(stats.decode_step_tokens);
  const double steps = static_cast<double>(stats.decode_steps);
  const double macs = static_cast<double>(d.matmul_flops) / 2.0;
  const double bytes_per_weight =
      macs > 0 && steps > 0
          ? static_cast<double>(d.weight_bytes) / steps / (macs / tokens)
          : 0.0;
  const double weight_gbps =
      GigaPerSecond(static_cast<double>(d.weight_bytes), stats.decode_step_ns);
  const double kv_gbps =
      GigaPerSecond(static_cast<double>(d.kv_bytes), d.attention_ns);
  const double matmul_gflops =
      GigaPerSecond(static_cast<double>(d.matmul_flops), d.matmul_ns);
  dec["steps"] = stats.decode_steps;
  dec["tokens"] = stats.decode_step_tokens;
  dec["step_ns"] = stats.decode_step_ns;
  dec["weight_bytes"] = d.weight_bytes;
  dec["kv_bytes"] = d.kv_bytes;
  dec["matmul_flops"] = d.matmul_flops;
  dec["bf16_flops"] = d.bf16_flops;
  dec["quant_flops"] = d.quant_flops;
  dec["bytes_per_weight"] = bytes_per_weight;
  dec["weight_GBps"] = weight_gbps;
  dec["kv_GBps_in_attention"] = kv_gbps;
  dec["matmul_GFLOPs"] = matmul_gflops;
  // The decode steps' own split: the run's step split also counts its
  // prompt steps, which dominate it when prompts are long.
  dec.update(SplitJson(d));
  if (limits != nullptr) {
    const double peak = PeakPercents(matmul_gflops, d, *limits, &dec).rate;
    dec["weight_pct_of_read"] = Percent(weight_gbps, limits->read_gbps);
    dec["kv_pct_of_read"] = Percent(kv_gbps, limits->read_gbps);
    // The roofline of the decode steps, in ns: weights streamed once per
    // step or the arithmetic, whichever binds, then the K/V reads.
    const double bw = limits->read_gbps;  // bytes per ns
    if (bw > 0 && peak > 0) {
      const double bound_ns =
          std::max(static_cast<double>(d.weight_bytes) / bw,
                   static_cast<double>(d.matmul_flops) / peak) +
          static_cast<double>(d.kv_bytes) / bw;
      dec["roofline_ns"] = bound_ns;
      dec["step_over_roofline"] =
          bound_ns > 0 ? static_cast<double>(stats.decode_step_ns) / bound_ns
                       : 0.0;
    }
  }
  j["decode"] = dec;

  nlohmann::json pre;
  engine::StepTimings p = stats.step_timings;
  p.matmul_ns -= d.matmul_ns;
  p.matmul_flops -= d.matmul_flops;
  p.bf16_flops -= d.bf16_flops;
  p.quant_flops -= d.quant_flops;
  const double prefill_gflops =
      GigaPerSecond(static_cast<double>(p.matmul_flops), p.matmul_ns);
  pre["matmul_flops"] = p.matmul_flops;
  pre["matmul_GFLOPs"] = prefill_gflops;
  if (limits != nullptr) PeakPercents(prefill_gflops, p, *limits, &pre);
  j["prefill"] = pre;
  return j;
}

void PrintRoofline(const nlohmann::json& r) {
  if (r.contains("limits")) {
    const nlohmann::json& l = r["limits"];
    std::printf(
        "machine         read %.1f GB/s (readings %s), f32 FMA %.0f "
        "GFLOP/s (%s), int8 dot %.0f GOP/s (%s), bf16 dot %.0f GFLOP/s (%s), "
        "%d threads\n",
        l["read_GBps"].get<double>(), Readings(l["read_GBps_readings"]).c_str(),
        l["f32_fma_GFLOPs"].get<double>(),
        l["fma_isa"].get<std::string>().c_str(),
        l["int8_dot_GOPs"].get<double>(),
        l["int8_isa"].get<std::string>().c_str(),
        l["bf16_dot_GFLOPs"].get<double>(),
        l["bf16_isa"].get<std::string>().c_str(), l["threads"].get<int>());
  }
  const nlohmann::json& d = r["decode"];
  auto pct = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) ? j[key].get<double>() : 0.0;
  };
  std::printf("decode split    %s\n", SplitText(d).c_str());
  std::printf(
      "decode weights  %.2f GB/s over step time (%.0f%% of read), %.2f "
      "bytes/weight\n",
      d["weight_GBps"].get<double>(), pct(d, "weight_pct_of_read"),
      d["bytes_per_weight"].get<double>());
  std::printf(
      "decode KV       %.2f GB/s over attention time (%.0f%% of read)\n",
      d["kv_GBps_in_attention"].get<double>(), pct(d, "kv_pct_of_read"));
  std::printf(
      "decode matmul   %.1f GFLOP/s (%.0f%% of f32 peak, %.0f%% of int8 "
      "peak, %.0f%% of bf16 peak)\n",
      d["matmul_GFLOPs"].get<double>(), pct(d, "matmul_pct_of_f32_peak"),
      pct(d, "matmul_pct_of_int8_peak"), pct(d, "matmul_pct_of_bf16_peak"));
  if (d.contains("step_over_roofline")) {
    const double steps = std::max<double>(1, d["steps"].get<double>());
    std::printf(
        "decode step     %.3f ms measured, %.3f ms roofline (%s peak): "
        "%.2fx\n",
        d["step_ns"].get<double>() / 1e6 / steps,
        d["roofline_ns"].get<double>() / 1e6 / steps,
        d["peak_used"].get<std::string>().c_str(),
        d["step_over_roofline"].get<double>());
  }
  const nlohmann::json& p = r["prefill"];
  std::printf(
      "prefill matmul  %.1f GFLOP/s (%.0f%% of f32 peak, %.0f%% of int8 "
      "peak, %.0f%% of bf16 peak)\n",
      p["matmul_GFLOPs"].get<double>(), pct(p, "matmul_pct_of_f32_peak"),
      pct(p, "matmul_pct_of_int8_peak"), pct(p, "matmul_pct_of_bf16_peak"));
}

}  // namespace kvasir::tools
