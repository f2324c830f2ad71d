#ifndef KVASIR_ENGINE_MODEL_KV_HEADS_H_
#define KVASIR_ENGINE_MODEL_KV_HEADS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model.h"

namespace kvasir::engine {

// How K/V heads are merged when their number goes down (duplication, going
// up, is exact either way): kMean is ConvertKvHeads below; kCalibrated
// fits merged heads and compensating Q/O transforms on calibration text
// (kv_heads_calibrated.h).
enum class KvConversion { kMean, kCalibrated };
// "mean", "calibrated".
absl::string_view KvConversionName(KvConversion method);
// InvalidArgument naming `field`, the value and the valid names.
absl::StatusOr<KvConversion> ParseKvConversion(absl::string_view name,
                                               absl::string_view field);

// The checks ConvertKvHeads makes before changing anything (the rules
// below): OK when `n_kv_heads` is reachable from the model's heads and wk/wv
// have the config's shapes.
absl::Status ValidateKvHeadsConversion(const Model& model, int n_kv_heads);

// Changes the model's number of K/V heads from Hkv to `n_kv_heads` (N) at
// load time, by rewriting the rows of every layer's wk and wv (head-major:
// rows [j * head_dim, (j + 1) * head_dim) are head j) and setting
// config.n_kv_heads:
//
// - N == Hkv: nothing changes.
// - N < Hkv (towards MQA): new head j is the mean of old heads
//   j*r .. j*r + r - 1, r = Hkv / N (the GQA paper's conversion of an MHA
//   checkpoint; quality drops without further training). N must divide Hkv.
// - N > Hkv (towards MHA): new head j is old head j / (N / Hkv), so query
//   head h still meets the same keys and values and the logits do not
//   change. Hkv must divide N and N must divide H.
//
// K/V biases (Qwen2) are regrouped the same way. Converted wk/wv are f32
// whatever their type was (block types are dequantized first).
//
// InvalidArgument naming `kv_heads`, the value and the rule otherwise, or
// when wk/wv do not have the config's shape; the model is unchanged then.
absl::Status ConvertKvHeads(Model& model, int n_kv_heads);

// ConvertKvHeads's rules alone: OK when a model of `config` can be converted
// to `n_kv_heads` K/V heads, else the same InvalidArgument.
absl::Status CheckKvHeads(const ModelConfig& config, int n_kv_heads);

// Every K/V head count a model of `config` can be converted to, from MHA
// (n_heads, when reachable) down to MQA (1), in decreasing order. Includes
// the model's own n_kv_heads.
std::vector<int> ValidKvHeadCounts(const ModelConfig& config);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_KV_HEADS_H_
