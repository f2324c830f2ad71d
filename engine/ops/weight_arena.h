#ifndef KVASIR_ENGINE_OPS_WEIGHT_ARENA_H_
#define KVASIR_ENGINE_OPS_WEIGHT_ARENA_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::engine::ops {

// `bytes` (> 0) of uninitialized memory starting on a 2 MiB boundary, the
// kernel asked for transparent huge pages before the first touch (advice
// only: where THP is off it works the same); null when it cannot be had.
// Free with std::free.
void* AllocateOnHugePages(int64_t bytes);

// Memory for weights laid out once at load and read by every step until
// the model is unloaded: carved from chunks that start on a 2 MiB boundary
// and ask the kernel for transparent huge pages (madvise) before the first
// touch. A decode step streams every weight byte once, and a model's
// matrices are mostly smaller than a huge page each (dummy:110m's Q8_0
// projections: 0.6 to 3.3 MB), so allocated one by one they sit on 4 KiB
// pages. Measured on the Zen 4 VM (2 threads, 12 rounds alternating the
// two): one stream of dummy:110m's copies decodes 20% faster with Q8_0
// weights on huge pages, 9-10% with Q4_K_M, f32 and bf16; a plain read-only
// sum over 1 GB 4-6% (docs/kernels.md, "Weights on huge pages"). Where
// THP is off the advice does nothing and the memory works the same.
//
// Nothing is freed before the arena: callers put here only what lives as
// long as the arena's owner. Not thread-safe (loading is single-threaded).
class WeightArena {
 public:
  struct Options {
    // Bytes per chunk, rounded up to 2 MiB; a larger request gets a chunk
    // of its own size. Untouched memory of a chunk costs address space
    // only.
    int64_t chunk_bytes = int64_t{32} << 20;
  };
  // InvalidArgument for chunk_bytes <= 0.
  static absl::StatusOr<std::unique_ptr<WeightArena>> Create(
      const Options& options);

  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // `bytes` (> 0) of uninitialized memory, 64-byte aligned, valid until the
  // arena is destroyed. InvalidArgument for bytes <= 0, ResourceExhausted
  // naming `what` when the memory cannot be had.
  absl::StatusOr<uint8_t*> Allocate(int64_t bytes, absl::string_view what);

  // Sum of the requests (rounded up to 64 bytes each), and of the chunks.
  int64_t allocated_bytes() const { return allocated_; }
  int64_t reserved_bytes() const { return reserved_; }

 private:
  explicit WeightArena(const Options& options) : options_(options) {}

  // A new chunk of at least min_bytes (rounded up to 2 MiB), kept in
  // chunks_; the error names the request (`what`, `bytes`).
  absl::StatusOr<uint8_t*> NewChunk(int64_t min_bytes, absl::string_view what,
                                    int64_t bytes);

  struct Free {
    void operator()(uint8_t* p) const;
  };

  Options options_;
  std::vector<std::unique_ptr<uint8_t, Free>> chunks_;
  uint8_t* next_ = nullptr;  // in the last chunk
  int64_t left_ = 0;         // bytes from next_ to its end
  int64_t allocated_ = 0;
  int64_t reserved_ = 0;
};

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_WEIGHT_ARENA_H_
