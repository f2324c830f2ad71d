#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_LINEAR_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_LINEAR_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/ops/weight_arena.h"
#include "engine/ops/work_cursor.h"

namespace kvasir::engine::quant {

// The instruction set a quantized kernel runs on. kAuto picks the best the
// CPU has (cpuid at run time): AVX-512 with VNNI, else AVX2 + FMA, else the
// portable scalar code.
enum class Isa { kAuto, kAvx512Vnni, kAvx2, kScalar };
absl::string_view IsaName(Isa isa);  // "avx512-vnni", "avx2", "scalar"
// The best Isa this CPU supports (never kAuto).
Isa DetectIsa();
// Whether this CPU can run kernels of `isa` (kAuto and kScalar: always).
bool IsaSupported(Isa isa);

// How Forward multiplies a batch of m >= Options::batched_min_rows rows:
// kAuto uses AMX tiles (bf16 weights dequantized per panel, see
// quant_amx.h) when the Isa is kAvx512Vnni and the CPU and OS allow AMX,
// else panels (weights decoded to int8 once per call and applied to every
// activation row, see quant_vnni.h): VNNI panels on kAvx512Vnni, AVX2
// panels on kAvx2 (Q4_K and Q6_K only; quant_panel_avx2.cc), else the
// Isa's dot kernels; kOff always uses the dot kernels; kAmx requires AMX
// and kVnni ("the panels") the kAvx512Vnni or kAvx2 Isa (Create fails
// without them). Linears with a part the batched paths do not cover
// (BatchedCovers; on kAvx2 also Q4_0 and Q8_0) use the dot kernels at every
// m.
enum class Batched { kAuto, kOff, kAmx, kVnni };
// "auto", "off", "amx", "vnni"
absl::string_view BatchedName(Batched batched);
// Whether this CPU and OS can run the AMX path.
bool AmxSupported();
// Whether the batched paths (AMX and VNNI) multiply parts of ggml type
// `type` (Q4_0, Q8_0, Q4_K, Q6_K).
bool BatchedCovers(uint32_t type);

// What the quantized matmuls of one model share: the chosen instruction set
// and the buffer that holds the activations quantized to 8 bits (one
// quantization of x serves every part of a fused projection); with AMX, the
// activations packed as bf16 (AMX) or in int8 tiles (VNNI) and each
// thread's weight panel.
//
// Not thread-safe: one thread calls Forward (which itself runs OpenMP
// threads).
class QuantContext {
 public:
  struct Options {
    // Forced instruction set (tests force kAvx2 to cover machines without
    // AVX-512); kAuto = DetectIsa().
    Isa isa = Isa::kAuto;
    // kAuto: also what the environment variable KVASIR_QUANT_BATCHED names
    // ("off", "amx", "vnni"; for A/B runs of whole programs), else the
    // best this CPU has.
    Batched batched = Batched::kAuto;
    // The smallest m that takes the batched (AMX or VNNI) path; 0 = the
    // default, kDefaultBatchedMinRows (AMX) or kDefaultVnniMinRows
    // (measured: bench/quant_bench.cc).
    int batched_min_rows = 0;
  };
  static constexpr int kDefaultBatchedMinRows = 8;
  // Measured on Zen 4 (bench/quant_bench.cc, one thread, hot): at m = 8
  // the panels take half the time of the dot kernels for Q4_K and Q4_0,
  // the same for Q8_0 and 1.2x longer for Q6_K; at m = 32, 0.43-0.75x.
  // The AVX2 panels on Zen 3 (two threads, weights from memory, GOP/s,
  // dot kernels vs panels): m = 5 Q4_K 84 vs 77, Q6_K 81 vs 66; m = 8 89
  // vs 133, 99 vs 122; so the same threshold.
  static constexpr int kDefaultVnniMinRows = 8;
  // Unimplemented naming the Isa when the CPU cannot run a forced one, for
  // Batched::kAmx without AMX, or for Batched::kVnni on another Isa.
  static absl::StatusOr<std::unique_ptr<QuantContext>> Create(
      const Options& options);

  ~QuantContext();
  QuantContext(const QuantContext&) = delete;
  QuantContext& operator=(const QuantContext&) = delete;

  Isa isa() const { return isa_; }
  // Whether Forward takes the AMX path for m >= batched_min_rows().
  bool amx() const { return amx_; }
  // Whether Forward takes the panel path (VNNI, or AVX2 on kAvx2) for
  // m >= batched_min_rows().
  bool vnni() const { return vnni_; }
  int batched_min_rows() const { return batched_min_rows_; }

  // Grows the activation buffer for `rows` rows of `in_features` values
  // (with AMX also the packed bf16 activations and one scratch (weight panel,
  // accumulators) per thread of omp_get_max_threads(), with VNNI the
  // activation tiles and one decoded panel per thread; Forward runs at most
  // that many threads). Called at load time by QuantLinear::Create; Forward
  // never allocates. Throws std::bad_alloc (keeping the old buffer) when memory
  // runs out.
  void Reserve(int64_t rows, int64_t in_features);

 private:
  friend class QuantLinear;
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  explicit QuantContext(Isa isa) : isa_(isa) {}
  // A zeroed 64-byte aligned buffer of `bytes` (rounded up to 64).
  static std::unique_ptr<uint8_t[], Free> Allocate(int64_t bytes);

  Isa isa_;
  std::unique_ptr<uint8_t[], Free> act_;  // 64-byte aligned
  int64_t act_bytes_ = 0;
  bool amx_ = false;
  int batched_min_rows_ = kDefaultBatchedMinRows;
  std::unique_ptr<uint8_t[], Free> amx_act_;  // internal::AmxPackRows
  int64_t amx_act_bytes_ = 0;
  std::unique_ptr<uint8_t[], Free> amx_scratch_;  // per thread
  int64_t amx_scratch_bytes_ = 0;                 // of each thread
  int amx_threads_ = 0;
  bool vnni_ = false;
  std::unique_ptr<uint8_t[], Free> vnni_act_;  // internal::VnniPackRows
  int64_t vnni_act_bytes_ = 0;
  std::unique_ptr<uint8_t[], Free> vnni_scratch_;  // per thread
  int64_t vnni_scratch_bytes_ = 0;                 // of each thread
  int vnni_threads_ = 0;
  // The next VNNI task a team thread claims in DecodeSlice; PrepareDecode
  // resets it (the caller's barrier publishes that).
  mutable std::atomic<int64_t> vnni_next_{0};
  // Below the batched paths, the shares of DecodeSlice's threads (one per
  // thread of omp_get_max_threads() at Create; ArmDecodeSlice sets them).
  std::unique_ptr<ops::WorkCursor[]> decode_cursors_;
  int decode_cursor_count_ = 0;
  // Grows the VNNI buffers (quant_linear_vnni.cc).
  void ReserveVnni(int64_t rows, int64_t in_features);
};

// y = x · Wᵀ with W [out_features, in_features] kept in its ggml block
// format (see quant_formats.h): W is one or more row blocks (parts) that
// are stacked, each of its own type (a Q4_K_M file mixes Q4_K and Q6_K in
// one fused QKV projection). Types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K,
// Q5_K, Q6_K, and F32/F16/BF16 (a part converted at load, e.g. by a KV-head
// conversion).
//
// Quantized parts multiply 8-bit quantized activations (per 32 values: an
// f32 scale, int8 values and their sum) with integer dot products, as
// llama.cpp's CPU kernels do (its accuracy class: a few tenths of a logit
// from the exact math); F32/F16/BF16 parts use the f32 activations. On the
// VNNI panels a linear of K-quant parts, and on the AVX-512 and AVX2 decode
// kernels (m <= 4) a linear of Q4_K parts only or of Q6_K parts only, take
// one activation scale per 256 values
// instead, as llama.cpp does for K-quants (its Q8_K): ActBlock.
//
// The weight bytes are copied into options.arena when one is given (the
// caller may then free the parts); without one they are NOT copied, and
// each part's data must stay valid and unchanged while the QuantLinear
// lives (the Model owns them).
// Immutable after Create; Forward mutates only the context.
class QuantLinear {
 public:
  struct Options {
    std::string name;    // for error messages: "layers.3.wqkv"
    int max_rows = 512;  // largest m that Forward accepts, >= 1
    // Not owned; must outlive the QuantLinear. Set: the parts are copied
    // here (on huge pages: ops/weight_arena.h), else read where they are.
    ops::WeightArena* arena = nullptr;
  };
  // Rows [rows, in_features] of W as `type`: rows * RowBytes(type,
  // in_features) bytes at `data` (any alignment).
  struct Part {
    uint32_t type = 0;  // ggml type id
    const void* data = nullptr;
    int64_t rows = 0;
  };

  // `ctx` is not owned and must outlive the QuantLinear (Reserve is called
  // on it). InvalidArgument naming options.name for no parts, a null or
  // empty part, in_features <= 0 or not a multiple of a part's block size,
  // max_rows < 1; ResourceExhausted when the activation buffer cannot
  // grow; Unimplemented naming the part's type for a type without
  // a kernel.
  static absl::StatusOr<std::unique_ptr<QuantLinear>> Create(
      const Options& options, QuantContext* ctx, absl::Span<const Part> parts,
      int64_t in_features);

  // y: [m, out_features] = x: [m, in_features] · Wᵀ; both row-major and
  // contiguous, not overlapping. Runs on the calling thread's OpenMP team
  // (omp_get_max_threads()). InvalidArgument unless 1 <= m <= max_rows.
  // Does not allocate.
  absl::Status Forward(QuantContext& ctx, const float* x, int m,
                       float* y) const;

  // Forward's split for a caller that runs its own team of `threads` (a
  // decode step in one parallel region): one thread calls PrepareDecode
  // (which quantizes x into ctx, and packs it for the VNNI panels), every
  // thread t of n calls ArmDecodeSlice(..., t, n), then after a barrier
  // every thread calls DecodeSlice(..., t, n); the result is Forward's, bit
  // for bit. On the VNNI panels the threads claim tasks from a counter in
  // ctx (one PrepareDecode per team call); below them each thread claims
  // the byte ranges of its share in order, then those left in the others'
  // (ops::WorkCursor). Either way the slices together cover y whatever the
  // threads' timing. Only where DecodesInTeam(ctx, m, threads): m <= 4 rows
  // below the batched paths, or the VNNI panels for m up to
  // kVnniTeamMaxRows (a batched decode step; longer prefill chunks run
  // Forward's own region), with room in ctx (the context given to Create)
  // for m rows and a scratch per thread.
  static constexpr int kVnniTeamMaxRows = 64;
  bool DecodesInTeam(const QuantContext& ctx, int m, int threads) const;
  void PrepareDecode(QuantContext& ctx, const float* x, int m) const;
  // PrepareDecode split over a team: every thread t of n calls it, then the
  // team meets at a barrier before DecodeSlice. Each thread quantizes and
  // packs its share of the VNNI tiles (whole tiles: a tile's rows are
  // packed by the thread that quantized them); below the panels thread 0
  // does all of it (a few rows).
  void PrepareDecodeSlice(QuantContext& ctx, const float* x, int m, int thread,
                          int threads) const;
  void ArmDecodeSlice(const QuantContext& ctx, int m, int thread,
                      int threads) const;
  void DecodeSlice(const QuantContext& ctx, const float* x, int m, float* y,
                   int thread, int threads) const;
  // DecodeSlice's byte ranges per thread below the batched paths: a thread
  // that finishes its share early takes over the rest of another's in
  // ranges of this size. Measured (perf, single-stream Q4_K_M decode of
  // dummy:110m, 2 threads, Zen 5 VM): the team's wait at barriers fell from
  // 10.3% to 6.0% of its time against one fixed share per thread.
  static constexpr int kDecodeRangesPerThread = 16;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  // Bytes of the weights (all parts, as stored).
  int64_t weight_bytes() const { return weight_bytes_; }
  const std::vector<Part>& parts() const { return parts_; }
  // The values per activation scale Forward (or the team's split) uses for
  // m rows on ctx: 256 where the note above says, else 32.
  int64_t ActBlock(const QuantContext& ctx, int m) const {
    return SuperAct(ctx, m) ? 256 : 32;
  }

 private:
  QuantLinear(const Options& options, int64_t in_features)
      : options_(options), in_features_(in_features) {}
  // Forward on AMX (quant_linear_amx.cc); preconditions checked.
  absl::Status ForwardAmx(QuantContext& ctx, const float* x, int m,
                          float* y) const;
  // Forward on VNNI panels (quant_linear_vnni.cc): PrepareDecodeSlice and
  // DecodeSlice in one parallel region. Checks VnniFits; Forward checked
  // m and the activation buffer.
  absl::Status ForwardVnni(QuantContext& ctx, const float* x, int m,
                           float* y) const;
  // DecodeSlice's work below the batched paths: the rows whose first byte
  // lies in [lo, hi) of the weights (all parts, in order).
  void RunByteRange(const QuantContext& ctx, const float* x, int m, float* y,
                    int64_t lo, int64_t hi) const;
  // Whether m rows take the VNNI panels (Forward, and the team's split).
  bool TakesVnni(const QuantContext& ctx, int m) const {
    return vnni_ && m >= ctx.batched_min_rows_;
  }
  // Whether m rows run on the decode kernels: m <= kMaxTileRows and below
  // the batched paths.
  bool OnDecodeKernels(const QuantContext& ctx, int m) const;
  // Whether m rows take the decode kernel of Q4_K-only linears there
  // (KernelTable::q4_k_interleaved_rows).
  bool InterleavesQ4K(const QuantContext& ctx, int m) const;
  // Likewise for Q6_K-only linears (KernelTable::q6_k_super_rows).
  bool SuperQ6K(const QuantContext& ctx, int m) const;
  // Whether m rows take one activation scale per 256 values.
  bool SuperAct(const QuantContext& ctx, int m) const {
    return (vnni_super_ && TakesVnni(ctx, m)) || InterleavesQ4K(ctx, m) ||
           SuperQ6K(ctx, m);
  }
  // Quantizes rows [r0, r1) of the m rows of x (k values each) into
  // ctx.act_: as the panels take them when TakesVnni(ctx, m), in the Q4_K
  // order when InterleavesQ4K(ctx, m), one scale per 256 values when
  // SuperQ6K(ctx, m), else as the dot kernels do.
  void QuantizeRows(QuantContext& ctx, const float* x, int m, int r0,
                    int r1) const;
  // TakesVnni, and ctx has the panels' buffers for m rows.
  bool VnniFits(const QuantContext& ctx, int m) const;
  // Packs the quantized rows at ctx.act_ for the panels: tiles
  // [t_begin, t_end).
  void VnniPack(QuantContext& ctx, int m, int64_t t_begin, int64_t t_end) const;
  // Task c of vnni_chunks_ on the rows VnniPack packed, with `scratch`
  // (internal::VnniScratchBytes of this thread); next_c: the task this
  // thread runs next (its first panel is prefetched), or -1.
  void VnniTask(const QuantContext& ctx, int64_t c, int64_t next_c, int m,
                uint8_t* scratch, float* y) const;

  Options options_;
  int64_t in_features_ = 0;
  int64_t out_features_ = 0;
  int64_t weight_bytes_ = 0;  // all parts, set at Create (Forward splits it)
  std::vector<Part> parts_;
  // Forward's units of work: up to 16 consecutive output rows of one part.
  struct Chunk {
    int part = 0;           // index into parts_
    int64_t row_begin = 0;  // first output row (over all parts)
    int64_t rows = 0;
    const uint8_t* data = nullptr;  // the weights of row_begin
  };
  std::vector<Chunk> chunks_;
  // ForwardVnni's units: up to internal::kVnniTaskRows rows of one part
  // (longer than chunks_: a panel prefetches the next one of its task).
  std::vector<Chunk> vnni_chunks_;
  bool quantized_ = false;  // some part needs quantized activations
  bool amx_ = false;        // the context has AMX and it covers every part
  bool vnni_ = false;       // the context has VNNI panels, they cover all
  // vnni_, and every part is a K-quant: the panels take activations with
  // one scale per 256 values (internal::QuantizeActSuperAvx2).
  bool vnni_super_ = false;
  bool q4k_only_ = false;  // every part is Q4_K
  bool q6k_only_ = false;  // every part is Q6_K
};

}  // namespace kvasir::engine::quant

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_LINEAR_H_
