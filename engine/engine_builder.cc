#include "engine/engine_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/text_file.h"
#include "engine/chat/chat_template.h"
#include "engine/model/kv_heads_calibrated.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"
#include "spdlog/spdlog.h"

namespace kvasir::engine {
namespace {

absl::StatusOr<std::unique_ptr<chat::ChatTemplate>> ParseChatTemplate(
    const Model& model) {
  const Tokenizer& t = *model.tokenizer;
  chat::ChatTemplate::Options o;
  o.source = model.chat_template;
  if (t.bos_id() >= 0) o.bos_token = std::string(t.Piece(t.bos_id()));
  if (t.eos_id() >= 0) o.eos_token = std::string(t.Piece(t.eos_id()));
  return chat::ChatTemplate::Create(std::move(o));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> LoadModelForEngine(
    const ModelSource& source) {
  LoadOptions lo;
  lo.path_or_spec = source.path;
  lo.tokenizer_path = source.tokenizer;
  lo.seed = source.seed;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, LoadModel(lo));
  if (source.kv_heads.has_value()) {
    CalibrationOptions calibration;
    calibration.text_file = source.calibration_text;
    RETURN_IF_ERROR(ConvertKvHeadsWith(*model, *source.kv_heads,
                                       source.kv_conversion, calibration));
  }
  if (!source.chat_template.empty()) {
    ASSIGN_OR_RETURN(model->chat_template,
                     ReadTextFile(source.chat_template, "chat template file"));
    absl::Status parsed = ParseChatTemplate(*model).status();
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("chat template file '",
                                                     source.chat_template,
                                                     "': ", parsed.message()));
    }
  }
  return model;
}

absl::StatusOr<std::unique_ptr<Engine>> BuildEngineFromModel(
    std::unique_ptr<Model> model, const RunnerSettings& runner,
    const Engine::Options& options, std::vector<TenantConfig> tenants) {
  LlamaRunner::Options ro;
  ro.max_batch_tokens = options.max_batch_tokens;
  ro.max_seqs = options.max_running;
  ro.block_size = options.block_size;
  ro.kv_dtype = options.kv_dtype;
  ro.weights_dtype = runner.weights_dtype;
  ro.num_threads = runner.num_threads;
  Engine::Options eo = options;
  if (eo.chat_template == nullptr && !model->chat_template.empty()) {
    absl::StatusOr<std::unique_ptr<chat::ChatTemplate>> tmpl =
        ParseChatTemplate(*model);
    if (tmpl.ok()) {
      eo.chat_template = *std::move(tmpl);
    } else {
      spdlog::warn(
          "{}: its chat template cannot be used ({}); chat requests will be "
          "refused. Set model.chat_template to a template file to serve "
          "them.",
          model->config.name, std::string(tmpl.status().message()));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaRunner> llama,
                   LlamaRunner::CreateOwning(ro, std::move(model)));
  return Engine::Create(eo, std::move(llama), std::move(tenants));
}

absl::StatusOr<std::unique_ptr<Engine>> BuildEngine(
    const EngineBuildOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                   LoadModelForEngine(options.model));
  return BuildEngineFromModel(std::move(model), options.runner, options.engine,
                              options.tenants);
}

TenantConfig SoleTenant(int64_t kv_capacity_bytes) {
  TenantConfig t;
  t.name = std::string(kDefaultTenantName);
  t.reserved_bytes = 0;
  t.limit_bytes = kv_capacity_bytes;
  return t;
}

int64_t KvBytesForTokens(const ModelConfig& model, kvcache::KvDtype dtype,
                         int32_t block_size, int64_t tokens) {
  const kvcache::KvLayout layout = model.KvLayoutFor(dtype, block_size);
  return std::max<int64_t>(1, layout.BlocksForTokens(tokens)) *
         layout.BlockBytes();
}

}  // namespace kvasir::engine
