#include "engine/model/kv_heads.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine {
namespace {

// Rows of `src` [old_heads * hd, d] (or a bias [old_heads * hd], d = 1)
// regrouped into [new_heads * hd, d] f32 (block types dequantized first).
Tensor Regroup(const Tensor& stored, int old_heads, int new_heads, int hd) {
  const Tensor converted = stored.is_f32() ? Tensor() : stored.ToF32();
  const Tensor& src = stored.is_f32() ? stored : converted;
  const int64_t d = src.rank() == 2 ? src.dim(1) : 1;
  const int64_t head_elems = int64_t{hd} * d;
  Tensor dst = src.rank() == 2 ? Tensor::Zeros({int64_t{new_heads} * hd, d})
                               : Tensor::Zeros({int64_t{new_heads} * hd});
  if (new_heads > old_heads) {
    const int copies = new_heads / old_heads;
    for (int j = 0; j < new_heads; ++j) {
      const float* from = src.data() + (j / copies) * head_elems;
      std::copy(from, from + head_elems, dst.data() + j * head_elems);
    }
  } else {
    const int r = old_heads / new_heads;
    std::vector<double> sum(static_cast<size_t>(head_elems));
    for (int j = 0; j < new_heads; ++j) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int i = 0; i < r; ++i) {
        const float* from = src.data() + (int64_t{j} * r + i) * head_elems;
        for (int64_t e = 0; e < head_elems; ++e) sum[e] += from[e];
      }
      float* to = dst.data() + j * head_elems;
      for (int64_t e = 0; e < head_elems; ++e) {
        to[e] = static_cast<float>(sum[e] / r);
      }
    }
  }
  return dst;
}

}  // namespace

absl::string_view KvConversionName(KvConversion method) {
  switch (method) {
    case KvConversion::kMean:
      return "mean";
    case KvConversion::kCalibrated:
      return "calibrated";
  }
  return "unknown";
}

absl::StatusOr<KvConversion> ParseKvConversion(absl::string_view name,
                                               absl::string_view field) {
  for (KvConversion m : {KvConversion::kMean, KvConversion::kCalibrated}) {
    if (name == KvConversionName(m)) return m;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": '", name, "' is not a KV-head conversion (mean, calibrated)"));
}

absl::Status CheckKvHeads(const ModelConfig& c, int n_kv_heads) {
  const int hkv = c.n_kv_heads;
  const int h = c.n_heads;
  const int n = n_kv_heads;
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_heads: ", n, " must be at least 1"));
  }
  if (hkv < 1 || h < 1 || c.head_dim < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_heads: the model's n_heads ", h, ", n_kv_heads ", hkv,
                     " and head_dim ", c.head_dim, " must be positive"));
  }
  if (n < hkv && hkv % n != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_heads: ", n, " does not divide the model's ", hkv,
        " KV heads (to mean-pool K/V heads, kv_heads must divide ", hkv, ")"));
  }
  if (n > hkv && (n % hkv != 0 || h % n != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_heads: ", n, " cannot be made from the model's ", hkv,
        " KV heads and ", h, " query heads (to duplicate K/V heads, ", hkv,
        " must divide kv_heads and kv_heads must divide ", h, ")"));
  }
  return absl::OkStatus();
}

std::vector<int> ValidKvHeadCounts(const ModelConfig& config) {
  std::vector<int> counts;
  for (int n = config.n_heads; n >= 1; --n) {
    if (CheckKvHeads(config, n).ok()) counts.push_back(n);
  }
  return counts;
}

absl::Status ValidateKvHeadsConversion(const Model& model, int n_kv_heads) {
  const ModelConfig& c = model.config;
  RETURN_IF_ERROR(CheckKvHeads(c, n_kv_heads));
  const int hkv = c.n_kv_heads;
  if (n_kv_heads == hkv) return absl::OkStatus();  // nothing will change
  const int64_t rows = int64_t{hkv} * c.head_dim;
  for (size_t l = 0; l < model.weights.layers.size(); ++l) {
    const LayerWeights& lw = model.weights.layers[l];
    for (const Tensor* t : {&lw.wk, &lw.wv}) {
      if (t->rank() != 2 || t->dim(0) != rows || t->dim(1) < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("kv_heads: layers.", l, (t == &lw.wk ? ".wk" : ".wv"),
                         " has shape ", t->ShapeString(), ", expected [", rows,
                         ", dim] for ", hkv, " KV heads of ", c.head_dim));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ConvertKvHeads(Model& model, int n_kv_heads) {
  // Check every layer before changing any.
  RETURN_IF_ERROR(ValidateKvHeadsConversion(model, n_kv_heads));
  ModelConfig& c = model.config;
  const int hkv = c.n_kv_heads;
  const int n = n_kv_heads;
  if (n == hkv) return absl::OkStatus();
  for (LayerWeights& lw : model.weights.layers) {
    lw.wk = Regroup(lw.wk, hkv, n, c.head_dim);
    lw.wv = Regroup(lw.wv, hkv, n, c.head_dim);
    if (!lw.bk.empty()) lw.bk = Regroup(lw.bk, hkv, n, c.head_dim);
    if (!lw.bv.empty()) lw.bv = Regroup(lw.bv, hkv, n, c.head_dim);
  }
  c.n_kv_heads = n;
  return absl::OkStatus();
}

}  // namespace kvasir::engine
