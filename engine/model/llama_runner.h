#ifndef KVASIR_ENGINE_MODEL_LLAMA_RUNNER_H_
#define KVASIR_ENGINE_MODEL_LLAMA_RUNNER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/ops/linear.h"
#include "engine/ops/paged_attention.h"
#include "engine/ops/quant/quant_linear.h"
#include "engine/ops/rope.h"
#include "engine/ops/spin_barrier.h"
#include "engine/ops/weight_arena.h"
#include "kvcache/kv_arena.h"
#include "kvcache/kv_layout.h"

namespace kvasir::engine {

// More OpenMP threads than this is a mistake, not a machine: libgomp fails
// to start them, or crashes, long before.
inline constexpr int kMaxNumThreads = 1024;

// The Llama decoder on the CPU: a batched, paged forward pass (see
// ModelRunner). One Step runs all scheduled tokens of all sequences as one
// M-row matrix:
//
//   embedding -> per layer: RMSNorm -> fused QKV matmul -> RoPE(q, k) ->
//   K/V into the cache slots -> paged causal attention -> output matmul ->
//   residual -> RMSNorm -> fused gate/up matmul -> SwiGLU -> down matmul ->
//   residual -> final RMSNorm and output matmul for the logits rows only.
//
// Projections of f32 weights are oneDNN matmuls (ops::Linear) whose weights
// are laid out once here; their primitives are cached by shape in one
// ops::MatmulContext, shared by all layers. Projections with weights of a
// ggml block type (a quantized GGUF) run Kvasir's quantized kernels
// (quant::QuantLinear) on the model's own bytes, which are never expanded.
// Optional per architecture: QKV biases (Qwen2), per-head RMSNorm of q and k
// before RoPE (Qwen3), RoPE frequency divisors (Llama 3.1), NeoX RoPE. Every
// buffer a step needs is allocated at Create (RoPE angles included), so Step
// does not allocate (except oneDNN creating a primitive for a row count it has
// not seen yet). Not thread-safe: one thread calls Step and logits.
class LlamaRunner final : public ModelRunner {
 public:
  struct Options {
    // Tokens per step over all sequences (the M of the matmuls).
    int max_batch_tokens = 512;
    // Sequences per step.
    int max_seqs = 64;
    // Logits rows per step over all sequences (SequenceStep::logits_last_n
    // summed); 0 = max_seqs (one per sequence, as serving needs). The
    // logits buffer is [max_logit_rows, vocab] f32, allocated at Create.
    int max_logit_rows = 0;
    // Tokens per KV block.
    int block_size = 16;
    // Element type of the KV cache.
    kvcache::KvDtype kv_dtype = kvcache::KvDtype::kF32;
    // Storage type of the projection weights (f32 is exact; bf16 halves the
    // memory and bandwidth, with bf16-rounded activations into the matmuls).
    WeightsDtype weights_dtype = WeightsDtype::kF32;
    // OpenMP threads for matmuls and attention; 0 = omp_get_max_threads()
    // (all cores unless OMP_NUM_THREADS says otherwise); at most
    // kMaxNumThreads.
    int num_threads = 0;
    // oneDNN primitives kept per weight shape, one per row count M (the
    // layers share them: a model has a handful of shapes).
    int primitive_cache_size = 128;
    // Instruction set of the quantized kernels (kAuto: the best the CPU
    // has; tests force kAvx2 to cover machines without AVX-512).
    quant::Isa quant_isa = quant::Isa::kAuto;
    // Decode steps (at most 4 rows, every projection on a GEMV kernel) run
    // all their ops in one OpenMP parallel region whose threads meet at
    // spin barriers (llama_runner_team.cc), instead of one region per op;
    // false: one region per op, as larger steps always run. Same results.
    // KVASIR_DECODE_TEAM=off in the environment makes it false.
    bool decode_team = true;
    // Optional, for calibration passes (kv_calibration.h), never set when
    // serving: called in each layer of each Step with the attention block's
    // RMS-normed input, `rows` x D row-major f32 (the QKV matmul's input),
    // valid during the call only. Runs on the Step thread.
    std::function<void(int layer, const float* xn, int rows)>
        attention_input_observer;
  };

  // Lays out copies of the model's weights; `model` is left as it is, so
  // while both live the projection weights are held twice (with f32 weights
  // and shared model memory, ~2x the checkpoint). InvalidArgument naming
  // the field for bad options or a model whose tensor shapes do not match
  // its config (or that has no tokenizer).
  static absl::StatusOr<std::unique_ptr<LlamaRunner>> Create(
      const Options& options, std::shared_ptr<const Model> model);

  // Like Create, but takes the model and frees each projection matrix (wq,
  // wk, wv, wo, gate, up, down and an untied output) as soon as it is laid
  // out, so peak memory stays near one copy of the weights (block-type
  // matrices are copied as they are into the runner's huge pages,
  // ops/weight_arena.h; a tied output stays in the embeddings, which the
  // quantized kernels then read in place). The model the runner keeps (and
  // model() returns) has those tensors empty; config, tokenizer, embeddings
  // and norms stay.
  static absl::StatusOr<std::unique_ptr<LlamaRunner>> CreateOwning(
      const Options& options, std::unique_ptr<Model> model);

  ~LlamaRunner() override;

  const ModelConfig& config() const override { return model_->config; }
  const Tokenizer& tokenizer() const override { return *model_->tokenizer; }
  const Model& model() const { return *model_; }
  const Options& options() const { return options_; }

  // The cache geometry Step expects: create the KvArena with this layout.
  kvcache::KvLayout kv_layout() const { return layout_; }

  // See ModelRunner::Step. Checks, before writing anything: 1 to max_seqs
  // sequences, 1 to max_batch_tokens tokens in all, each sequence with at
  // least one token, token ids in [0, vocab), start_pos >= 0,
  // logits_last_n in [1, tokens] where logits are asked for and at most
  // max_logit_rows of them in all,
  // start_pos + n <= context_length, a block table covering positions
  // [0, start_pos + n) whose entries are blocks of `kv`, and kv's layout
  // equal to kv_layout(). InvalidArgument naming the sequence and field.
  // Internal if oneDNN fails mid-step (the cache may then hold partial K/V
  // for the step's positions; the caller should drop those sequences).
  absl::Status Step(absl::Span<const SequenceStep> seqs,
                    kvcache::KvArena& kv) override;

  absl::Span<const float> logits(int i) const override;

  // Split of the last Step's wall time (steady clock).
  StepTimings last_timings() const override { return timings_; }

  // Bytes of the laid-out projection weights (all layers and the output).
  int64_t weight_bytes() const;
  // The kernel of the decode (M = 1) QKV matmul, for logs: oneDNN's name,
  // or "quant:<isa>" for the quantized kernels.
  const std::string& matmul_impl() const;
  // oneDNN matmul primitives cached now, over all layers (one per weight
  // shape and row count seen), for logs and tests.
  int cached_primitives() const;
  int num_threads() const { return num_threads_; }
  // Options::max_logit_rows resolved (max_seqs when 0).
  int max_logit_rows() const {
    return options_.max_logit_rows > 0 ? options_.max_logit_rows
                                       : options_.max_seqs;
  }

 private:
  // One projection: a oneDNN matmul (all parts f32) or the quantized
  // kernels (some part of a block type).
  struct Proj {
    std::unique_ptr<ops::Linear> dense;
    std::unique_ptr<quant::QuantLinear> quant;
    int64_t weight_bytes = 0;  // as laid out for the kernel
    int64_t macs_per_row = 0;  // in_features * out_features
    bool bf16 = false;         // dense bf16 weights: bf16 arithmetic

    // Adds the flops of `rows` rows to t (and to its bf16 or quant part).
    void CountFlops(int rows, StepTimings* t) const {
      const int64_t flops = 2 * int64_t{rows} * macs_per_row;
      t->matmul_flops += flops;
      if (bf16) t->bf16_flops += flops;
      if (quant != nullptr) t->quant_flops += flops;
    }
  };
  struct Layer {
    const float* attn_norm = nullptr;  // [D], in model_
    const float* ffn_norm = nullptr;   // [D], in model_
    const float* q_norm = nullptr;     // [hd] or null, in model_
    const float* k_norm = nullptr;     // [hd] or null, in model_
    std::vector<float> qkv_bias;       // [(H + 2 Hkv) hd] or empty
    Proj wqkv;                         // [(H + 2 Hkv) hd, D]
    Proj wo;                           // [D, H hd]
    Proj w_gate_up;                    // [2F, D]: gate rows first
    Proj w_down;                       // [D, F]
  };

  // A row-major f32 buffer, 64-byte aligned, allocated once.
  struct Buffer {
    struct Free {
      void operator()(float* p) const;
    };
    std::unique_ptr<float, Free> data;
    float* get() const { return data.get(); }
  };

  LlamaRunner(const Options& options, int num_threads);
  static absl::StatusOr<std::unique_ptr<LlamaRunner>> Build(
      const Options& options, std::shared_ptr<Model> owned,
      std::shared_ptr<const Model> shared);
  absl::Status Init(Model* releasable);
  absl::Status Validate(absl::Span<const SequenceStep> seqs,
                        const kvcache::KvArena& kv) const;
  absl::Status Forward(absl::Span<const SequenceStep> seqs,
                       kvcache::KvArena& kv);
  // A projection of the row blocks `parts` (stacked), in_features wide,
  // laid out in weight_arena_. Quantized parts are copied there only when
  // `copy_blocks` (the caller then frees them), else read where they are.
  absl::StatusOr<Proj> MakeProj(const std::string& name,
                                std::initializer_list<const Tensor*> parts,
                                int64_t in_features, int max_rows,
                                bool copy_blocks);
  absl::Status Matmul(const Proj& proj, const float* x, int m, float* y);
  // Step timings (StepTimings) are read off a steady clock.
  using Clock = std::chrono::steady_clock;
  static int64_t NanosSince(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                                start)
        .count();
  }
  // The fused projection's m rows of qkv made ready for attention: the
  // bias added (Qwen2), q and k heads RMS-normed (Qwen3), RoPE applied.
  void FinishQkv(const Layer& layer, float* qkv, int m);
  // The one-region decode step (llama_runner_team.cc): whether this step
  // can run so (every check Forward's kernels would make passes), and the
  // layers and logits of such a step after Forward's common start.
  bool TeamCovers(int m, int n_logits, const kvcache::KvArena& kv) const;
  // From this many rows ForwardInTeam splits its row-wise ops (and the
  // quantizing of projection inputs) over the team.
  static constexpr int kTeamSplitMinRows = 8;
  absl::Status ForwardInTeam(
      absl::Span<const ops::PagedAttention::Sequence> att_seqs,
      kvcache::KvArena& kv, int m, int n_logits);

  Options options_;
  int num_threads_;
  std::shared_ptr<const Model> model_;
  kvcache::KvLayout layout_;

  // The projections' weights (declared first: it outlives them).
  std::unique_ptr<ops::WeightArena> weight_arena_;
  std::unique_ptr<ops::MatmulContext> matmul_ctx_;
  std::unique_ptr<quant::QuantContext> quant_ctx_;
  std::vector<Layer> layers_;
  Proj output_;             // [V, D]
  std::string quant_impl_;  // "quant:<isa>" when layer 0's QKV is quantized
  std::unique_ptr<ops::Rope> rope_;
  std::unique_ptr<ops::PagedAttention> attention_;

  // Step scratch; M = max_batch_tokens, S = max_seqs.
  Buffer x_;        // [M, D] residual stream
  Buffer xn_;       // [M, D] normed input of a block
  Buffer qkv_;      // [M, (H + 2 Hkv) hd]
  Buffer attn_;     // [M, H hd]
  Buffer proj_;     // [M, D] output of wo / w_down
  Buffer gate_up_;  // [M, 2F]
  Buffer ffn_;      // [M, F]
  Buffer last_;     // [R, D] final hidden state of the logits rows
  Buffer logits_;   // [R, V]; R = max_logit_rows()
  std::vector<int32_t> token_ids_;                       // [M]
  std::vector<int32_t> positions_;                       // [M]
  std::vector<ops::PagedAttention::Sequence> att_seqs_;  // [S]
  std::vector<int32_t> logit_rows_;                      // [R]
  int n_logits_ = 0;

  StepTimings timings_;
  // ForwardInTeam's synchronization (its team lives for one step).
  ops::SpinBarrier team_barrier_;
  std::atomic<int> attention_next_{0};  // next attention task to take
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_LLAMA_RUNNER_H_
