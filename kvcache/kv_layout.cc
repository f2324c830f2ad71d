#include "kvcache/kv_layout.h"

#include "absl/strings/str_cat.h"

namespace kvasir::kvcache {

absl::Span<const KvDtype> AllKvDtypes() {
  static constexpr KvDtype kAll[] = {KvDtype::kF32, KvDtype::kBF16,
                                     KvDtype::kInt8};
  return kAll;
}

absl::string_view KvDtypeName(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::kF32:
      return "f32";
    case KvDtype::kBF16:
      return "bf16";
    case KvDtype::kInt8:
      return "int8";
  }
  return "?";
}

absl::StatusOr<KvDtype> ParseKvDtype(absl::string_view text,
                                     absl::string_view field) {
  for (KvDtype d : {KvDtype::kF32, KvDtype::kBF16, KvDtype::kInt8}) {
    if (text == KvDtypeName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", text, "' is not one of f32, bf16, int8"));
}

absl::Status KvLayout::Validate() const {
  if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || block_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid KV layout: ", DebugString(),
                     " (every dimension must be positive)"));
  }
  if (dtype == KvDtype::kInt8 && (int64_t{block_size} * head_dim) % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid KV layout: ", DebugString(),
        " (an int8 cache needs block_size * head_dim to be a multiple of 4, "
        "so that each block's f32 scales are aligned)"));
  }
  return absl::OkStatus();
}

std::string KvLayout::DebugString() const {
  return absl::StrCat("layers=", n_layers, " kv_heads=", n_kv_heads,
                      " head_dim=", head_dim, " block_size=", block_size,
                      " dtype=", KvDtypeName(dtype));
}

}  // namespace kvasir::kvcache
