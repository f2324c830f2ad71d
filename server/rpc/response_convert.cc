#include "server/rpc/response_convert.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kvasir/v1/generation.pb.h"

namespace kvasir::server {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

v1::FinishReason ToProto(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kEos:
      return v1::FINISH_REASON_EOS;
    case engine::FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case engine::FinishReason::kCancelled:
    case engine::FinishReason::kDeadline:
    case engine::FinishReason::kDrainTimeout:
    case engine::FinishReason::kTenantRemoved:
    case engine::FinishReason::kError:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

v1::AttentionMode ToProto(engine::AttentionMode mode) {
  switch (mode) {
    case engine::AttentionMode::kMHA:
      return v1::ATTENTION_MODE_MHA;
    case engine::AttentionMode::kGQA:
      return v1::ATTENTION_MODE_GQA;
    case engine::AttentionMode::kMQA:
      return v1::ATTENTION_MODE_MQA;
  }
  return v1::ATTENTION_MODE_UNSPECIFIED;
}

}  // namespace

void AppendTokens(absl::Span<const engine::GeneratedToken> tokens,
                  const v1::ResponseOptions& options,
                  const engine::Tokenizer& tokenizer,
                  v1::GenerateResponse* response) {
  const bool logprobs = options.logprobs() || options.top_logprobs() > 0;
  for (const engine::GeneratedToken& t : tokens) {
    if (options.token_ids()) response->add_token_ids(t.token);
    if (!logprobs) continue;
    v1::TokenInfo* info = response->add_tokens();
    info->set_token_id(t.token);
    info->set_logprob(t.logprob);
    absl::string_view bytes = tokenizer.TokenBytes(t.token);
    info->set_text(bytes.data(), bytes.size());
    for (const engine::TokenLogprob& alt : t.top) {
      v1::TopLogprob* top = info->add_top_logprobs();
      top->set_token_id(alt.token);
      top->set_logprob(alt.logprob);
      absl::string_view alt_bytes = tokenizer.TokenBytes(alt.token);
      top->set_text(alt_bytes.data(), alt_bytes.size());
    }
  }
}

void SetFinished(const engine::FinishInfo& info,
                 v1::GenerateResponse* response) {
  response->set_finish_reason(ToProto(info.reason));
  v1::Usage* usage = response->mutable_usage();
  usage->set_prompt_tokens(info.prompt_tokens);
  usage->set_generated_tokens(info.generated_tokens);
  usage->set_cached_prompt_tokens(info.cached_prompt_tokens);
  usage->set_time_to_first_token_ms(Ms(info.time_to_first_token));
  usage->set_queue_time_ms(Ms(info.queue_time));
  usage->set_total_time_ms(Ms(info.total_time));
  usage->set_preemptions(info.preemptions);
}

void FillModelInfo(const engine::Engine& engine,
                   v1::ModelInfoResponse* response) {
  const engine::ModelConfig& m = engine.model_config();
  const kvcache::KvLayout& kv = engine.kv_layout();
  response->set_name(m.name);
  response->set_architecture(m.architecture);
  response->set_vocab_size(m.vocab_size);
  response->set_dim(m.dim);
  response->set_n_layers(m.n_layers);
  response->set_n_heads(m.n_heads);
  response->set_n_kv_heads(m.n_kv_heads);
  response->set_head_dim(m.head_dim);
  response->set_attention_mode(ToProto(m.attention_mode()));
  response->set_group_size(m.n_kv_heads > 0 ? m.group_size() : 0);
  response->set_context_length(m.context_length);
  response->set_bos_id(engine.tokenizer().bos_id());
  response->set_eos_id(engine.tokenizer().eos_id());
  response->set_kv_dtype(std::string(kvcache::KvDtypeName(kv.dtype)));
  response->set_kv_bytes_per_token(kv.BytesPerToken());
  response->set_block_size(kv.block_size);
  response->set_kv_capacity_blocks(engine.kv_capacity_blocks());
  response->set_kv_capacity_tokens(engine.kv_capacity_blocks() * kv.block_size);
}

}  // namespace kvasir::server
