#ifndef KVASIR_TOOLS_ROOFLINE_REPORT_H_
#define KVASIR_TOOLS_ROOFLINE_REPORT_H_

#include <string>

#include "engine/engine.h"
#include "engine/ops/machine_limits.h"
#include "nlohmann/json.hpp"

namespace kvasir::tools {

// What a benchmark run achieved, from the work counters of the engine's
// StepTimings, next to this machine's limits: numbers, not a verdict.
//
// For the decode-only steps: their split into matmul, attention and other
// time (% of their model time), weight bytes read per second of step time
// (the single-stream figure: tokens/s x weight bytes per token), K/V bytes
// per second of attention time, matmul flops per second of matmul time,
// and the roofline step time max(weight bytes / bandwidth, flops / peak) +
// K/V bytes / bandwidth beside the measured one. The arithmetic peak is the
// f32 FMA peak for weights of >= 3.5 bytes per weight (f32), the int8 dot
// peak otherwise (bf16 and quantized weights run on VNNI or AMX units). For
// prompt steps: matmul flops per second. Percentages only when `limits`
// is given.
nlohmann::json RooflineJson(const engine::EngineStats& stats,
                            const engine::ops::MachineLimits* limits);

// The same as aligned text lines on stdout.
void PrintRoofline(const nlohmann::json& roofline);

// The limits alone, as JSON.
nlohmann::json LimitsJson(const engine::ops::MachineLimits& limits);

// A step time split: matmul_ns, attention_ns, other_ns and each as a % of
// their sum (matmul_pct, attention_pct, other_pct).
nlohmann::json SplitJson(const engine::StepTimings& t);
// "matmul x%, attention y%, other z%" of a SplitJson (or an object that
// holds its keys).
std::string SplitText(const nlohmann::json& split);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_ROOFLINE_REPORT_H_
