// engine::GgufWriter: files it writes read back through GgufFile with the
// same metadata and tensor bytes; misuse fails without leaving a file.
#include "engine/model/gguf_writer.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gguf_writer.h"
#include "tests/testing/paths.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = static_cast<uint32_t>(gguf::TensorType::kF32);
constexpr uint32_t kQ8_0 = static_cast<uint32_t>(gguf::TensorType::kQ8_0);

class GgufWriterTest : public ::testing::Test {
 protected:
  kvasir::testing::TempDir dir_;
};

TEST_F(GgufWriterTest, CopiesEveryKindOfMetadataAndStreamsTensors) {
  // A source file with strings, integers, floats and arrays of each.
  const std::string src_path = dir_.File("src.gguf");
  ASSERT_OK(kvasir::testing::MakeTinyLlamaGguf({}).WriteFile(src_path));
  ASSERT_OK_AND_ASSIGN(auto src, GgufFile::Open(src_path));

  const std::string path = dir_.File("out.gguf");
  ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(path));
  for (const auto& [key, value] : src->metadata()) {
    ASSERT_OK(writer->CopyValue(key, value));
  }
  writer->SetUint32("general.file_type", 7);
  ASSERT_OK(writer->AddTensorInfo("a", {32, 3}, kF32));
  ASSERT_OK(writer->AddTensorInfo("b", {64}, kQ8_0));
  EXPECT_EQ(writer->tensor_data_bytes(), 32u * 3 * 4 + 2 * 34);
  ASSERT_OK(writer->WriteHeader());
  std::vector<float> a(96);
  for (int i = 0; i < 96; ++i) a[i] = 0.5f * i;
  // In two pieces: a tensor may arrive row by row.
  ASSERT_OK(writer->WriteTensorData(a.data(), 40 * 4));
  ASSERT_OK(writer->WriteTensorData(a.data() + 40, 56 * 4));
  const std::vector<uint8_t> b(68, 0x11);
  ASSERT_OK(writer->WriteTensorData(b.data(), b.size()));
  ASSERT_OK(writer->Finish());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(writer->file_bytes(), std::filesystem::file_size(path));

  ASSERT_OK_AND_ASSIGN(auto out, GgufFile::Open(path));
  EXPECT_EQ(out->version(), 3u);
  ASSERT_EQ(out->metadata().size(), src->metadata().size() + 1);
  for (size_t i = 0; i < src->metadata().size(); ++i) {
    const auto& [key, value] = src->metadata()[i];
    EXPECT_EQ(out->metadata()[i].first, key);
    ASSERT_OK_AND_ASSIGN(std::string want, gguf::EncodeValue(key, value));
    ASSERT_OK_AND_ASSIGN(std::string got,
                         gguf::EncodeValue(key, out->metadata()[i].second));
    EXPECT_EQ(got, want) << key;
  }
  EXPECT_EQ(*out->GetInt("general.file_type"), 7);
  ASSERT_EQ(out->tensors().size(), 2u);
  EXPECT_EQ(out->data_offset() % 32, 0u);
  EXPECT_EQ(out->tensors()[1].offset % 32, 0u);
  ASSERT_OK_AND_ASSIGN(Tensor ta, out->ReadTensor("a", {3, 32}));
  EXPECT_EQ(std::vector<float>(ta.span().begin(), ta.span().end()), a);
  EXPECT_EQ(std::memcmp(out->tensors()[1].data, b.data(), b.size()), 0);
}

TEST_F(GgufWriterTest, ReplacingAKeyKeepsItsPosition) {
  const std::string path = dir_.File("out.gguf");
  ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(path));
  writer->SetString("first", "x");
  writer->SetUint32("second", 1);
  writer->SetString("first", "y");
  writer->RemoveKey("second");
  writer->SetBool("third", true);
  ASSERT_OK(writer->Finish());
  ASSERT_OK_AND_ASSIGN(auto out, GgufFile::Open(path));
  ASSERT_EQ(out->metadata().size(), 2u);
  EXPECT_EQ(out->metadata()[0].first, "first");
  EXPECT_EQ(*out->GetString("first"), "y");
  EXPECT_EQ(*out->GetBool("third"), true);
}

TEST_F(GgufWriterTest, HonoursGeneralAlignment) {
  const std::string path = dir_.File("out.gguf");
  ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(path));
  writer->SetUint32("general.alignment", 64);
  ASSERT_OK(writer->AddTensorInfo("a", {3}, kF32));
  ASSERT_OK(writer->AddTensorInfo("b", {5}, kF32));
  ASSERT_OK(writer->WriteHeader());
  const std::vector<float> v(8, 1.0f);
  ASSERT_OK(writer->WriteTensorData(v.data(), 8 * sizeof(float)));
  ASSERT_OK(writer->Finish());
  ASSERT_OK_AND_ASSIGN(auto out, GgufFile::Open(path));
  EXPECT_EQ(out->alignment(), 64u);
  EXPECT_EQ(out->data_offset() % 64, 0u);
  EXPECT_EQ(out->tensors()[1].offset, 64u);
}

TEST_F(GgufWriterTest, RejectsABadAlignment) {
  ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(dir_.File("out.gguf")));
  writer->SetUint32("general.alignment", 48);
  EXPECT_THAT(writer->WriteHeader(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("general.alignment")));
}

TEST_F(GgufWriterTest, RejectsBadTensorInfos) {
  ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(dir_.File("out.gguf")));
  ASSERT_OK(writer->AddTensorInfo("a", {32}, kQ8_0));
  EXPECT_THAT(writer->AddTensorInfo("a", {32}, kQ8_0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("declared twice")));
  EXPECT_THAT(writer->AddTensorInfo("odd", {33, 2}, kQ8_0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("row length 33 is not a multiple of 32")));
  EXPECT_THAT(writer->AddTensorInfo("zero", {0}, kF32),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dimension 0 is 0")));
  EXPECT_THAT(writer->AddTensorInfo("q2k", {256}, 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Q2_K cannot be written")));
}

TEST_F(GgufWriterTest, AnIncompleteFileIsNotLeftBehind) {
  const std::string path = dir_.File("out.gguf");
  {
    ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(path));
    ASSERT_OK(writer->AddTensorInfo("a", {4}, kF32));
    ASSERT_OK(writer->WriteHeader());
    const float v[6] = {};
    EXPECT_THAT(writer->WriteTensorData(v, sizeof(v)),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("past the end of the last tensor")));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(path));
    ASSERT_OK(writer->AddTensorInfo("a", {4}, kF32));
    ASSERT_OK(writer->WriteHeader());
    const float v[2] = {};
    ASSERT_OK(writer->WriteTensorData(v, sizeof(v)));
    EXPECT_THAT(writer->Finish(),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("tensor 'a' has 8 of its 16 bytes")));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(GgufWriterTest, ArraysOfArraysCannotBeCopied) {
  // GgufFile validates nested arrays but does not expose their elements.
  std::string nested;
  gguf::AppendLe(static_cast<uint32_t>(gguf::ValueType::kArray), &nested);
  gguf::AppendLe<uint64_t>(1, &nested);
  gguf::AppendLe(static_cast<uint32_t>(gguf::ValueType::kUint8), &nested);
  gguf::AppendLe<uint64_t>(1, &nested);
  gguf::AppendLe<uint8_t>(7, &nested);
  const std::string src_path = dir_.File("nested.gguf");
  ASSERT_OK(kvasir::testing::GgufWriter()
                .AddRawValue("nested", 9, nested)
                .WriteFile(src_path));
  ASSERT_OK_AND_ASSIGN(auto src, GgufFile::Open(src_path));
  ASSERT_OK_AND_ASSIGN(auto writer, GgufWriter::Create(dir_.File("out.gguf")));
  EXPECT_THAT(writer->CopyValue("nested", *src->FindValue("nested")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'nested' is an array of array")));
}

TEST_F(GgufWriterTest, AnUnwritablePathIsAnInvalidArgument) {
  EXPECT_THAT(GgufWriter::Create(dir_.File("no/such/dir/out.gguf")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no/such/dir/out.gguf")));
}

}  // namespace
}  // namespace kvasir::engine
