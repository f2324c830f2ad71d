// Writes the binary seed corpora of the fuzz targets (the text ones are
// hand-written files): small valid GGUF models and vocabularies, a llama2.c
// checkpoint and tokenizer, and serialized GenerateRequests. Run from the
// fuzz build to regenerate them after a format change:
//
//   build-fuzz/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus
//
// Output is deterministic (fixed seeds), so a rerun changes no file unless
// the generator did.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/model/gguf_types.h"
#include "kvasir/v1/generation.pb.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/testing/gguf_writer.h"

namespace kvasir::fuzz {
namespace {

using testing::GgufWriter;
using testing::MakeTinyLlamaGguf;
using testing::TinyLlamaSpec;

void Write(const std::string& out_dir, const std::string& target,
           const std::string& name, const std::string& bytes) {
  const std::string dir = absl::StrCat(out_dir, "/", target);
  std::filesystem::create_directories(dir);
  const absl::Status s =
      testing::WriteBytes(absl::StrCat(dir, "/", name), bytes);
  Check(s.ok(), s.ToString());
  std::printf("%s/%s: %zu bytes\n", target.c_str(), name.c_str(), bytes.size());
}

void GgufSeeds(const std::string& out_dir) {
  TinyLlamaSpec f32;
  f32.dim = 8;
  f32.hidden_dim = 16;
  f32.n_layers = 1;
  f32.n_heads = 2;
  f32.n_kv_heads = 1;
  f32.context_length = 16;
  GgufWriter chat = MakeTinyLlamaGguf(f32);
  chat.AddString("tokenizer.chat_template", std::string(kChatMlTemplate));
  Write(out_dir, "gguf", "llama_f32_chat.gguf", chat.Build());

  TinyLlamaSpec f16 = f32;
  f16.tensor_type = static_cast<uint32_t>(engine::gguf::TensorType::kF16);
  f16.with_output = false;
  Write(out_dir, "gguf", "llama_f16_tied.gguf", MakeTinyLlamaGguf(f16).Build());

  TinyLlamaSpec q8 = f32;
  q8.dim = 32;
  q8.hidden_dim = 32;
  q8.n_heads = 4;
  q8.n_kv_heads = 2;
  q8.tensor_type = static_cast<uint32_t>(engine::gguf::TensorType::kQ8_0);
  Write(out_dir, "gguf", "llama_q8_0.gguf", MakeTinyLlamaGguf(q8).Build());

  // A vocabulary-only qwen2 file with a byte-level BPE tokenizer.
  const engine::BpeVocab bpe = FuzzBpeVocab("qwen2");
  std::vector<int32_t> types;
  for (engine::TokenType t : bpe.types)
    types.push_back(static_cast<int32_t>(t));
  GgufWriter vocab;
  vocab.AddString("general.architecture", "qwen2")
      .AddUint32("qwen2.context_length", 32)
      .AddUint32("qwen2.embedding_length", 8)
      .AddUint32("qwen2.feed_forward_length", 16)
      .AddUint32("qwen2.block_count", 1)
      .AddUint32("qwen2.attention.head_count", 2)
      .AddUint32("qwen2.attention.head_count_kv", 1)
      .AddFloat32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f)
      .AddString("tokenizer.ggml.model", "gpt2")
      .AddString("tokenizer.ggml.pre", bpe.pre)
      .AddStringArray("tokenizer.ggml.tokens", bpe.pieces)
      .AddInt32Array("tokenizer.ggml.token_type", types)
      .AddStringArray("tokenizer.ggml.merges", bpe.merges)
      .AddUint32("tokenizer.ggml.eos_token_id", bpe.eos_id)
      .AddBool("tokenizer.ggml.add_bos_token", false)
      .AddString("tokenizer.chat_template", std::string(kChatMlTemplate));
  Write(out_dir, "gguf", "qwen2_bpe_vocab.gguf", vocab.Build());
}

template <typename T>
void Append(T value, std::string* out) {
  char buf[sizeof(T)];
  std::memcpy(buf, &value, sizeof(T));
  out->append(buf, sizeof(T));
}

void Llama2cSeeds(const std::string& out_dir) {
  const int32_t dim = 8, hidden = 16, layers = 1, heads = 2, kv_heads = 1,
                vocab = 8, seq_len = 16;
  std::string ckpt;
  for (int32_t v : {dim, hidden, layers, heads, kv_heads, vocab, seq_len}) {
    Append(v, &ckpt);
  }
  const int64_t head_size = dim / heads, kv_dim = kv_heads * head_size;
  const int64_t floats = vocab * dim + layers * dim /* rms_att */ +
                         layers * (dim * dim * 2 + dim * kv_dim * 2) +
                         layers * dim /* rms_ffn */ +
                         layers * hidden * dim * 3 + dim /* rms_final */ +
                         seq_len * head_size /* freq_cis */;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  for (int64_t i = 0; i < floats; ++i) Append(dist(rng), &ckpt);
  Write(out_dir, "llama2c", "checkpoint_v8.bin", ckpt);

  std::string tok;
  Append<int32_t>(8, &tok);
  const char* pieces[] = {"<unk>", "\n<s>\n", "\n</s>\n", " ",
                          "a",     " a",      "<0x0A>",   "ab"};
  float score = 0;
  for (const char* p : pieces) {
    Append(score--, &tok);
    Append(static_cast<int32_t>(std::strlen(p)), &tok);
    tok += p;
  }
  Write(out_dir, "llama2c", "tokenizer_v8.bin", tok);
}

void RequestSeeds(const std::string& out_dir) {
  v1::GenerateRequest text;
  text.set_text("Once upon a time");
  text.set_request_id("req-1");
  Write(out_dir, "request", "text.pb", text.SerializeAsString());

  v1::GenerateRequest full;
  full.set_text("hello <|im_start|> world");
  full.set_parse_special(true);
  full.set_priority(3);
  v1::SamplingParameters* s = full.mutable_sampling();
  s->set_temperature(0.7f);
  s->set_top_k(40);
  s->set_top_p(0.9f);
  s->set_min_p(0.05f);
  s->set_repetition_penalty(1.1f);
  s->set_seed(42);
  v1::StoppingCriteria* st = full.mutable_stopping();
  st->set_max_new_tokens(8);
  st->add_stop_sequences("\n\n");
  st->add_stop_sequences("END");
  st->set_include_stop_sequence(true);
  st->set_ignore_eos(true);
  v1::ResponseOptions* r = full.mutable_response();
  r->set_prompt_token_ids(true);
  r->set_token_ids(true);
  r->set_logprobs(true);
  r->set_top_logprobs(5);
  Write(out_dir, "request", "text_all_fields.pb", full.SerializeAsString());

  v1::GenerateRequest ids;
  for (int32_t id : {1, 300, 270, 5}) ids.mutable_token_ids()->add_ids(id);
  ids.mutable_stopping()->set_max_new_tokens(4);
  Write(out_dir, "request", "token_ids.pb", ids.SerializeAsString());

  v1::GenerateRequest chat;
  auto* m = chat.mutable_messages();
  auto* sys = m->add_messages();
  sys->set_role("system");
  sys->set_content("Be brief.");
  auto* user = m->add_messages();
  user->set_role("user");
  user->set_content("hello <|im_end|> there");
  chat.mutable_sampling()->set_temperature(0.0f);
  Write(out_dir, "request", "messages.pb", chat.SerializeAsString());

  v1::GenerateRequest bad;
  bad.mutable_token_ids()->add_ids(-1);
  bad.mutable_stopping()->set_max_new_tokens(1 << 30);
  bad.mutable_response()->set_top_logprobs(-3);
  bad.set_request_id(std::string("bad\x01id"));
  Write(out_dir, "request", "invalid_values.pb", bad.SerializeAsString());
}

}  // namespace
}  // namespace kvasir::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
    return 2;
  }
  kvasir::fuzz::GgufSeeds(argv[1]);
  kvasir::fuzz::Llama2cSeeds(argv[1]);
  kvasir::fuzz::RequestSeeds(argv[1]);
  return 0;
}
