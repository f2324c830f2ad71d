#ifndef KVASIR_ENGINE_OPS_SIMD_H_
#define KVASIR_ENGINE_OPS_SIMD_H_

// KVASIR_SIMD_CLONES compiles a hot kernel three times (AVX-512, AVX2+FMA,
// baseline x86-64) and lets the loader pick the best one for the CPU it runs
// on, so the binary needs no -march flag and still runs on machines without
// AVX-512. Helpers the kernel calls must be inline so that they are compiled
// into each clone; loops inside use `#pragma omp simd`.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KVASIR_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KVASIR_SIMD_CLONES
#endif

#endif  // KVASIR_ENGINE_OPS_SIMD_H_
