// LlamaRunner's decode step in one OpenMP parallel region.
//
// Why: a 110M decode step ran 49 to 61 parallel regions (4 projections per
// layer and the logits; the attention of each layer too past ~170
// positions), each a fork and a join. libgomp spins only 100 times before
// a futex sleep once the process holds more OpenMP threads than cores,
// which a serving process always does (the main thread's idle team from
// loading plus the engine thread's team), so each region put the other
// thread to sleep and woke it again: ~208 context switches per token, and
// ~40% of a Q8_0 token's step time on a 2-core VM (docs/kernels.md).
// Here the team is forked once per step and its threads meet at spin
// barriers (ops::SpinBarrier); thread 0 runs the small serial ops (norms,
// RoPE, K/V writes, SwiGLU, residual adds, quantizing a projection's input)
// while the others wait at the next barrier. Every projection splits its
// rows exactly as its own parallel region does, and an attention task's
// result does not depend on the thread that runs it, so the results are
// the same bits (quant_model_test: DecodeTeamMatchesOneRegionPerOp).
// Batched decode steps too (up to QuantLinear::kVnniTeamMaxRows rows on
// the VNNI panels, whose Forward is a region per projection; it forked
// three then):
// measured on the yardstick (dummy:1b Q4_K_M, 32 streams) the kernel's
// context-switch time fell from ~3.7% to ~2% of the profile.

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "common/status_macros.h"
#include "engine/model/llama_runner.h"
#include "engine/ops/elementwise.h"

namespace kvasir::engine {

bool LlamaRunner::TeamCovers(int m, int n_logits,
                             const kvcache::KvArena& kv) const {
  if (!options_.decode_team || num_threads_ < 2) return false;
  auto covers = [&](const Proj& p, int rows) {
    return p.dense != nullptr
               ? p.dense->GemvInTeam(*matmul_ctx_, rows)
               : p.quant->DecodesInTeam(*quant_ctx_, rows, num_threads_);
  };
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    if (!covers(layer.wqkv, m) || !covers(layer.wo, m) ||
        !covers(layer.w_gate_up, m) || !covers(layer.w_down, m) ||
        !attention_->CheckAttend(static_cast<int>(l), kv).ok()) {
      return false;
    }
  }
  return n_logits == 0 || covers(output_, n_logits);
}

absl::Status LlamaRunner::ForwardInTeam(
    absl::Span<const ops::PagedAttention::Sequence> att_seqs,
    kvcache::KvArena& kv, int m, int n_logits) {
  const ModelConfig& c = config();
  const int d = c.dim, f = c.hidden_dim, h = c.n_heads, hkv = c.n_kv_heads;
  const int hd = c.head_dim;
  const int64_t qkv_width = int64_t{h + 2 * hkv} * hd;
  const float eps = c.rms_eps;
  float* x = x_.get();
  float* xn = xn_.get();
  float* qkv = qkv_.get();
  float* attn = attn_.get();
  float* proj = proj_.get();
  float* last = last_.get();
  // Thread 0's; TeamCovers checked what WriteKv checks, so it stays OK.
  absl::Status status;

#pragma omp parallel num_threads(num_threads_)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    ops::SpinBarrier& barrier = team_barrier_;
    // A batched step's row-wise ops (norms, residual adds, SwiGLU, the
    // logits' rows) and the preparing (quantizing, packing, rounding) of a
    // projection's input are split over the team: each thread its own rows
    // (share(n) of n), then a barrier. A step of few rows leaves all of
    // them to thread 0, which needs no barrier before it prepares the next
    // projection's input itself (the extra barriers would cost more than
    // the rows). One rule for both, so every row a projection prepares was
    // written by the same thread or before a barrier.
    const bool split = m >= kTeamSplitMinRows;
    auto share = [&](int n) {
      return split ? std::pair(n * t / nt, n * (t + 1) / nt)
                   : std::pair(0, t == 0 ? n : 0);
    };
    // `wait`: false where the rows' next reader is the thread that wrote
    // them.
    auto rows_op = [&](int n, auto&& op, bool wait = true) {
      const auto [r0, r1] = share(n);
      if (r0 < r1) op(r0, r1);
      if (split && wait) barrier.Wait(nt);
    };
    // y = x · Wᵀ on the team: the input prepared (share(rows) each), a
    // barrier, then every thread computes its share of y; y is complete
    // after the second barrier. Thread 0 times the whole of it, as Matmul
    // does.
    auto project = [&](const Proj& p, const float* in, int rows, float* y) {
      Clock::time_point start;
      if (t == 0) start = Clock::now();
      if (p.dense != nullptr) {
        const auto [r0, r1] = share(rows);
        p.dense->PrepareGemvRows(*matmul_ctx_, in, r0, r1);
        p.dense->ArmGemvSlice(*matmul_ctx_, t, nt);
      } else if (split) {
        p.quant->PrepareDecodeSlice(*quant_ctx_, in, rows, t, nt);
      } else if (t == 0) {
        p.quant->PrepareDecode(*quant_ctx_, in, rows);
      }
      if (p.dense == nullptr) p.quant->ArmDecodeSlice(*quant_ctx_, rows, t, nt);
      barrier.Wait(nt);
      if (p.dense != nullptr) {
        p.dense->GemvSlice(*matmul_ctx_, in, rows, y, t, nt);
      } else {
        p.quant->DecodeSlice(*quant_ctx_, in, rows, y, t, nt);
      }
      barrier.Wait(nt);
      if (t == 0) {
        timings_.matmul_ns += NanosSince(start);
        timings_.weight_bytes += p.weight_bytes;
        p.CountFlops(rows, &timings_);
      }
    };

    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& layer = layers_[l];
      const int li = static_cast<int>(l);
      // Attention block. qkv rows: [q: H hd | k: Hkv hd | v: Hkv hd].
      rows_op(m, [&](int r0, int r1) {
        ops::RmsNorm(x + int64_t{r0} * d, layer.attn_norm, r1 - r0, d, eps,
                     xn + int64_t{r0} * d);
      });
      if (t == 0 && options_.attention_input_observer) {
        options_.attention_input_observer(li, xn, m);
      }
      project(layer.wqkv, xn, m, qkv);
      Clock::time_point att_start;
      if (t == 0) {
        FinishQkv(layer, qkv, m);
        att_start = Clock::now();
        status.Update(attention_->WriteKv(li, att_seqs, qkv + int64_t{h} * hd,
                                          qkv + int64_t{h + hkv} * hd,
                                          qkv_width, kv));
        attention_next_.store(0, std::memory_order_relaxed);
      }
      barrier.Wait(nt);
      attention_->AttendSlice(li, qkv, qkv_width, kv, attn,
                              {.thread = t,
                               .threads = nt,
                               .next = &attention_next_,
                               .barrier = &barrier});
      barrier.Wait(nt);
      if (t == 0) timings_.attention_ns += NanosSince(att_start);
      project(layer.wo, attn, m, proj);
      // Feed-forward block.
      rows_op(m, [&](int r0, int r1) {
        const int64_t o = int64_t{r0} * d;
        ops::AddInPlace(x + o, proj + o, int64_t{r1 - r0} * d);
        ops::RmsNorm(x + o, layer.ffn_norm, r1 - r0, d, eps, xn + o);
      });
      project(layer.w_gate_up, xn, m, gate_up_.get());
      rows_op(m, [&](int r0, int r1) {
        ops::SwiGlu(gate_up_.get() + int64_t{r0} * 2 * f, r1 - r0, f,
                    ffn_.get() + int64_t{r0} * f);
      });
      project(layer.w_down, ffn_.get(), m, proj);
      // The next layer's norm reads these rows on the same thread; the
      // logits' copy waits below.
      rows_op(
          m,
          [&](int r0, int r1) {
            ops::AddInPlace(x + int64_t{r0} * d, proj + int64_t{r0} * d,
                            int64_t{r1 - r0} * d);
          },
          /*wait=*/false);
    }

    if (n_logits > 0) {
      if (split) barrier.Wait(nt);  // every thread's last residual rows
      // The sampled rows, normed.
      rows_op(n_logits, [&](int i0, int i1) {
        for (int i = i0; i < i1; ++i) {
          std::memcpy(last + int64_t{i} * d, x + int64_t{logit_rows_[i]} * d,
                      sizeof(float) * d);
        }
        ops::RmsNorm(last + int64_t{i0} * d, model_->weights.final_norm.data(),
                     i1 - i0, d, eps, last + int64_t{i0} * d);
      });
      project(output_, last, n_logits, logits_.get());
    }
  }
  RETURN_IF_ERROR(status);
  n_logits_ = n_logits;
  return absl::OkStatus();
}

}  // namespace kvasir::engine
