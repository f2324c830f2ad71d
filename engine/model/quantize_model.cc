#include "engine/model/quantize_model.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/model/dummy_model.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "engine/model/gguf_writer.h"
#include "engine/model/mapped_file.h"
#include "engine/model/quant_mix.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::engine {
namespace {

using gguf::TensorType;

constexpr absl::string_view kDummyPrefix = "dummy:";
// Values decoded per chunk of rows: bounds the memory of one tensor's
// encoding (16 MB as f32) while leaving enough rows to share among threads.
constexpr int64_t kChunkValues = int64_t{4} << 20;
// Bytes per write of a tensor copied unchanged.
constexpr uint64_t kCopyBytes = uint64_t{64} << 20;
// ggml's GGML_QNT_VERSION, which llama.cpp writes with every quantized file.
constexpr uint32_t kQuantizationVersion = 2;

// A tensor to write: `rows` rows of ne[0] values of `type` at `data`.
struct SourceTensor {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first
  uint32_t type = 0;
  const uint8_t* data = nullptr;
};

// An opened input and whatever owns the memory its tensors point into.
struct Source {
  std::vector<SourceTensor> tensors;
  uint64_t input_bytes = 0;
  std::unique_ptr<GgufFile> file;   // a GGUF input
  std::unique_ptr<Model> model;     // a dummy input
  std::unique_ptr<GgufFile> vocab;  // its --vocab-from file
  std::string dummy_name;           // "dummy:15m"
};

uint64_t Rows(const std::vector<uint64_t>& ne) {
  uint64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
  return rows;
}

std::string ShapeString(const std::vector<uint64_t>& ne) {
  std::vector<uint64_t> outer_first(ne.rbegin(), ne.rend());
  return absl::StrCat("[", absl::StrJoin(outer_first, ", "), "]");
}

// The names of the types a source tensor may have.
std::string ReadableTypeNames() {
  std::vector<std::string> names;
  for (uint32_t t = 0; t <= static_cast<uint32_t>(TensorType::kBF16); ++t) {
    if (quant::GetBlockInfo(t).has_value()) {
      names.push_back(gguf::TensorTypeName(t));
    }
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<Source> OpenGguf(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapped, MappedFile::Open(path));
  const uint8_t* base = mapped->data();
  const uint64_t size = mapped->size();
  Source source;
  source.input_bytes = size;
  // The GgufFile owns the mapping from here on; `base` stays valid with it.
  ASSIGN_OR_RETURN(source.file, GgufFile::Parse(std::move(mapped)));
  const GgufFile& file = *source.file;
  for (const GgufTensorInfo& info : file.tensors()) {
    const std::optional<quant::BlockInfo> block =
        quant::GetBlockInfo(info.type);
    if (!block.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor '", info.name, "' has type ",
          gguf::TensorTypeName(info.type),
          ", which quantize cannot read (readable: ", ReadableTypeNames(),
          ")"));
    }
    if (info.ne[0] % block->block_size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor '", info.name, "' has rows of ", info.ne[0],
          " values, not a multiple of the ", block->block_size,
          "-value blocks of ", gguf::TensorTypeName(info.type)));
    }
    const uint64_t bytes = static_cast<uint64_t>(quant::RowBytes(
                               info.type, static_cast<int64_t>(info.ne[0]))) *
                           Rows(info.ne);
    const uint64_t begin = file.data_offset() + info.offset;
    if (begin > size || bytes > size - begin) {
      return absl::DataLossError(absl::StrCat(
          path, ": tensor '", info.name, "' needs ", bytes,
          " bytes at file offset ", begin, " but the file has ", size));
    }
    source.tensors.push_back({info.name, info.ne, info.type, base + begin});
  }
  return source;
}

// ---- dummy inputs. Only this block knows the layout of ModelWeights.

void AddDummyTensor(const std::string& name, const Tensor& t, Source* source) {
  std::vector<uint64_t> ne(t.shape().rbegin(), t.shape().rend());
  // A fresh dummy model is f32, but its bytes are read as whatever type the
  // tensor says, so block-type weights would be re-encoded as well.
  source->tensors.push_back({name, std::move(ne), t.type(), t.bytes()});
  source->input_bytes += static_cast<uint64_t>(t.nbytes());
}

// The weights of a fresh dummy model under llama.cpp's tensor names.
void AddDummyTensors(const ModelWeights& w, Source* source) {
  AddDummyTensor("token_embd.weight", w.tok_embeddings, source);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string b = absl::StrCat("blk.", l, ".");
    AddDummyTensor(b + "attn_norm.weight", lw.attn_norm, source);
    AddDummyTensor(b + "attn_q.weight", lw.wq, source);
    AddDummyTensor(b + "attn_k.weight", lw.wk, source);
    AddDummyTensor(b + "attn_v.weight", lw.wv, source);
    AddDummyTensor(b + "attn_output.weight", lw.wo, source);
    AddDummyTensor(b + "ffn_norm.weight", lw.ffn_norm, source);
    AddDummyTensor(b + "ffn_gate.weight", lw.w_gate, source);
    AddDummyTensor(b + "ffn_up.weight", lw.w_up, source);
    AddDummyTensor(b + "ffn_down.weight", lw.w_down, source);
  }
  AddDummyTensor("output_norm.weight", w.final_norm, source);
  if (!w.tied_output()) AddDummyTensor("output.weight", w.output, source);
}

absl::StatusOr<Source> MakeDummy(const QuantizeOptions& options) {
  const std::string preset_name(
      absl::string_view(options.input).substr(kDummyPrefix.size()));
  ASSIGN_OR_RETURN(DummyPreset preset, FindDummyPreset(preset_name));
  if (options.vocab_from.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.input,
        " has no tokenizer to write: --vocab-from FILE.gguf is required (a "
        "GGUF file whose tokenizer metadata is copied, with ",
        preset.config.vocab_size, " tokens)"));
  }
  Source source;
  source.dummy_name = options.input;
  ASSIGN_OR_RETURN(source.vocab, GgufFile::Open(options.vocab_from));
  const GgufValue* tokens = source.vocab->FindValue("tokenizer.ggml.tokens");
  if (tokens == nullptr ||
      tokens->type != static_cast<uint32_t>(gguf::ValueType::kArray)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--vocab-from ", options.vocab_from,
                     ": metadata key 'tokenizer.ggml.tokens' is missing"));
  }
  if (tokens->count != static_cast<uint64_t>(preset.config.vocab_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--vocab-from ", options.vocab_from, " has ", tokens->count,
        " tokens but ", options.input, " has a vocabulary of ",
        preset.config.vocab_size,
        "; they must be equal (the 15m, 110m and 1b presets have 32000)"));
  }
  ASSIGN_OR_RETURN(source.model, CreateDummyModel(preset_name, options.seed));
  AddDummyTensors(source.model->weights, &source);
  return source;
}

void SetDummyMetadata(const Source& source, GgufWriter* writer) {
  const ModelConfig& c = source.model->config;
  writer->SetString("general.architecture", "llama");
  writer->SetString("general.name", source.dummy_name);
  writer->SetUint32("llama.context_length", c.context_length);
  writer->SetUint32("llama.embedding_length", c.dim);
  writer->SetUint32("llama.feed_forward_length", c.hidden_dim);
  writer->SetUint32("llama.block_count", c.n_layers);
  writer->SetUint32("llama.attention.head_count", c.n_heads);
  writer->SetUint32("llama.attention.head_count_kv", c.n_kv_heads);
  writer->SetFloat32("llama.rope.freq_base", c.rope_theta);
  writer->SetFloat32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  writer->SetUint32("llama.rope.dimension_count", c.head_dim);
}

// ---- encoding

absl::Status CopyTensor(const SourceTensor& t, uint64_t bytes,
                        GgufWriter* writer) {
  for (uint64_t done = 0; done < bytes; done += kCopyBytes) {
    RETURN_IF_ERROR(writer->WriteTensorData(
        t.data + done, std::min(kCopyBytes, bytes - done)));
  }
  return absl::OkStatus();
}

// Decodes `t` a chunk of rows at a time and encodes the rows as `type`,
// in parallel; returns the bytes written.
absl::StatusOr<uint64_t> EncodeTensor(const SourceTensor& t, uint32_t type,
                                      GgufWriter* writer) {
  const auto ne0 = static_cast<int64_t>(t.ne[0]);
  const auto rows = static_cast<int64_t>(Rows(t.ne));
  const int64_t src_row = quant::RowBytes(t.type, ne0);
  const int64_t dst_row = quant::RowBytes(type, ne0);
  if (t.type == type) {
    RETURN_IF_ERROR(CopyTensor(t, rows * src_row, writer));
    return rows * src_row;
  }
  const int64_t chunk = std::max<int64_t>(1, kChunkValues / ne0);
  std::vector<uint8_t> out(std::min(chunk, rows) * dst_row);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
#pragma omp parallel
    {
      std::vector<float> row(ne0);
#pragma omp for schedule(dynamic, 4)
      for (int64_t r = 0; r < n; ++r) {
        quant::DequantizeRow(t.type, t.data + (r0 + r) * src_row, ne0,
                             row.data());
        quant::QuantizeRow(type, row.data(), ne0, out.data() + r * dst_row);
      }
    }
    RETURN_IF_ERROR(writer->WriteTensorData(out.data(), n * dst_row));
  }
  return rows * dst_row;
}

}  // namespace

absl::StatusOr<QuantizeSummary> QuantizeModel(
    const QuantizeOptions& options,
    const std::function<void(const QuantizedTensor&)>& on_tensor) {
  ASSIGN_OR_RETURN(const QuantMix mix, FindQuantMix(options.type));
  const bool dummy = absl::StartsWith(options.input, kDummyPrefix);
  if (!dummy && !options.vocab_from.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--vocab-from applies only to dummy:<preset> inputs; ",
                     options.input, " is a file with its own vocabulary"));
  }
  // The output first: an unwritable path fails before a dummy model is
  // built, and the writer removes its temporary file on any later error.
  ASSIGN_OR_RETURN(std::unique_ptr<GgufWriter> writer,
                   GgufWriter::Create(options.output));
  Source source;
  if (dummy) {
    ASSIGN_OR_RETURN(source, MakeDummy(options));
  } else {
    ASSIGN_OR_RETURN(source, OpenGguf(options.input));
  }
  if (dummy) {
    SetDummyMetadata(source, writer.get());
    for (const auto& [key, value] : source.vocab->metadata()) {
      if (absl::StartsWith(key, "tokenizer.")) {
        RETURN_IF_ERROR(writer->CopyValue(key, value));
      }
    }
  } else {
    for (const auto& [key, value] : source.file->metadata()) {
      RETURN_IF_ERROR(writer->CopyValue(key, value));
    }
  }
  writer->SetUint32("general.file_type", mix.file_type);
  writer->SetUint32("general.quantization_version", kQuantizationVersion);

  std::vector<std::string> names;
  for (const SourceTensor& t : source.tensors) names.push_back(t.name);
  const MixContext context = MixContextFor(names);
  std::vector<QuantizedTensor> plan;
  QuantizeSummary summary;
  summary.input_bytes = source.input_bytes;
  summary.file_type = mix.file_type;
  for (const SourceTensor& t : source.tensors) {
    QuantizedTensor q;
    q.index = static_cast<int>(plan.size());
    q.count = static_cast<int>(source.tensors.size());
    q.name = t.name;
    q.shape = ShapeString(t.ne);
    q.from_type = t.type;
    q.type = TensorTypeFor(mix, context, t.name, t.ne, &q.wanted_type);
    RETURN_IF_ERROR(writer->AddTensorInfo(t.name, t.ne, q.type));
    summary.n_elements += t.ne[0] * Rows(t.ne);
    plan.push_back(std::move(q));
  }
  RETURN_IF_ERROR(writer->WriteHeader());
  for (size_t i = 0; i < plan.size(); ++i) {
    ASSIGN_OR_RETURN(plan[i].bytes, EncodeTensor(source.tensors[i],
                                                 plan[i].type, writer.get()));
    summary.tensor_bytes += plan[i].bytes;
    if (on_tensor) on_tensor(plan[i]);
  }
  RETURN_IF_ERROR(writer->Finish());
  summary.output_bytes = writer->file_bytes();
  return summary;
}

}  // namespace kvasir::engine
