#include "engine/model/convert_model.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_types.h"
#include "engine/model/gguf_writer.h"
#include "engine/model/kv_heads_calibrated.h"
#include "engine/model/loader.h"

namespace kvasir::engine {
namespace {

// The converted model's tensor for GGUF tensor `name`, or null when the
// conversion left it as the file has it.
const Tensor* Converted(const Model& model, absl::string_view name,
                        bool merged_calibrated) {
  if (!absl::ConsumePrefix(&name, "blk.")) return nullptr;
  const size_t dot = name.find('.');
  if (dot == absl::string_view::npos) return nullptr;
  int layer = 0;
  for (char ch : name.substr(0, dot)) {
    if (ch < '0' || ch > '9') return nullptr;
    layer = layer * 10 + (ch - '0');
  }
  if (layer >= static_cast<int>(model.weights.layers.size())) return nullptr;
  const LayerWeights& lw = model.weights.layers[layer];
  const absl::string_view rest = name.substr(dot + 1);
  if (rest == "attn_k.weight") return &lw.wk;
  if (rest == "attn_v.weight") return &lw.wv;
  if (rest == "attn_k.bias") return &lw.bk;
  if (rest == "attn_v.bias") return &lw.bv;
  if (!merged_calibrated) return nullptr;
  if (rest == "attn_q.weight") return &lw.wq;
  if (rest == "attn_q.bias") return &lw.bq;
  if (rest == "attn_output.weight") return &lw.wo;
  return nullptr;
}

}  // namespace

absl::StatusOr<ConvertSummary> ConvertModelFile(const ConvertOptions& options) {
  if (absl::StartsWith(options.input, "dummy:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("convert: IN must be a GGUF file, not ", options.input));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file,
                   GgufFile::Open(options.input));
  LoadOptions lo;
  lo.path_or_spec = options.input;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, LoadModel(lo));
  ConvertSummary summary;
  summary.from_kv_heads = model->config.n_kv_heads;
  if (absl::Status valid = ValidateKvHeadsConversion(*model, options.kv_heads);
      !valid.ok()) {
    absl::string_view message = valid.message();
    absl::ConsumePrefix(&message, "kv_heads: ");
    return absl::InvalidArgumentError(absl::StrCat("--kv-heads ", message));
  }
  // The output first: an unwritable path fails before the calibration pass.
  ASSIGN_OR_RETURN(std::unique_ptr<GgufWriter> writer,
                   GgufWriter::Create(options.output));
  RETURN_IF_ERROR(ConvertKvHeadsWith(*model, options.kv_heads, options.method,
                                     options.calibration));
  summary.to_kv_heads = model->config.n_kv_heads;
  const bool kv_changed = summary.to_kv_heads != summary.from_kv_heads;
  const bool merged_calibrated = options.method == KvConversion::kCalibrated &&
                                 summary.to_kv_heads < summary.from_kv_heads;

  for (const auto& [key, value] : file->metadata()) {
    RETURN_IF_ERROR(writer->CopyValue(key, value));
  }
  ASSIGN_OR_RETURN(const std::string arch,
                   file->GetString("general.architecture"));
  writer->SetUint32(absl::StrCat(arch, ".attention.head_count_kv"),
                    static_cast<uint32_t>(summary.to_kv_heads));
  for (const GgufTensorInfo& info : file->tensors()) {
    const Tensor* t = Converted(*model, info.name, merged_calibrated);
    if (kv_changed && t != nullptr && !t->empty() && t->is_f32()) {
      std::vector<uint64_t> ne;
      for (auto it = t->shape().rbegin(); it != t->shape().rend(); ++it) {
        ne.push_back(static_cast<uint64_t>(*it));
      }
      RETURN_IF_ERROR(
          writer->AddTensorInfo(info.name, std::move(ne),
                                static_cast<uint32_t>(gguf::TensorType::kF32)));
    } else {
      if (info.n_bytes == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            options.input, ": tensor '", info.name, "' has type ",
            gguf::TensorTypeName(info.type), ", which convert cannot copy"));
      }
      RETURN_IF_ERROR(writer->AddTensorInfo(info.name, info.ne, info.type));
    }
  }
  RETURN_IF_ERROR(writer->WriteHeader());
  for (const GgufTensorInfo& info : file->tensors()) {
    const Tensor* t = Converted(*model, info.name, merged_calibrated);
    if (kv_changed && t != nullptr && !t->empty() && t->is_f32()) {
      RETURN_IF_ERROR(writer->WriteTensorData(
          t->data(), static_cast<size_t>(t->numel()) * sizeof(float)));
      ++summary.rewritten_tensors;
    } else {
      RETURN_IF_ERROR(writer->WriteTensorData(info.data, info.n_bytes));
    }
  }
  RETURN_IF_ERROR(writer->Finish());
  summary.output_bytes = writer->file_bytes();
  return summary;
}

}  // namespace kvasir::engine
