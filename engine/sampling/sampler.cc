#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/status_macros.h"

namespace kvasir::engine {
namespace {

// Below this temperature sampling is greedy, as in vLLM (_SAMPLING_EPS).
constexpr float kGreedyTemperature = 1e-5f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// First index of the maximum; 0 when every value is -inf. v holds no NaN.
// Two passes, the max over 16 independent lanes: a greedy step samples
// every running sequence's row on the engine thread while the other cores
// wait, and a one-pass compare-and-select loop is a dependency chain
// through the whole vocabulary (~2% of a 32-stream 1b step's profile).
int32_t ArgMax(const std::vector<float>& v) {
  constexpr int kLanes = 16;
  const float* p = v.data();
  const size_t n = v.size();
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, kNegInf);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lanes[j] = std::max(lanes[j], p[i + j]);
  }
  float max = *std::max_element(lanes, lanes + kLanes);
  for (; i < n; ++i) max = std::max(max, p[i]);
  for (i = 0; i < n; ++i) {
    if (p[i] == max) return static_cast<int32_t>(i);
  }
  return 0;
}

}  // namespace

SamplerRng::SamplerRng(uint64_t seed) {
  uint64_t state = seed;
  for (uint64_t& s : s_) s = SplitMix64(state);
}

uint64_t SamplerRng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

absl::StatusOr<std::unique_ptr<Sampler>> Sampler::Create(
    const Options& options) {
  RETURN_IF_ERROR(options.params.Validate());
  const uint64_t seed = options.params.seed.value_or(options.default_seed);
  return std::unique_ptr<Sampler>(new Sampler(options.params, seed));
}

bool Sampler::is_greedy() const {
  return params_.temperature < kGreedyTemperature;
}

void Sampler::EnsureScratch(size_t vocab) {
  if (logits_.size() == vocab) return;
  logits_.resize(vocab);
  seen_.assign(vocab, 0);
  candidates_.reserve(vocab);
}

void Sampler::ApplyRepetitionPenalty(
    absl::Span<const int32_t> previous_tokens) {
  const float penalty = params_.repetition_penalty;
  if (penalty == 1.0f) return;
  const auto vocab = static_cast<int32_t>(logits_.size());
  for (int32_t t : previous_tokens) {
    if (t < 0 || t >= vocab || seen_[t]) continue;
    seen_[t] = 1;
    float& l = logits_[t];
    l = l > 0 ? l / penalty : l * penalty;
  }
  for (int32_t t : previous_tokens) {
    if (t >= 0 && t < vocab) seen_[t] = 0;
  }
}

int32_t Sampler::Sample(absl::Span<const float> logits,
                        absl::Span<const int32_t> previous_tokens) {
  if (logits.empty()) return -1;
  EnsureScratch(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    logits_[i] = std::isnan(logits[i]) ? kNegInf : logits[i];
  }
  ApplyRepetitionPenalty(previous_tokens);
  if (is_greedy()) return ArgMax(logits_);

  const float max_logit = *std::max_element(logits_.begin(), logits_.end());
  // All -inf: nothing to weigh. +inf: it outweighs everything (and inf - inf
  // would be NaN below).
  if (std::isinf(max_logit)) return ArgMax(logits_);
  const float inv_t = 1.0f / params_.temperature;
  // Probabilities relative to the best token (which has 1), so min-p is a
  // plain threshold.
  const float min_p = params_.min_p;
  candidates_.clear();
  for (size_t i = 0; i < logits_.size(); ++i) {
    const float p = std::exp((logits_[i] - max_logit) * inv_t);
    if (p > 0.0f && p >= min_p) {
      candidates_.push_back({p, static_cast<int32_t>(i)});
    }
  }
  return SampleFromCandidates();
}

int32_t Sampler::SampleFromCandidates() {
  auto better = [](const Candidate& a, const Candidate& b) {
    return a.p > b.p || (a.p == b.p && a.id < b.id);
  };
  std::vector<Candidate>& c = candidates_;
  if (c.empty()) return ArgMax(logits_);
  const int32_t k = params_.top_k;
  if (k > 0 && static_cast<size_t>(k) < c.size()) {
    std::nth_element(c.begin(), c.begin() + (k - 1), c.end(), better);
    c.resize(k);
  }
  if (params_.top_p < 1.0f) {
    double total = 0;
    for (const Candidate& x : c) total += x.p;
    const double target = params_.top_p * total;
    // Sort only as far as needed, growing the sorted prefix geometrically:
    // peaked distributions reach the target within a few dozen tokens.
    size_t sorted = 0, keep = c.size(), chunk = 64;
    double mass = 0;
    bool done = false;
    while (!done && sorted < c.size()) {
      const size_t end = std::min(c.size(), sorted + chunk);
      std::partial_sort(c.begin() + sorted, c.begin() + end, c.end(), better);
      for (size_t i = sorted; i < end; ++i) {
        if (mass >= target) {
          keep = i;
          done = true;
          break;
        }
        mass += c[i].p;
      }
      sorted = end;
      chunk *= 2;
    }
    c.resize(std::max<size_t>(keep, 1));
  }
  double total = 0;
  for (const Candidate& x : c) total += x.p;
  const double u = rng_.Uniform() * total;
  double acc = 0;
  for (const Candidate& x : c) {
    acc += x.p;
    if (u < acc) return x.id;
  }
  return c.back().id;  // u rounded up to the total
}

float Sampler::Logprobs(absl::Span<const float> logits, int32_t token,
                        int32_t top_n, std::vector<TokenLogprob>* top) {
  if (top != nullptr) top->clear();
  if (logits.empty()) return kNegInf;
  float max_logit = kNegInf;
  for (float l : logits) {
    if (l > max_logit) max_logit = l;  // NaN never compares greater
  }
  double sum = 0;
  if (max_logit != kNegInf) {
    for (float l : logits) {
      if (!std::isnan(l)) sum += std::exp(static_cast<double>(l - max_logit));
    }
  }
  const double log_z = max_logit == kNegInf ? 0.0 : max_logit + std::log(sum);
  auto logprob = [&](int32_t id) {
    const float l = logits[id];
    return std::isnan(l) ? kNegInf : static_cast<float>(l - log_z);
  };
  const auto vocab = static_cast<int32_t>(logits.size());
  const float chosen = token >= 0 && token < vocab ? logprob(token) : kNegInf;
  if (top_n > 0 && top != nullptr) {
    const int32_t n = std::min(top_n, vocab);
    order_.resize(logits.size());
    std::iota(order_.begin(), order_.end(), 0);
    auto key = [&](int32_t id) {
      return std::isnan(logits[id]) ? kNegInf : logits[id];
    };
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(),
                      [&](int32_t a, int32_t b) {
                        const float ka = key(a), kb = key(b);
                        return ka > kb || (ka == kb && a < b);
                      });
    for (int32_t i = 0; i < n; ++i) {
      top->push_back({order_[i], logprob(order_[i])});
    }
  }
  return chosen;
}

}  // namespace kvasir::engine
