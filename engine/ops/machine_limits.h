#ifndef KVASIR_ENGINE_OPS_MACHINE_LIMITS_H_
#define KVASIR_ENGINE_OPS_MACHINE_LIMITS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvasir::engine::ops {

// This machine's own limits, measured in-process, so that a kernel's speed
// can be judged as a fraction of what the same machine does in the same
// run (machines differ between sessions: Intel with AVX-512 and AMX one day,
// AMD Zen the next, and a shared machine's figures drift).
//
// Each figure is the best of a few repetitions: the limit, not a typical
// value. The measurements run OpenMP teams of `threads` threads and take
// tens to hundreds of milliseconds each.
struct MachineLimits {
  int threads = 0;
  // Read-only streaming bandwidth, GB/s (1e9 bytes/s): every thread sums
  // its own contiguous part of a buffer far larger than the caches, with
  // the widest loads the CPU has and several independent sums.
  double read_gbps = 0;
  // Each reading read_gbps is the best of, in order (MeasureMachineLimits
  // takes one; `kvasir bench roofline` adds one after its workload, since a
  // shared machine's bandwidth moves between runs and within one).
  std::vector<double> read_readings;
  // f32 fused multiply-add peak, GFLOP/s (2 flops per lane per FMA), with
  // independent accumulator chains so that throughput, not latency, binds.
  double f32_gflops = 0;
  // 8-bit integer dot-product peak, GOP/s (2 ops per multiply-add): VNNI
  // vpdpbusd where present, else AVX2's vpmaddubsw + vpmaddwd pair.
  double int8_gops = 0;
  // bf16 dot-product peak, GFLOP/s (2 flops per pair product, f32 sums):
  // AVX512_BF16 vdpbf16ps, the arithmetic of bf16 weights in decode; 0
  // without it (bf16 weights are then widened and FMA'd in f32). AMX, where
  // oneDNN uses it for bf16 prefill, is not measured.
  double bf16_gflops = 0;
  // The instruction sets the figures were measured with, e.g.
  // "avx512f/avx512-vnni/avx512bf16" or "avx2/avx2/none".
  std::string fma_isa;
  std::string int8_isa;
  std::string bf16_isa;
};

struct MachineLimitsOptions {
  int threads = 1;                             // >= 1
  int64_t bandwidth_bytes = int64_t{1} << 30;  // buffer of the read test
  int repetitions = 5;                         // best of
};

// Read bandwidth alone (GB/s). Allocates and touches `bytes` (rounded to
// 2 MiB), asking for transparent huge pages as a model's weights would get.
double MeasureReadBandwidth(int threads, int64_t bytes, int repetitions);
// FMA and int8 peaks alone (GFLOP/s, GOP/s).
double MeasureF32Peak(int threads, int repetitions);
double MeasureInt8Peak(int threads, int repetitions);
// vdpbf16ps peak (GFLOP/s); 0 where the CPU has no AVX512_BF16.
double MeasureBf16Peak(int threads, int repetitions);

// All of the above.
MachineLimits MeasureMachineLimits(const MachineLimitsOptions& options);

// Adds a read bandwidth reading (MeasureReadBandwidth with the options of
// MeasureMachineLimits) to m; read_gbps becomes the best so far.
void AddReadReading(const MachineLimitsOptions& options, MachineLimits* m);

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_MACHINE_LIMITS_H_
