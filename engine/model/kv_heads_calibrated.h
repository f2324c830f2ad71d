#ifndef KVASIR_ENGINE_MODEL_KV_HEADS_CALIBRATED_H_
#define KVASIR_ENGINE_MODEL_KV_HEADS_CALIBRATED_H_

#include "absl/status/status.h"
#include "engine/model/kv_calibration.h"
#include "engine/model/kv_heads.h"
#include "engine/model/model.h"

namespace kvasir::engine {

// Merges each group of r = Hkv / N K/V heads into one so that attention
// changes least on the calibration statistics `stats` (collected on this
// model as it is now, kv_calibration.h), and folds compensating transforms
// into the query projection (wq, bq) and the output projection (wo):
//
// - V: the merged head is the group's principal hd-dimensional subspace of
//   its stacked values [v_1; ...; v_r] (eigenvectors of their second
//   moment), measured in the norm each head's values reach the residual
//   stream with (v_i weighted by the square root of sum_h wo_h^T wo_h over
//   its query heads h); each old head's least-squares map from the merged
//   values, M_i (hd x hd), is folded into its query heads' slices of wo.
// - K: RoPE turns each rotary pair of a head by the same angle, so a pair
//   read as a complex number k_i, and any complex factor c (rotation +
//   scale), commute with it. Per pair, the merged key is the dominant
//   complex principal component of (w_1 k_1, ..., w_r k_r) (w_i^2 = E|q|^2 of
//   that pair over head i's query heads, so errors count as much as they
//   move q.k); each old head keeps k_i ~ c_i k (least squares), and its
//   query heads' pair rows get conj(c_i), so q.k is what the fitted key
//   gives. The pair convention (adjacent, or NeoX halves) is the config's.
//
// N == Hkv changes nothing; N > Hkv duplicates heads (exact, as
// ConvertKvHeads). Converted wq, wk, wv and wo are f32 (block types
// dequantized). InvalidArgument (the model unchanged) for the rules of
// ValidateKvHeadsConversion, stats of another shape, models with per-head
// q/k norms (Qwen3: the norm does not commute with merging heads) or wq/wo
// not of the config's shape.
absl::Status ConvertKvHeadsCalibrated(Model& model, int n_kv_heads,
                                      const CalibrationStats& stats);

// The conversion `model.kv_heads_conversion` / `--kv-convert` asks for:
// kMean is ConvertKvHeads; kCalibrated runs the calibration pass
// (CalibrationTokens, CollectCalibrationStats) when heads are merged, then
// ConvertKvHeadsCalibrated. Errors of those (the model unchanged).
absl::Status ConvertKvHeadsWith(Model& model, int n_kv_heads,
                                KvConversion method,
                                const CalibrationOptions& calibration);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_KV_HEADS_CALIBRATED_H_
