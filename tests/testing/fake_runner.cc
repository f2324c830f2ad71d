#include "tests/testing/fake_runner.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/byte_tokenizer.h"

namespace kvasir::testing {
namespace {

constexpr int32_t kEos = engine::ByteTokenizer::kEosId;

// The byte of a byte token, or -1.
int ByteOf(int32_t id) { return id >= 3 && id < 3 + 256 ? id - 3 : -1; }

uint32_t HistoryHash(absl::Span<const int32_t> history) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < history.size(); ++i) {
    h = (h ^ static_cast<uint32_t>(history[i])) * 16777619u;
    h = (h ^ static_cast<uint32_t>(i)) * 16777619u;
  }
  return h;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeRunner>> FakeRunner::Create(
    const Options& options) {
  if ((options.tokenizer == nullptr &&
       options.vocab_size < engine::ByteTokenizer::kMinVocabSize) ||
      options.n_heads < 0 || options.head_dim < 2 || options.n_layers < 1 ||
      options.n_kv_heads < 1 || options.max_seqs < 1 ||
      options.max_batch_tokens < 1) {
    return absl::InvalidArgumentError("FakeRunner: bad options");
  }
  Options o = options;
  if (o.tokenizer == nullptr) {
    auto tok = engine::ByteTokenizer::Create(o.vocab_size);
    if (!tok.ok()) return tok.status();
    o.tokenizer = *std::move(tok);
  }
  o.vocab_size = o.tokenizer->vocab_size();
  return std::unique_ptr<FakeRunner>(new FakeRunner(o));
}

FakeRunner::FakeRunner(const Options& options)
    : options_(options),
      tokenizer_(options.tokenizer),
      step_delay_(options.step_delay) {
  const int32_t n_heads =
      options.n_heads > 0 ? options.n_heads : options.n_kv_heads;
  config_.name = "fake";
  config_.dim = n_heads * options.head_dim;
  config_.hidden_dim = config_.dim;
  config_.n_layers = options.n_layers;
  config_.n_heads = n_heads;
  config_.n_kv_heads = options.n_kv_heads;
  config_.head_dim = options.head_dim;
  config_.vocab_size = options.vocab_size;
  config_.context_length = options.context_length;
  logits_.assign(static_cast<size_t>(options.max_seqs),
                 std::vector<float>(static_cast<size_t>(options.vocab_size)));
  history_.reserve(static_cast<size_t>(options.context_length));
}

int32_t FakeRunner::NextToken(absl::Span<const int32_t> history) {
  const int last = history.empty() ? -1 : ByteOf(history.back());
  if (last >= '1' && last <= '9')
    return ByteId(static_cast<unsigned char>(last - 1));
  if (last == '0') return kEos;
  if (last == '#') return ByteId(0xE2);
  if (last == 0xE2) return ByteId(0x82);
  if (last == 0x82) return ByteId(0xAC);
  if (last == 0xAC) return ByteId('!');
  return ByteId(static_cast<unsigned char>('a' + HistoryHash(history) % 26));
}

std::vector<int32_t> FakeRunner::Generate(std::vector<int32_t> prompt, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const int32_t t = NextToken(prompt);
    out.push_back(t);
    prompt.push_back(t);
    if (t == kEos) break;
  }
  return out;
}

std::vector<int32_t> FakeRunner::Ids(absl::string_view text, bool bos) {
  std::vector<int32_t> ids;
  if (bos) ids.push_back(engine::ByteTokenizer::kBosId);
  for (unsigned char c : text) ids.push_back(ByteId(c));
  return ids;
}

absl::Status FakeRunner::Validate(absl::Span<const engine::SequenceStep> seqs,
                                  const kvcache::KvArena& kv) const {
  const kvcache::KvLayout& l = kv.layout();
  if (l.dtype != kvcache::KvDtype::kF32 || l.n_layers != config_.n_layers ||
      l.n_kv_heads != config_.n_kv_heads || l.head_dim != config_.head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("FakeRunner: arena layout ", l.DebugString(),
                     " does not match the model"));
  }
  if (seqs.empty() || static_cast<int>(seqs.size()) > options_.max_seqs) {
    return absl::InvalidArgumentError(absl::StrCat("FakeRunner: ", seqs.size(),
                                                   " sequences (max ",
                                                   options_.max_seqs, ")"));
  }
  int64_t total = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const engine::SequenceStep& s = seqs[i];
    const int64_t end =
        int64_t{s.start_pos} + static_cast<int64_t>(s.tokens.size());
    total += static_cast<int64_t>(s.tokens.size());
    if (s.tokens.empty() || s.start_pos < 0 || end > config_.context_length ||
        static_cast<int64_t>(s.block_table.size()) * l.block_size < end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "FakeRunner: sequence ", i, " has ", s.tokens.size(), " tokens at ",
          s.start_pos, " with ", s.block_table.size(), " blocks"));
    }
    for (int32_t b : s.block_table) {
      if (b < 0 || b >= kv.num_blocks()) {
        return absl::InvalidArgumentError(
            absl::StrCat("FakeRunner: sequence ", i, " names block ", b));
      }
    }
    if (s.compute_logits && s.logits_last_n != 1) {
      // One row per sequence is all the engine asks for; evaluation tests
      // use a runner of their own.
      return absl::InvalidArgumentError(
          absl::StrCat("FakeRunner: sequence ", i, " asks for logits_last_n ",
                       s.logits_last_n, "; only 1 is supported"));
    }
    for (int32_t t : s.tokens) {
      if (t < 0 || t >= config_.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("FakeRunner: token ", t, " outside the vocabulary"));
      }
    }
  }
  if (total > options_.max_batch_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("FakeRunner: ", total, " tokens (max ",
                     options_.max_batch_tokens, ")"));
  }
  return absl::OkStatus();
}

absl::Status FakeRunner::Step(absl::Span<const engine::SequenceStep> seqs,
                              kvcache::KvArena& kv) {
  {
    absl::MutexLock lock(&mu_);
    ++steps_started_;
    mu_.Await(absl::Condition(
        +[](bool* paused) { return !*paused; }, &paused_));
    // Pacing: wait out the delay, or less if it is shortened meanwhile.
    const absl::Time start = absl::Now();
    struct Pace {
      const absl::Duration* delay;
      absl::Time start;
    } pace{&step_delay_, start};
    while (absl::Now() - start < step_delay_) {
      mu_.AwaitWithDeadline(
          absl::Condition(
              +[](Pace* p) { return absl::Now() - p->start >= *p->delay; },
              &pace),
          start + step_delay_);
    }
    if (!fail_next_.ok()) {
      absl::Status s = std::move(fail_next_);
      fail_next_ = absl::OkStatus();
      return s;
    }
    int32_t tokens = 0;
    for (const engine::SequenceStep& s : seqs) {
      tokens += static_cast<int32_t>(s.tokens.size());
    }
    max_seqs_seen_ =
        std::max<int32_t>(max_seqs_seen_, static_cast<int32_t>(seqs.size()));
    max_tokens_seen_ = std::max(max_tokens_seen_, tokens);
  }
  if (absl::Status s = Validate(seqs, kv); !s.ok()) return s;
  const int32_t bs = kv.layout().block_size;
  const int32_t hd = config_.head_dim;
  // Read every history back first: nothing is written if one is corrupt.
  n_logits_ = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const engine::SequenceStep& s = seqs[i];
    for (int32_t p = 0; p < s.start_pos; ++p) {
      const float* slot = kv.head<float>(s.block_table[p / bs], 0, 0, 0) +
                          static_cast<int64_t>(p % bs) * hd;
      if (slot[1] != static_cast<float>(p)) {
        return absl::InternalError(absl::StrCat("KV cache corrupted: sequence ",
                                                i, " position ", p,
                                                " holds position ", slot[1]));
      }
    }
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    const engine::SequenceStep& s = seqs[i];
    history_.clear();
    for (int32_t p = 0; p < s.start_pos; ++p) {
      const float* slot = kv.head<float>(s.block_table[p / bs], 0, 0, 0) +
                          static_cast<int64_t>(p % bs) * hd;
      history_.push_back(static_cast<int32_t>(slot[0]));
    }
    for (size_t j = 0; j < s.tokens.size(); ++j) {
      const int32_t p = s.start_pos + static_cast<int32_t>(j);
      float* slot = kv.head<float>(s.block_table[p / bs], 0, 0, 0) +
                    static_cast<int64_t>(p % bs) * hd;
      slot[0] = static_cast<float>(s.tokens[j]);
      slot[1] = static_cast<float>(p);
      history_.push_back(s.tokens[j]);
    }
    if (!s.compute_logits) continue;
    std::vector<float>& out = logits_[static_cast<size_t>(n_logits_++)];
    const uint32_t h = HistoryHash(history_);
    for (size_t v = 0; v < out.size(); ++v) {
      out[v] =
          -static_cast<float>((h + v * 2654435761u) % 1000) / 1000.0f - 1e-3f;
    }
    const int32_t next = NextToken(history_);
    if (next >= config_.vocab_size) {
      return absl::FailedPreconditionError(absl::StrCat(
          "FakeRunner: the next token ", next,
          " is outside the tokenizer's vocabulary of ", config_.vocab_size));
    }
    out[static_cast<size_t>(next)] = 10.0f;
  }
  return absl::OkStatus();
}

absl::Span<const float> FakeRunner::logits(int i) const {
  if (i < 0 || i >= n_logits_) return {};
  return logits_[static_cast<size_t>(i)];
}

void FakeRunner::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void FakeRunner::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
}

void FakeRunner::SetStepDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  step_delay_ = delay;
}

void FakeRunner::WaitForStepsStarted(int64_t n) {
  struct Arg {
    const int64_t* steps;
    int64_t n;
  } arg{&steps_started_, n};
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Arg* a) { return *a->steps >= a->n; }, &arg));
}

void FakeRunner::FailNextStep(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_next_ = std::move(status);
}

int64_t FakeRunner::steps_started() const {
  absl::MutexLock lock(&mu_);
  return steps_started_;
}

int32_t FakeRunner::max_seqs_seen() const {
  absl::MutexLock lock(&mu_);
  return max_seqs_seen_;
}

int32_t FakeRunner::max_tokens_seen() const {
  absl::MutexLock lock(&mu_);
  return max_tokens_seen_;
}

}  // namespace kvasir::testing
