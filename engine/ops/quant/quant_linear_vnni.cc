// QuantLinear's batched path on AVX-512 VNNI without AMX (the kernels are
// in quant_vnni.cc) and the context's buffers for it.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_kernels.h"
#include "engine/ops/quant/quant_linear.h"
#include "engine/ops/quant/quant_vnni.h"

namespace kvasir::engine::quant {

void QuantContext::ReserveVnni(int64_t rows, int64_t in_features) {
  const int64_t packed = internal::VnniActBytes(rows, in_features);
  if (packed > vnni_act_bytes_) {
    vnni_act_ = Allocate(packed);
    vnni_act_bytes_ = packed;
  }
  const int64_t scratch = internal::VnniScratchBytes(in_features);
  const int threads = std::max(1, omp_get_max_threads());
  if (scratch > vnni_scratch_bytes_ || threads > vnni_threads_) {
    const int64_t each = std::max(scratch, vnni_scratch_bytes_);
    const int n = std::max(threads, vnni_threads_);
    vnni_scratch_ = Allocate(each * n);
    vnni_scratch_bytes_ = each;
    vnni_threads_ = n;
  }
}

bool QuantLinear::VnniFits(const QuantContext& ctx, int m) const {
  const int64_t k = in_features_;
  return TakesVnni(ctx, m) &&
         ctx.vnni_act_bytes_ >= internal::VnniActBytes(m, k) &&
         ctx.vnni_scratch_bytes_ >= internal::VnniScratchBytes(k);
}

void QuantLinear::VnniPack(QuantContext& ctx, int m, int64_t t_begin,
                           int64_t t_end) const {
  const int64_t k = in_features_;
  const internal::ActRows rows{.base = ctx.act_.get(),
                               .stride = internal::ActRowBytes(k),
                               .nbp = internal::ActPaddedBlocks(k)};
  // The AVX2 panels on kAvx2 (quant_panel_avx2.cc), else VNNI's.
  const auto pack = ctx.isa_ == Isa::kAvx2 ? internal::Avx2PanelPackRows
                                           : internal::VnniPackRows;
  pack(rows, m, k, t_begin, t_end, ctx.vnni_act_.get());
}

void QuantLinear::VnniTask(const QuantContext& ctx, int64_t c, int64_t next_c,
                           int m, uint8_t* scratch, float* y) const {
  // A task: up to kVnniTaskRows rows of one part, panel after panel, each
  // prefetching the next (the last one the first of task next_c); the
  // threads take disjoint tasks, so each weight byte comes from memory once
  // per call.
  //
  // Every panel multiplies all the packed activation tiles it is given. Past
  // a few tiles (prefill) they no longer fit in L2 next to the panel, and
  // each panel would read them all from L3 again; so the rows go in groups
  // of VnniGroupTiles(k) tiles, every panel of the task per group. A panel
  // is then read (from L2 or L3 after the first group) and decoded once per
  // group; decode-sized calls (m <= 32) are one group.
  const int64_t k = in_features_;
  const Chunk& chunk = vnni_chunks_[c];
  const uint32_t type = parts_[chunk.part].type;
  const int64_t row_bytes = RowBytes(type, k);
  const int64_t group_rows =
      internal::VnniGroupTiles(k) * internal::kVnniTileRows;
  const auto panel =
      ctx.isa_ == Isa::kAvx2 ? internal::Avx2Panel : internal::VnniPanel;
  for (int64_t r0 = 0; r0 < m; r0 += group_rows) {
    const int rows_m = static_cast<int>(std::min<int64_t>(group_rows, m - r0));
    const bool last_group = r0 + group_rows >= m;
    for (int64_t n0 = 0; n0 < chunk.rows; n0 += internal::kVnniPanelRows) {
      const int rows_here = static_cast<int>(
          std::min<int64_t>(internal::kVnniPanelRows, chunk.rows - n0));
      const uint8_t* w = chunk.data + n0 * row_bytes;
      const uint8_t* next = w + rows_here * row_bytes;
      int64_t next_bytes = std::min<int64_t>(internal::kVnniPanelRows,
                                             chunk.rows - n0 - rows_here) *
                           row_bytes;
      if (next_bytes == 0 && !last_group) {
        // The next group starts again at the task's first panel.
        next = chunk.data;
        next_bytes =
            std::min<int64_t>(internal::kVnniPanelRows, chunk.rows) * row_bytes;
      } else if (next_bytes == 0 && next_c >= 0) {
        const Chunk& after = vnni_chunks_[next_c];
        next = after.data;
        next_bytes = std::min<int64_t>(internal::kVnniPanelRows, after.rows) *
                     RowBytes(parts_[after.part].type, k);
      }
      panel(type, w, row_bytes, rows_here, k,
            ctx.vnni_act_.get() + internal::VnniActBytes(r0, k), rows_m,
            vnni_super_, next_bytes > 0 ? next : nullptr, next_bytes, scratch,
            y + r0 * out_features_ + chunk.row_begin + n0, out_features_);
    }
  }
}

absl::Status QuantLinear::ForwardVnni(QuantContext& ctx, const float* x, int m,
                                      float* y) const {
  const int64_t k = in_features_;
  if (!VnniFits(ctx, m)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "QuantLinear ", options_.name, ": the context's VNNI buffers hold ",
        ctx.vnni_act_bytes_, " / ", ctx.vnni_scratch_bytes_, " bytes, m = ", m,
        " needs ", internal::VnniActBytes(m, k), " / ",
        internal::VnniScratchBytes(k),
        " (Forward with the context given to Create)"));
  }
  // The team split of a decode step, in a region of its own. Each thread
  // needs its own scratch: never more threads than scratches.
  const int threads = std::min(omp_get_max_threads(), ctx.vnni_threads_);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    PrepareDecodeSlice(ctx, x, m, t, nt);
#pragma omp barrier
    DecodeSlice(ctx, x, m, y, t, nt);
  }
  return absl::OkStatus();
}

}  // namespace kvasir::engine::quant
