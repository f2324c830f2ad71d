// Quantized GGUF models end to end: weights stay in their block format in
// memory (resident memory grows by about the file's tensor bytes, not the
// f32 size), and the loader's errors for what it cannot serve.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gguf_writer.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

#if defined(__SANITIZE_ADDRESS__)
#define KVASIR_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVASIR_UNDER_ASAN 1
#endif
#endif

namespace kvasir::engine {
namespace {

using ::kvasir::testing::GgufWriter;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::MakeTempDir;
using ::kvasir::testing::MakeTinyLlamaGguf;
using ::kvasir::testing::StatusIs;
using ::kvasir::testing::TinyLlamaSpec;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Resident set size of this process, bytes.
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

std::string WriteModel(const GgufWriter& w, const std::string& name) {
  const std::string path = MakeTempDir() + "/" + name;
  EXPECT_THAT(w.WriteFile(path), IsOk());
  return path;
}

absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path) {
  LoadOptions options;
  options.path_or_spec = path;
  return LoadModel(options);
}

TEST(QuantModelTest, ResidentMemoryGrowsByAboutTheQuantizedTensorBytes) {
#ifdef KVASIR_UNDER_ASAN
  GTEST_SKIP() << "ASan's shadow memory and quarantine distort RSS";
#endif
  TinyLlamaSpec spec{.dim = 1024,
                     .hidden_dim = 2816,
                     .n_layers = 3,
                     .n_heads = 16,
                     .n_kv_heads = 4,
                     .tensor_type = static_cast<uint32_t>(
                         gguf::TensorType::kQ4_K)};
  const std::string path =
      WriteModel(MakeTinyLlamaGguf(spec), "q4k-memory.gguf");
  int64_t tensor_bytes = 0;
  {
    ASSERT_OK_AND_ASSIGN(auto file, GgufFile::Open(path));
    for (const GgufTensorInfo& t : file->tensors()) tensor_bytes += t.n_bytes;
  }
  const int64_t before = ResidentBytes();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Model> model, Load(path));
  LlamaRunner::Options o;
  o.max_batch_tokens = 16;
  o.max_seqs = 2;
  ASSERT_OK_AND_ASSIGN(auto runner,
                       LlamaRunner::CreateOwning(o, std::move(model)));
  const int64_t grown = ResidentBytes() - before;
  // The f32 weights would be 7x the Q4_K bytes; allow 1.2x plus 4 MiB for
  // the runner's step buffers and tables.
  EXPECT_LE(grown, tensor_bytes * 12 / 10 + (int64_t{4} << 20))
      << "tensor bytes " << tensor_bytes;
  EXPECT_GE(runner->weight_bytes(), tensor_bytes * 9 / 10);
  EXPECT_THAT(runner->matmul_impl(), HasSubstr("quant:"));
}

TEST(QuantModelTest, UnknownArchitectureIsAClearError) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.RemoveKey("general.architecture").AddString("general.architecture", "gpt4");
  EXPECT_THAT(Load(WriteModel(w, "arch.gguf")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unsupported architecture 'gpt4'"),
                             HasSubstr("llama, qwen2, qwen3"))));
}

TEST(QuantModelTest, TensorTypeWithoutKernelIsAClearError) {
  GgufWriter w = MakeTinyLlamaGguf({.dim = 256, .hidden_dim = 256});
  // Q2_K (type 10, no kernel here): 84 bytes per 256 values.
  w.RemoveTensor("blk.0.ffn_up.weight");
  w.AddTensorRaw("blk.0.ffn_up.weight", {256, 256}, 10,
                 std::string(256 * 84, '\0'));
  EXPECT_THAT(Load(WriteModel(w, "q2k.gguf")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("blk.0.ffn_up.weight"),
                             HasSubstr("Q2_K"))));
}

TEST(QuantModelTest, UnsupportedRopeScalingIsAClearError) {
  GgufWriter w = MakeTinyLlamaGguf({});
  w.AddString("llama.rope.scaling.type", "yarn");
  EXPECT_THAT(Load(WriteModel(w, "yarn.gguf")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("rope.scaling.type 'yarn'"),
                             HasSubstr("none, linear"))));
}

}  // namespace
}  // namespace kvasir::engine
