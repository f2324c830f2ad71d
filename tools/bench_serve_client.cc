#include "tools/bench_serve_client.h"

namespace kvasir::tools {

namespace {
double Seconds(BenchClock::duration d) {
  return std::chrono::duration<double>(d).count();
}
}  // namespace

void TokenTimer::Arrived(BenchClock::time_point now, int64_t tokens) {
  if (tokens <= 0) return;
  if (seen_ == 0) {
    result_->ttft_s = Seconds(now - result_->sent);
  } else {
    result_->itl_s.push_back(Seconds(now - last_));
  }
  // The rest of the tokens that came with the first one of this arrival.
  for (int64_t i = 1; i < tokens; ++i) result_->itl_s.push_back(0.0);
  last_ = now;
  seen_ += tokens;
  ++result_->chunks;
  if (live_tokens_ != nullptr) {
    live_tokens_->fetch_add(tokens, std::memory_order_relaxed);
  }
}

void TokenTimer::Settle(int64_t total) {
  for (; seen_ < total; ++seen_) {
    result_->itl_s.push_back(0.0);
    if (live_tokens_ != nullptr) {
      live_tokens_->fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void TokenTimer::Ended(BenchClock::time_point now) {
  result_->e2e_s = Seconds(now - result_->sent);
}

}  // namespace kvasir::tools
