#include "engine/engine_builder.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "engine/model/kv_heads.h"
#include "engine/model/llama_runner.h"
#include "engine/model/loader.h"

namespace kvasir::engine {

absl::StatusOr<std::unique_ptr<Model>> LoadModelForEngine(
    const ModelSource& source) {
  LoadOptions lo;
  lo.path_or_spec = source.path;
  lo.tokenizer_path = source.tokenizer;
  lo.seed = source.seed;
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model, LoadModel(lo));
  if (source.kv_heads.has_value()) {
    RETURN_IF_ERROR(ConvertKvHeads(*model, *source.kv_heads));
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
  ASSIGN_OR_RETURN(std::unique_ptr<LlamaRunner> llama,
                   LlamaRunner::CreateOwning(ro, std::move(model)));
  return Engine::Create(options, std::move(llama), std::move(tenants));
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
