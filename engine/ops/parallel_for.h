#ifndef KVASIR_ENGINE_OPS_PARALLEL_FOR_H_
#define KVASIR_ENGINE_OPS_PARALLEL_FOR_H_

#include <omp.h>

#include <cstdint>

namespace kvasir::engine::ops {

// Runs body(i) for every i in [begin, end): split over a new OpenMP team
// (static schedule) when `parallel` is true and the caller is not in a team
// already, else in order on the calling thread.
//
// Why not `#pragma omp parallel for if (cond)`: a region whose if clause is
// false still starts (and ends) a team of one thread in libgomp, and inside
// a running team (the decode step's, llama_runner_team.cc) it is a nested
// region too. Measured on a 2-core Zen 5 VM inside the decode team: an
// empty AddInPlace took 2.4 us, and single-stream steps of dummy:110m
// Q4_K_M spent ~180 us in their ~10 such regions per layer (the norms,
// residual adds, SwiGLU, RoPE and quantizing each projection's input), 8%
// of the step. Nested regions run on one thread anyway (libgomp's default
// max-active-levels is 1), so running the loop inline changes no result.
template <typename F>
void ParallelFor(int64_t begin, int64_t end, bool parallel, F&& body) {
  if (!parallel || end - begin < 2 || omp_in_parallel()) {
    for (int64_t i = begin; i < end; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = begin; i < end; ++i) body(i);
}

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_PARALLEL_FOR_H_
