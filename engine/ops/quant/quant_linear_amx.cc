// QuantLinear's batched path (AMX; the kernels are in quant_amx.cc) and the
// context's buffers for it.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/ops/quant/quant_amx.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_linear.h"

namespace kvasir::engine::quant {

absl::string_view BatchedName(Batched batched) {
  switch (batched) {
    case Batched::kAuto:
      return "auto";
    case Batched::kOff:
      return "off";
    case Batched::kAmx:
      return "amx";
    case Batched::kVnni:
      return "vnni";
  }
  return "unknown";
}

bool AmxSupported() { return internal::AmxUsable(); }

bool BatchedCovers(uint32_t type) { return internal::AmxCovers(type); }

std::unique_ptr<uint8_t[], QuantContext::Free> QuantContext::Allocate(
    int64_t bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  const size_t size = static_cast<size_t>((bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, size);
  if (p == nullptr) throw std::bad_alloc();
  // Zeroed: the AMX tiles read the padding rows of the last activation
  // tile and of a short weight panel (their results are dropped, but they
  // must be defined values).
  std::memset(p, 0, size);
  return std::unique_ptr<uint8_t[], Free>(static_cast<uint8_t*>(p));
}

absl::Status QuantLinear::ForwardAmx(QuantContext& ctx, const float* x, int m,
                                     float* y) const {
  const int64_t k = in_features_;
  if (ctx.amx_act_bytes_ < internal::AmxActBytes(m, k) ||
      ctx.amx_scratch_bytes_ < internal::AmxScratchBytes(m)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "QuantLinear ", options_.name, ": the context's AMX buffers hold ",
        ctx.amx_act_bytes_, " / ", ctx.amx_scratch_bytes_, " bytes, m = ", m,
        " needs ", internal::AmxActBytes(m, k), " / ",
        internal::AmxScratchBytes(m),
        " (Forward with the context given to Create)"));
  }
  // Each thread needs its own scratch: never more threads than scratches.
  const int threads = std::min(omp_get_max_threads(), ctx.amx_threads_);
  uint16_t* packed = reinterpret_cast<uint16_t*>(ctx.amx_act_.get());
#pragma omp parallel for schedule(static) num_threads(threads) if (m > 16)
  for (int r0 = 0; r0 < m; r0 += internal::kAmxRows) {
    internal::AmxPackRows(x, k, r0, std::min(m, r0 + internal::kAmxRows),
                          packed);
  }
  // A task: two consecutive chunks (16 rows each, possibly of two parts),
  // the two A tiles that share each activation tile load.
  const int64_t n_chunks = static_cast<int64_t>(chunks_.size());
  const int64_t n_tasks = (n_chunks + 1) / 2;
  const int64_t out = out_features_;
  uint8_t* scratches = ctx.amx_scratch_.get();
  const int64_t scratch_bytes = ctx.amx_scratch_bytes_;
#pragma omp parallel num_threads(threads)
  {
    uint8_t* scratch = scratches + omp_get_thread_num() * scratch_bytes;
    internal::AmxBeginThread();
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < n_tasks; ++t) {
      internal::AmxWeightTile tiles[2];
      const int n = static_cast<int>(std::min<int64_t>(2, n_chunks - 2 * t));
      for (int i = 0; i < n; ++i) {
        const Chunk& chunk = chunks_[2 * t + i];
        const uint32_t type = parts_[chunk.part].type;
        tiles[i] = {.type = type,
                    .data = chunk.data,
                    .row_bytes = RowBytes(type, k),
                    .rows = static_cast<int>(chunk.rows),
                    .y = y + chunk.row_begin};
      }
      internal::AmxTask(tiles, n, k, packed, m, scratch, out);
    }
    internal::AmxEndThread();
  }
  return absl::OkStatus();
}

}  // namespace kvasir::engine::quant
