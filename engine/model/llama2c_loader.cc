#include "engine/model/llama2c_loader.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/loader_util.h"
#include "engine/model/mapped_file.h"
#include "engine/tokenizer/llama2c_tokenizer.h"

namespace kvasir::engine {
namespace {

constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);

ModelConfig ConfigFromHeader(const Llama2cHeader& h, absl::string_view name) {
  ModelConfig c;
  c.architecture = "llama";
  c.name = std::string(name);
  c.dim = h.dim;
  c.hidden_dim = h.hidden_dim;
  c.n_layers = h.n_layers;
  c.n_heads = h.n_heads;
  c.n_kv_heads = h.n_kv_heads;
  c.head_dim = h.n_heads > 0 ? h.dim / h.n_heads : 0;
  c.vocab_size = h.vocab_size < 0 ? -h.vocab_size : h.vocab_size;
  c.context_length = h.seq_len;
  c.rope_theta = 10000.0f;
  c.rms_eps = 1e-5f;
  return c;
}

// Sizes in floats of the parts of a checkpoint. The sizes of a valid config
// are products of positive ints; __int128 keeps the sums exact.
struct Layout {
  __int128 weights = 0;     // everything up to and including rms_final
  __int128 freq_cis = 0;    // freq_cis_real + freq_cis_imag
  __int128 classifier = 0;  // wcls, when unshared
};

Layout LayoutOf(const ModelConfig& c, bool shared) {
  const __int128 d = c.dim, f = c.hidden_dim, l = c.n_layers, v = c.vocab_size;
  const __int128 q = __int128{c.n_heads} * c.head_dim;
  const __int128 kv = __int128{c.n_kv_heads} * c.head_dim;
  Layout out;
  out.weights =
      v * d + l * (d + d * q + 2 * d * kv + q * d + d + 3 * d * f) + d;
  out.freq_cis = __int128{c.context_length} * c.head_dim;
  out.classifier = shared ? 0 : v * d;
  return out;
}

std::string HeaderString(const Llama2cHeader& h) {
  return absl::StrCat("dim ", h.dim, ", hidden_dim ", h.hidden_dim,
                      ", n_layers ", h.n_layers, ", n_heads ", h.n_heads,
                      ", n_kv_heads ", h.n_kv_heads, ", vocab_size ",
                      h.vocab_size, ", seq_len ", h.seq_len);
}

// Copies `rows * cols` floats at `*cursor` into a new [rows, cols] tensor
// (or [cols] when rows == 0) and advances the cursor.
Tensor Take(const uint8_t** cursor, int64_t rows, int64_t cols) {
  Tensor t = rows == 0 ? Tensor::Uninitialized({cols})
                       : Tensor::Uninitialized({rows, cols});
  std::memcpy(t.data(), *cursor, t.numel() * sizeof(float));
  *cursor += t.numel() * sizeof(float);
  return t;
}

}  // namespace

absl::StatusOr<Llama2cHeader> ParseLlama2cHeader(absl::string_view bytes,
                                                 absl::string_view source) {
  if (bytes.size() >= 4 && bytes.substr(0, 4) == "24ka") {
    // "ak42" magic of llama2.c's version 1/2 exports, little-endian.
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        ": llama2.c export version 1/2 ('ak42' header) is not "
        "supported; export with --version 0 (legacy) or use GGUF"));
  }
  if (bytes.size() < kHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat(source, ": truncated llama2.c checkpoint: ", bytes.size(),
                     " bytes, less than the 28-byte header"));
  }
  Llama2cHeader h;
  std::memcpy(&h, bytes.data(), kHeaderBytes);
  if (h.vocab_size == 0 || h.vocab_size == INT32_MIN) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a llama2.c checkpoint: vocab_size ", h.vocab_size));
  }
  const ModelConfig c = ConfigFromHeader(h, source);
  absl::Status valid = HeadDimOf(c.dim, c.n_heads, source).status();
  if (valid.ok()) valid = ValidateModelConfig(c, source);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        valid.message(),
        " (not a llama2.c checkpoint? header: ", HeaderString(h), ")"));
  }
  const Layout layout = LayoutOf(c, h.vocab_size > 0);
  const __int128 with_freq =
      kHeaderBytes + 4 * (layout.weights + layout.freq_cis + layout.classifier);
  const __int128 without_freq =
      kHeaderBytes + 4 * (layout.weights + layout.classifier);
  const __int128 size = bytes.size();
  if (size == with_freq || size == without_freq) return h;
  const std::string expected = absl::StrCat(
      static_cast<int64_t>(with_freq), " bytes (or ",
      static_cast<int64_t>(without_freq), " without the freq_cis block)");
  const std::string what = absl::StrCat(source, ": llama2.c checkpoint is ",
                                        bytes.size(), " bytes but its header (",
                                        HeaderString(h), ") needs ", expected);
  if (size < without_freq) {
    return absl::DataLossError(absl::StrCat(what, ": the file is truncated"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": the file has extra or missing data"));
}

absl::StatusOr<std::unique_ptr<Model>> LoadLlama2cModel(
    const std::string& checkpoint_path, const std::string& tokenizer_path) {
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(checkpoint_path));
  return Llama2cModelFromFile(*file, tokenizer_path);
}

absl::StatusOr<std::unique_ptr<Model>> Llama2cModelFromFile(
    const MappedFile& checkpoint, const std::string& tokenizer_path) {
  const MappedFile* file = &checkpoint;
  const std::string& checkpoint_path = checkpoint.path();
  ASSIGN_OR_RETURN(Llama2cHeader h,
                   ParseLlama2cHeader(file->bytes(), checkpoint_path));
  ASSIGN_OR_RETURN(auto tokenizer, LoadLlama2cTokenizer(tokenizer_path));

  auto model = std::make_unique<Model>();
  model->config = ConfigFromHeader(h, FileBaseName(checkpoint_path));
  const ModelConfig& c = model->config;
  if (tokenizer->vocab_size() != c.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer ", tokenizer_path, " has ",
                     tokenizer->vocab_size(), " tokens but checkpoint ",
                     checkpoint_path, " has vocab_size ", c.vocab_size));
  }
  const Layout layout = LayoutOf(c, h.vocab_size > 0);
  const bool has_freq_cis =
      file->size() ==
      kHeaderBytes + 4 * (layout.weights + layout.freq_cis + layout.classifier);

  const int64_t d = c.dim, f = c.hidden_dim, v = c.vocab_size;
  const int64_t q = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv = int64_t{c.n_kv_heads} * c.head_dim;
  ModelWeights& w = model->weights;
  w.layers.resize(c.n_layers);
  const uint8_t* p = file->data() + kHeaderBytes;
  w.tok_embeddings = Take(&p, v, d);
  // llama2.c stores each weight kind for all layers together.
  for (auto& l : w.layers) l.attn_norm = Take(&p, 0, d);
  for (auto& l : w.layers) l.wq = Take(&p, q, d);
  for (auto& l : w.layers) l.wk = Take(&p, kv, d);
  for (auto& l : w.layers) l.wv = Take(&p, kv, d);
  for (auto& l : w.layers) l.wo = Take(&p, d, q);
  for (auto& l : w.layers) l.ffn_norm = Take(&p, 0, d);
  for (auto& l : w.layers) l.w_gate = Take(&p, f, d);  // w1
  for (auto& l : w.layers) l.w_down = Take(&p, d, f);  // w2
  for (auto& l : w.layers) l.w_up = Take(&p, f, d);    // w3
  w.final_norm = Take(&p, 0, d);
  if (has_freq_cis) {
    p += static_cast<int64_t>(layout.freq_cis) * sizeof(float);
  }
  if (h.vocab_size < 0) w.output = Take(&p, v, d);
  model->tokenizer = std::move(tokenizer);
  return model;
}

}  // namespace kvasir::engine
