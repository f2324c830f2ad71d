#include "engine/ops/quant/quant_linear.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/parallel_for.h"
#include "engine/ops/quant/quant_amx.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_kernels.h"
#include "engine/ops/quant/quant_vnni.h"

namespace kvasir::engine::quant {
namespace {

using gguf::TensorType;
using internal::ActRows;
using internal::KernelTable;
using internal::kMaxTileRows;

// Output rows one OpenMP task computes: enough that a task's weights
// (16 rows of 4096 Q4_K values: 37 KB) stay in L2 while every tile of
// activation rows passes over them, few enough that decode (m = 1) still
// splits a 4096-row matrix into 256 tasks for the threads to balance.
constexpr int64_t kChunkRows = 16;

const KernelTable& Table(Isa isa) {
  switch (isa) {
    case Isa::kAvx512Vnni:
      return internal::Avx512Kernels();
    case Isa::kAvx2:
      return internal::Avx2Kernels();
    default:
      return internal::ScalarKernels();
  }
}

internal::QuantDotFn QuantDot(const KernelTable& t, uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ4_0:
      return t.q4_0;
    case TensorType::kQ4_1:
      return t.q4_1;
    case TensorType::kQ5_0:
      return t.q5_0;
    case TensorType::kQ5_1:
      return t.q5_1;
    case TensorType::kQ8_0:
      return t.q8_0;
    case TensorType::kQ4_K:
      return t.q4_k;
    case TensorType::kQ5_K:
      return t.q5_k;
    case TensorType::kQ6_K:
      return t.q6_k;
    default:
      return nullptr;
  }
}

internal::DenseDotFn DenseDot(const KernelTable& t, uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kF32:
      return t.f32;
    case TensorType::kF16:
      return t.f16;
    case TensorType::kBF16:
      return t.bf16;
    default:
      return nullptr;
  }
}

internal::GemvFn Gemv(const KernelTable& t, uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kQ8_0:
      return t.q8_0_rows;
    case TensorType::kQ4_K:
      return t.q4_k_rows;
    case TensorType::kQ6_K:
      return t.q6_k_rows;
    case TensorType::kF32:
      return t.f32_rows;
    case TensorType::kF16:
      return t.f16_rows;
    case TensorType::kBF16:
      return t.bf16_rows;
    default:
      return nullptr;
  }
}

// Rows [r0, r1) of one part (weights of row 0 at `w`) times all m <=
// kMaxTileRows rows of x into y (column 0 = the part's row 0, row stride
// `out`).
// special: the kernel of the linear's own activations (a Q4_K-only or
// Q6_K-only linear's), or null for the type's.
void RowsForward(const KernelTable& table, uint32_t type, const uint8_t* w,
                 int64_t r0, int64_t r1, int64_t k, const ActRows& a,
                 const float* x, int m, internal::GemvFn special, float* y,
                 int64_t out) {
  const int64_t rb = RowBytes(type, k);
  if (const internal::GemvFn rows =
          special != nullptr ? special : Gemv(table, type);
      rows != nullptr) {
    rows(w + r0 * rb, rb, r1 - r0, k, a, x, m, y + r0, out);
    return;
  }
  const internal::QuantDotFn qdot = QuantDot(table, type);
  const internal::DenseDotFn ddot = DenseDot(table, type);
  float tile[kMaxTileRows];
  for (int64_t n = r0; n < r1; ++n) {
    const uint8_t* row = w + n * rb;
    if (qdot != nullptr) {
      qdot(row, k, a, m, tile);
    } else {
      ddot(row, k, x, k, m, tile);
    }
    for (int r = 0; r < m; ++r) y[r * out + n] = tile[r];
  }
}

}  // namespace

absl::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto:
      return "auto";
    case Isa::kAvx512Vnni:
      return "avx512-vnni";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kScalar:
      return "scalar";
  }
  return "unknown";
}

bool IsaSupported(Isa isa) {
  // Idempotent; needed only if this runs before libgcc's own constructor
  // (a QuantContext built during static initialization).
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kAvx512Vnni:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("fma");
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             internal::CpuHasF16c();
    case Isa::kAuto:
    case Isa::kScalar:
      return true;
  }
  return false;
}

Isa DetectIsa() {
  if (IsaSupported(Isa::kAvx512Vnni)) return Isa::kAvx512Vnni;
  if (IsaSupported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

absl::StatusOr<std::unique_ptr<QuantContext>> QuantContext::Create(
    const Options& options) {
  Isa isa = options.isa;
  if (isa == Isa::kAuto) isa = DetectIsa();
  if (!IsaSupported(isa)) {
    return absl::UnimplementedError(absl::StrCat(
        "QuantContext: options.isa = ", IsaName(isa),
        " is not supported by this CPU (best: ", IsaName(DetectIsa()), ")"));
  }
  auto ctx = std::unique_ptr<QuantContext>(new QuantContext(isa));
  Batched batched = options.batched;
  // A/B runs of whole programs (the dot kernels against a batched path).
  if (const char* env = std::getenv("KVASIR_QUANT_BATCHED");
      batched == Batched::kAuto && env != nullptr) {
    const absl::string_view name(env);
    for (Batched b : {Batched::kOff, Batched::kAmx, Batched::kVnni}) {
      if (name == BatchedName(b)) batched = b;
    }
  }
  if (batched == Batched::kAmx && !AmxSupported()) {
    return absl::UnimplementedError(
        "QuantContext: batched = amx (options.batched or "
        "KVASIR_QUANT_BATCHED), but this CPU or OS does not "
        "allow AMX (amx-bf16 and avx512-bf16, arch_prctl XTILEDATA)");
  }
  if (batched == Batched::kVnni && isa != Isa::kAvx512Vnni &&
      isa != Isa::kAvx2) {
    return absl::UnimplementedError(
        absl::StrCat("QuantContext: batched = vnni (options.batched or "
                     "KVASIR_QUANT_BATCHED) needs options.isa = ",
                     IsaName(Isa::kAvx512Vnni), " or ", IsaName(Isa::kAvx2),
                     " (it is ", IsaName(isa), ")"));
  }
  ctx->amx_ =
      batched == Batched::kAmx ||
      (batched == Batched::kAuto && isa == Isa::kAvx512Vnni && AmxSupported());
  ctx->vnni_ = batched == Batched::kVnni ||
               (batched == Batched::kAuto && !ctx->amx_ &&
                (isa == Isa::kAvx512Vnni || isa == Isa::kAvx2));
  ctx->decode_cursor_count_ = std::max(1, omp_get_max_threads());
  ctx->decode_cursors_ =
      std::make_unique<ops::WorkCursor[]>(ctx->decode_cursor_count_);
  if (ctx->vnni_) ctx->batched_min_rows_ = kDefaultVnniMinRows;
  if (options.batched_min_rows > 0) {
    ctx->batched_min_rows_ = options.batched_min_rows;
  }
  return ctx;
}

QuantContext::~QuantContext() = default;

void QuantContext::Reserve(int64_t rows, int64_t in_features) {
  if (rows <= 0 || in_features <= 0 || in_features % 32 != 0) return;
  // Old buffers stay for the Linears that reserved them before when a
  // bigger one cannot be had.
  const int64_t bytes = rows * internal::ActRowBytes(in_features);
  if (bytes > act_bytes_) {
    act_ = Allocate(bytes);
    act_bytes_ = bytes;
  }
  if (vnni_) ReserveVnni(rows, in_features);
  if (!amx_) return;
  const int64_t packed = internal::AmxActBytes(rows, in_features);
  if (packed > amx_act_bytes_) {
    amx_act_ = Allocate(packed);
    amx_act_bytes_ = packed;
  }
  const int64_t scratch = internal::AmxScratchBytes(rows);
  const int threads = std::max(1, omp_get_max_threads());
  if (scratch > amx_scratch_bytes_ || threads > amx_threads_) {
    const int64_t each = std::max(scratch, amx_scratch_bytes_);
    const int n = std::max(threads, amx_threads_);
    amx_scratch_ = Allocate(each * n);
    amx_scratch_bytes_ = each;
    amx_threads_ = n;
  }
}

absl::StatusOr<std::unique_ptr<QuantLinear>> QuantLinear::Create(
    const Options& options, QuantContext* ctx, absl::Span<const Part> parts,
    int64_t in_features) {
  const std::string& name = options.name;
  if (ctx == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("QuantLinear ", name, ": ctx is null"));
  }
  if (options.max_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "QuantLinear ", name, ": max_rows = ", options.max_rows, " < 1"));
  }
  if (parts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("QuantLinear ", name, ": no parts"));
  }
  if (in_features <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "QuantLinear ", name, ": in_features = ", in_features, " <= 0"));
  }
  auto linear =
      std::unique_ptr<QuantLinear>(new QuantLinear(options, in_features));
  bool any_quantized = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    Part p = parts[i];
    if (p.data == nullptr || p.rows <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "QuantLinear ", name, ": part ", i, " is empty (rows = ", p.rows,
          ", data ", p.data ? "set" : "null", ")"));
    }
    if (!HasKernel(p.type)) {
      return absl::UnimplementedError(absl::StrCat(
          "QuantLinear ", name, ": part ", i, " has type ", TypeName(p.type),
          " (", p.type, "), which has no quantized matmul kernel"));
    }
    const int64_t block = GetBlockInfo(p.type)->block_size;
    if (in_features % block != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("QuantLinear ", name, ": in_features = ", in_features,
                       " is not a multiple of the ", TypeName(p.type),
                       " block size ", block, " (part ", i, ")"));
    }
    any_quantized = any_quantized || IsQuantized(p.type);
    // Task boundaries follow part boundaries so a task runs one kernel.
    const int64_t row_bytes = RowBytes(p.type, in_features);
    if (options.arena != nullptr) {
      ASSIGN_OR_RETURN(uint8_t * copy,
                       options.arena->Allocate(p.rows * row_bytes, name));
      std::memcpy(copy, p.data, static_cast<size_t>(p.rows * row_bytes));
      p.data = copy;
    }
    auto split = [&](int64_t size, std::vector<Chunk>& list) {
      for (int64_t r = 0; r < p.rows; r += size) {
        list.push_back(
            {.part = static_cast<int>(i),
             .row_begin = linear->out_features_ + r,
             .rows = std::min(size, p.rows - r),
             .data = static_cast<const uint8_t*>(p.data) + r * row_bytes});
      }
    };
    split(kChunkRows, linear->chunks_);
    // (Unused without VNNI panels; ForwardVnni checks vnni_ first.)
    if (ctx->vnni_) split(internal::kVnniTaskRows, linear->vnni_chunks_);
    linear->out_features_ += p.rows;
    linear->weight_bytes_ += p.rows * row_bytes;
    linear->parts_.push_back(p);
  }
  linear->quantized_ = any_quantized;
  linear->amx_ = ctx->amx_ && in_features % internal::kAmxK == 0 &&
                 std::all_of(parts.begin(), parts.end(), [](const Part& p) {
                   return BatchedCovers(p.type);
                 });
  // On AVX2 the panels are quant_panel_avx2.cc's, whose K-quant tiles take
  // super-block activations only and Q8_0's those of 32 values: a linear
  // of both kinds of parts stays on the dot kernels.
  const bool avx2 = ctx->isa_ == Isa::kAvx2;
  const auto super = [](const Part& p) {
    return internal::VnniTakesSuperAct(p.type);
  };
  const bool all_super = std::all_of(parts.begin(), parts.end(), super);
  linear->vnni_ =
      ctx->vnni_ &&
      std::all_of(parts.begin(), parts.end(),
                  [avx2](const Part& p) {
                    return avx2 ? internal::Avx2PanelCovers(p.type)
                                : internal::VnniCovers(p.type);
                  }) &&
      (!avx2 || all_super || std::none_of(parts.begin(), parts.end(), super));
  linear->vnni_super_ = linear->vnni_ && all_super;
  linear->q4k_only_ =
      std::all_of(parts.begin(), parts.end(), [](const Part& p) {
        return p.type == static_cast<uint32_t>(TensorType::kQ4_K);
      });
  linear->q6k_only_ =
      std::all_of(parts.begin(), parts.end(), [](const Part& p) {
        return p.type == static_cast<uint32_t>(TensorType::kQ6_K);
      });
  if (any_quantized) {
    try {
      ctx->Reserve(options.max_rows, in_features);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "QuantLinear ", name, ": no memory for ", options.max_rows,
          " rows of ", in_features, " quantized activations"));
    }
  }
  return linear;
}

absl::Status QuantLinear::Forward(QuantContext& ctx, const float* x, int m,
                                  float* y) const {
  if (m < 1 || m > options_.max_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("QuantLinear ", options_.name, ": m = ", m,
                     " outside [1, max_rows = ", options_.max_rows, "]"));
  }
  if (amx_ && m >= ctx.batched_min_rows_) return ForwardAmx(ctx, x, m, y);
  const int64_t k = in_features_;
  const int64_t stride = internal::ActRowBytes(k);
  if (quantized_ && ctx.act_bytes_ < m * stride) {
    return absl::FailedPreconditionError(absl::StrCat(
        "QuantLinear ", options_.name, ": the context holds ", ctx.act_bytes_,
        " activation bytes, m = ", m, " needs ", m * stride,
        " (Forward with the context given to Create)"));
  }
  const KernelTable& table = Table(ctx.isa_);
  uint8_t* act = ctx.act_.get();
  if (TakesVnni(ctx, m)) return ForwardVnni(ctx, x, m, y);
  if (quantized_) QuantizeRows(ctx, x, m, 0, m);
  if (m <= kMaxTileRows) {
#pragma omp parallel
    {
      ArmDecodeSlice(ctx, m, omp_get_thread_num(), omp_get_num_threads());
#pragma omp barrier
      DecodeSlice(ctx, x, m, y, omp_get_thread_num(), omp_get_num_threads());
    }
    return absl::OkStatus();
  }
  const ActRows all_rows{
      .base = act, .stride = stride, .nbp = internal::ActPaddedBlocks(k)};
  const int64_t out = out_features_;
  const int64_t n_chunks = static_cast<int64_t>(chunks_.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const Chunk& chunk = chunks_[c];
    const uint32_t type = parts_[chunk.part].type;
    const int64_t row_bytes = RowBytes(type, k);
    const internal::QuantDotFn qdot = QuantDot(table, type);
    const internal::DenseDotFn ddot = DenseDot(table, type);
    float tile[kMaxTileRows];
    // Activation tiles outside, weight rows inside: the chunk's weights are
    // read from memory once and then from cache for every tile.
    for (int i0 = 0; i0 < m; i0 += kMaxTileRows) {
      const int rows = std::min(kMaxTileRows, m - i0);
      ActRows a = all_rows;
      // (No quantized activations, no buffer: keep null pointers unmoved.)
      if (a.base != nullptr) a.base += i0 * stride;
      for (int64_t n = 0; n < chunk.rows; ++n) {
        const uint8_t* w = chunk.data + n * row_bytes;
        if (qdot != nullptr) {
          qdot(w, k, a, rows, tile);
        } else {
          ddot(w, k, x + i0 * k, k, rows, tile);
        }
        for (int r = 0; r < rows; ++r) {
          y[(i0 + r) * out + chunk.row_begin + n] = tile[r];
        }
      }
    }
  }
  return absl::OkStatus();
}

bool QuantLinear::DecodesInTeam(const QuantContext& ctx, int m,
                                int threads) const {
  if (m < 1 || m > options_.max_rows) return false;
  if (quantized_ && ctx.act_bytes_ < m * internal::ActRowBytes(in_features_)) {
    return false;
  }
  if (amx_ && m >= ctx.batched_min_rows_) return false;
  if (TakesVnni(ctx, m)) {
    return m <= kVnniTeamMaxRows && threads <= ctx.vnni_threads_ &&
           VnniFits(ctx, m);
  }
  return m <= kMaxTileRows;
}

bool QuantLinear::OnDecodeKernels(const QuantContext& ctx, int m) const {
  return m <= kMaxTileRows && !TakesVnni(ctx, m) &&
         !(amx_ && m >= ctx.batched_min_rows_);
}

bool QuantLinear::InterleavesQ4K(const QuantContext& ctx, int m) const {
  return q4k_only_ && OnDecodeKernels(ctx, m) &&
         Table(ctx.isa_).q4_k_interleaved_rows != nullptr;
}

bool QuantLinear::SuperQ6K(const QuantContext& ctx, int m) const {
  return q6k_only_ && OnDecodeKernels(ctx, m) &&
         Table(ctx.isa_).q6_k_super_rows != nullptr;
}

void QuantLinear::QuantizeRows(QuantContext& ctx, const float* x, int m, int r0,
                               int r1) const {
  // (InterleavesQ4K is one case of SuperAct, with its own order.)
  const internal::QuantizeActFn quantize =
      InterleavesQ4K(ctx, m) ? Table(ctx.isa_).quantize_act_q4k
      : SuperAct(ctx, m)     ? internal::QuantizeActSuperAvx2
                             : Table(ctx.isa_).quantize_act;
  const int64_t k = in_features_;
  const int64_t stride = internal::ActRowBytes(k);
  uint8_t* act = ctx.act_.get();
  // (Called by a team's threads too: no region of its own then.)
  ops::ParallelFor(r0, r1, true, [&](int64_t i) {
    quantize(x + i * k, k, act + i * stride);
  });
}

void QuantLinear::PrepareDecode(QuantContext& ctx, const float* x,
                                int m) const {
  PrepareDecodeSlice(ctx, x, m, 0, 1);
}

void QuantLinear::PrepareDecodeSlice(QuantContext& ctx, const float* x, int m,
                                     int thread, int threads) const {
  if (!quantized_) return;
  if (!TakesVnni(ctx, m)) {
    if (thread == 0) QuantizeRows(ctx, x, m, 0, m);
    return;
  }
  if (thread == 0) ctx.vnni_next_.store(0, std::memory_order_relaxed);
  const int64_t tiles = internal::VnniTiles(m);
  const int64_t t0 = tiles * thread / threads;
  const int64_t t1 = tiles * (thread + 1) / threads;
  if (t0 == t1) return;
  QuantizeRows(ctx, x, m, static_cast<int>(t0) * internal::kVnniTileRows,
               std::min(m, static_cast<int>(t1) * internal::kVnniTileRows));
  VnniPack(ctx, m, t0, t1);
}

void QuantLinear::DecodeSlice(const QuantContext& ctx, const float* x, int m,
                              float* y, int thread, int threads) const {
  if (TakesVnni(ctx, m)) {
    // Tasks claimed one at a time, each thread claiming its next before it
    // runs the current one (whose last panel prefetches it): a thread that
    // starts late (woken from a futex sleep, or descheduled by the
    // hypervisor) takes fewer tasks instead of making the team wait for a
    // fixed share. A task's result does not depend on its thread.
    uint8_t* scratch =
        ctx.vnni_scratch_.get() + thread * ctx.vnni_scratch_bytes_;
    const int64_t n = static_cast<int64_t>(vnni_chunks_.size());
    std::atomic<int64_t>& next = ctx.vnni_next_;
    int64_t c = next.fetch_add(1, std::memory_order_relaxed);
    while (c < n) {
      const int64_t after = next.fetch_add(1, std::memory_order_relaxed);
      VnniTask(ctx, c, after < n ? after : -1, m, scratch, y);
      c = after;
    }
    return;
  }
  // Decode: the weights are read once, so the cost is their bytes. The
  // weights are split into ranges of bytes (not rows: parts differ in bytes
  // per row); each thread streams its share of them in order, then takes
  // over those the others have not reached (a core that runs late, its vCPU
  // preempted or its memory slower for a while, would otherwise keep the
  // team waiting at the next barrier).
  const int64_t ranges = int64_t{kDecodeRangesPerThread} * threads;
  auto run = [&](int64_t r, int64_t /*share_end*/) {
    RunByteRange(ctx, x, m, y, weight_bytes_ * r / ranges,
                 weight_bytes_ * (r + 1) / ranges);
  };
  if (threads <= ctx.decode_cursor_count_) {
    ops::ClaimAll(ctx.decode_cursors_.get(), thread, threads, run);
  } else {
    for (int64_t r = ranges * thread / threads;
         r < ranges * (thread + 1) / threads; ++r) {
      run(r, 0);
    }
  }
}

void QuantLinear::ArmDecodeSlice(const QuantContext& ctx, int m, int thread,
                                 int threads) const {
  if (TakesVnni(ctx, m) || threads > ctx.decode_cursor_count_) return;
  const int64_t ranges = int64_t{kDecodeRangesPerThread} * threads;
  ctx.decode_cursors_[thread].Arm(ranges * thread / threads,
                                  ranges * (thread + 1) / threads);
}

void QuantLinear::RunByteRange(const QuantContext& ctx, const float* x, int m,
                               float* y, int64_t lo, int64_t hi) const {
  const KernelTable& table = Table(ctx.isa_);
  const int64_t k = in_features_;
  const ActRows all_rows{.base = ctx.act_.get(),
                         .stride = internal::ActRowBytes(k),
                         .nbp = internal::ActPaddedBlocks(k)};
  const int64_t out = out_features_;
  const internal::GemvFn special = InterleavesQ4K(ctx, m)
                                       ? table.q4_k_interleaved_rows
                                   : SuperQ6K(ctx, m) ? table.q6_k_super_rows
                                                      : nullptr;
  int64_t byte0 = 0, row0 = 0;  // where the part starts
  for (const Part& p : parts_) {
    const int64_t rb = RowBytes(p.type, k);
    // Rows whose first byte lies in [lo, hi).
    auto first_row_at = [&](int64_t b) {
      return std::clamp((b - byte0 + rb - 1) / rb, int64_t{0}, p.rows);
    };
    const int64_t r0 = first_row_at(lo), r1 = first_row_at(hi);
    if (r0 < r1) {
      RowsForward(table, p.type, static_cast<const uint8_t*>(p.data), r0, r1, k,
                  all_rows, x, m, special, y + row0, out);
    }
    byte0 += p.rows * rb;
    row0 += p.rows;
  }
}

}  // namespace kvasir::engine::quant
