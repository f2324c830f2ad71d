#include "engine/model/loader.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::ModelPath;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

LoadOptions Opts(std::string path, std::string tokenizer = "",
                 uint64_t seed = 0) {
  LoadOptions o;
  o.path_or_spec = std::move(path);
  o.tokenizer_path = std::move(tokenizer);
  o.seed = seed;
  return o;
}

TEST(LoadModelTest, DispatchesOnDummyGgufAndLlama2c) {
  ASSERT_OK_AND_ASSIGN(auto dummy, LoadModel(Opts("dummy:tiny")));
  EXPECT_EQ(dummy->config.name, "dummy:tiny");
  ASSERT_OK_AND_ASSIGN(auto gguf,
                       LoadModel(Opts(ModelPath("stories260K.gguf"))));
  EXPECT_EQ(gguf->config.context_length, 2048);
  ASSERT_OK_AND_ASSIGN(auto bin, LoadModel(Opts(ModelPath("stories260K.bin"),
                                                ModelPath("tok512.bin"))));
  EXPECT_EQ(bin->config.context_length, 512);
}

TEST(LoadModelTest, RecognisesGgufByMagicNotName) {
  const kvasir::testing::TempDir dir;
  const std::string path = dir.File("renamed.bin");
  std::filesystem::copy_file(ModelPath("babyllama5000.gguf"), path);
  ASSERT_OK_AND_ASSIGN(auto model, LoadModel(Opts(path)));
  EXPECT_EQ(model->config.vocab_size, 105);
}

TEST(LoadModelTest, DummySeedChangesWeights) {
  ASSERT_OK_AND_ASSIGN(auto a, LoadModel(Opts("dummy:tiny", "", 1)));
  ASSERT_OK_AND_ASSIGN(auto b, LoadModel(Opts("dummy:tiny", "", 2)));
  EXPECT_NE(a->weights.tok_embeddings.data()[0],
            b->weights.tok_embeddings.data()[0]);
}

TEST(LoadModelTest, Errors) {
  EXPECT_THAT(
      LoadModel(Opts("/no/such/model.gguf")),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("/no/such/model.gguf")));
  EXPECT_THAT(
      LoadModel(Opts(ModelPath("stories260K.bin"))),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("stories260K.bin"), HasSubstr("--tokenizer"))));
  EXPECT_THAT(
      LoadModel(Opts("dummy:nope")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dummy:tiny")));
  EXPECT_THAT(LoadModel(Opts("")), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("no model")));
  EXPECT_THAT(LoadModel(Opts(ModelPath(""))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
}

}  // namespace
}  // namespace kvasir::engine
