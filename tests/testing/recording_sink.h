#ifndef KVASIR_TESTS_TESTING_RECORDING_SINK_H_
#define KVASIR_TESTS_TESTING_RECORDING_SINK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/engine.h"

namespace kvasir::testing {

// A RequestSink that records everything and checks the protocol: tokens,
// then exactly one finish, nothing after it. Thread-safe.
class RecordingSink final : public engine::RequestSink {
 public:
  RecordingSink() = default;
  // OnTokens first waits for `gate` (not owned, must outlive the sink): the
  // engine thread stalls there, so a test can make sure every request it
  // submits is in flight together, however the threads are scheduled.
  explicit RecordingSink(const absl::Notification* gate) : gate_(gate) {}

  void OnTokens(absl::Span<const engine::GeneratedToken> tokens,
                absl::string_view text) override;
  void OnFinish(const engine::FinishInfo& info) override;

  // Waits (real time, up to `timeout`) for OnFinish; false on timeout.
  bool WaitForFinish(absl::Duration timeout = absl::Seconds(60));
  // Waits for at least n tokens or the finish; false on timeout.
  bool WaitForTokens(size_t n, absl::Duration timeout = absl::Seconds(60));

  bool finished() const;
  // Protocol violations seen ("OnTokens after OnFinish", "2 finishes").
  std::vector<std::string> violations() const;
  std::vector<int32_t> token_ids() const;
  std::vector<engine::GeneratedToken> tokens() const;
  std::string text() const;
  // One entry per OnTokens call.
  std::vector<std::string> deltas() const;
  engine::FinishInfo info() const;
  int calls() const;  // OnTokens + OnFinish calls

 private:
  const absl::Notification* const gate_ = nullptr;
  mutable absl::Mutex mu_;
  std::vector<engine::GeneratedToken> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> deltas_ ABSL_GUARDED_BY(mu_);
  std::string text_ ABSL_GUARDED_BY(mu_);
  engine::FinishInfo info_ ABSL_GUARDED_BY(mu_);
  int finishes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_RECORDING_SINK_H_
