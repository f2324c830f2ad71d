#ifndef KVASIR_ENGINE_OPS_STREAM_PREFETCH_H_
#define KVASIR_ENGINE_OPS_STREAM_PREFETCH_H_

// The software prefetch of a kernel that streams weights from memory in
// order (the quantized decode kernels, the dense decode GEMV): the hardware
// prefetcher stops at each 4 KiB page, so each line is prefetched twice,
// kStreamL1Bytes ahead into L1 and kStreamL2Bytes ahead into L2, which
// keeps more of the stream in flight than the L1 prefetches and the
// hardware's alone.
//
// Measured on a 2-core Zen 4 VM, variants alternated:
// - quant_bench BM_QuantLinear (dummy:110m's shapes and 4096 x 4096, m = 1,
//   2 threads), against the L1 prefetches alone: Q6_K +8-20%, Q8_0 0-15%
//   (4096 x 768 from 35 to 44 GB/s when the VM read 57 GB/s), Q4_K 0-5%,
//   the kernel nearest its compute limit. 4 KiB ahead into L2 was slower
//   than none, 16 KiB no better than 8.
// - gemv_bench BM_Model110m (the dense GEMV), against one line per 256-byte
//   k step 8 KiB ahead into L1 (medians of 5-6 rounds): linear_gemv_f32/1
//   27.2 -> 31.5 GB/s, linear_gemv_bf16/1 27.7 -> 30.6; f32 at 16 rows
//   164-169 -> 188-190 GFLOP/s.
//
// Only SSE prefetch instructions: callable from code of any target.
// Prefetches past the end of a buffer do not fault.

#include <xmmintrin.h>

#include <cstdint>

namespace kvasir::engine::ops {

inline constexpr int64_t kStreamL1Bytes = 1024;
inline constexpr int64_t kStreamL2Bytes = 8192;

// The lines of [p, p + bytes), both distances ahead.
inline void PrefetchStream(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) {
    _mm_prefetch(c + kStreamL1Bytes + off, _MM_HINT_T0);
    _mm_prefetch(c + kStreamL2Bytes + off, _MM_HINT_T1);
  }
}

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_STREAM_PREFETCH_H_
