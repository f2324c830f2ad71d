#ifndef KVASIR_ENGINE_MODEL_DUMMY_MODEL_H_
#define KVASIR_ENGINE_MODEL_DUMMY_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/model.h"

namespace kvasir::engine {

// A built-in random-weight model shape, for benchmarks and demos.
struct DummyPreset {
  std::string name;  // "tiny", "15m", "110m", "1b"
  ModelConfig config;
  bool tied_output = true;  // share the embedding as the output matrix
  std::string description;
};

// The presets, in order of size:
//   tiny  D 64, F 172, 2 layers, H 4, Hkv 2 (GQA), vocab 512
//   15m   shaped like stories15M  (D 288, F 768, 6 layers, H 6, Hkv 6)
//   110m  shaped like stories110M (D 768, F 2048, 12 layers, H 12, Hkv 12)
//   1b    shaped like TinyLlama-1.1B (D 2048, F 5632, 22 layers, H 32,
//         Hkv 4, untied output)
// All use vocab 32000 (tiny: 512) with the byte-level tokenizer, context
// 2048, rope_theta 10000, rms_eps 1e-5.
std::vector<DummyPreset> DummyPresets();

// The preset called `name` (without the "dummy:" prefix). InvalidArgument
// listing the presets when there is none.
absl::StatusOr<DummyPreset> FindDummyPreset(absl::string_view name);

// Builds preset `name` with random weights determined by `seed` alone (not
// by the thread count): matrices are approximately N(0, 0.02^2) (a scaled
// Irwin-Hall sum of four random bytes from a counter-based hash), norm
// weights are 1. Filled in parallel with OpenMP; dummy:1b holds ~1.1e9 floats
// (4.4 GB).
absl::StatusOr<std::unique_ptr<Model>> CreateDummyModel(absl::string_view name,
                                                        uint64_t seed);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_DUMMY_MODEL_H_
