#include "tests/testing/recording_sink.h"

#include "absl/strings/str_cat.h"

namespace kvasir::testing {

void RecordingSink::OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                             absl::string_view text) {
  if (gate_ != nullptr) gate_->WaitForNotification();
  absl::MutexLock lock(&mu_);
  if (finishes_ > 0) violations_.push_back("OnTokens after OnFinish");
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  deltas_.emplace_back(text);
  text_.append(text.data(), text.size());
}

void RecordingSink::OnFinish(const engine::FinishInfo& info) {
  absl::MutexLock lock(&mu_);
  if (++finishes_ > 1) {
    violations_.push_back(absl::StrCat(finishes_, " finishes"));
  }
  info_ = info;
}

bool RecordingSink::WaitForFinish(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](int* n) { return *n > 0; }, &finishes_),
                              timeout);
}

bool RecordingSink::WaitForTokens(size_t n, absl::Duration timeout) {
  struct Arg {
    RecordingSink* self;
    size_t n;
  } arg{this, n};
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Arg* a) {
                                    return a->self->tokens_.size() >= a->n ||
                                           a->self->finishes_ > 0;
                                  },
                                  &arg),
                              timeout);
}

bool RecordingSink::finished() const {
  absl::MutexLock lock(&mu_);
  return finishes_ > 0;
}

std::vector<std::string> RecordingSink::violations() const {
  absl::MutexLock lock(&mu_);
  return violations_;
}

std::vector<int32_t> RecordingSink::token_ids() const {
  absl::MutexLock lock(&mu_);
  std::vector<int32_t> ids;
  for (const engine::GeneratedToken& t : tokens_) ids.push_back(t.token);
  return ids;
}

std::vector<engine::GeneratedToken> RecordingSink::tokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

std::string RecordingSink::text() const {
  absl::MutexLock lock(&mu_);
  return text_;
}

std::vector<std::string> RecordingSink::deltas() const {
  absl::MutexLock lock(&mu_);
  return deltas_;
}

engine::FinishInfo RecordingSink::info() const {
  absl::MutexLock lock(&mu_);
  return info_;
}

int RecordingSink::calls() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(deltas_.size()) + finishes_;
}

}  // namespace kvasir::testing
