#ifndef KVASIR_TESTS_SOAK_SOAK_LOAD_H_
#define KVASIR_TESTS_SOAK_SOAK_LOAD_H_

// The traffic of `make soak`: worker threads that each run one gRPC
// generation at a time against a real server until told to stop, a mix of
// short and long prompts and outputs, GenerateStream and unary Generate,
// client cancels at a random point and 5 ms deadlines. Every call's final
// status and latency is recorded (the client always gets a status: a call
// that never ends would hang its worker, which the soak's stop notices).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/channel.h"

namespace kvasir::soak {

struct LoadOptions {
  std::shared_ptr<grpc::Channel> channel;
  std::vector<std::string> api_keys;  // a random one per call
  int workers = 12;
  uint32_t seed = 1;
  // Fractions of calls: client cancel, 5 ms deadline, long; the rest are
  // short and run to the end. Half of the calls stream.
  double cancel_fraction = 0.10;
  double deadline_fraction = 0.05;
  double long_fraction = 0.25;
  int32_t short_max_tokens = 32;  // 1..this new tokens
  int32_t long_max_tokens = 400;  // 100..this
};

// One call's outcome.
struct CallRecord {
  std::string status;  // gRPC code name: "OK", "CANCELLED", ...
  std::string message;
  bool stream = false;
  bool is_long = false;
  double seconds = 0;  // send -> final status
};

// The calls so far, aggregated (thread-safe snapshots).
struct LoadTotals {
  int64_t calls = 0;
  int64_t streams = 0;
  std::map<std::string, int64_t> by_status;
  // Latency of calls that ended OK, per kind, seconds, unsorted.
  std::vector<double> ok_short_s;
  std::vector<double> ok_long_s;
  // First message of each status, for the report.
  std::map<std::string, std::string> example_message;
};

class Load {
 public:
  explicit Load(LoadOptions options);
  ~Load();  // Stop()s

  void Start();
  // Asks the workers to stop after their current call and joins them.
  void Stop();
  LoadTotals Totals() const;

 private:
  void Worker(int index);
  CallRecord RunOne(std::mt19937& rng);
  void Record(const CallRecord& r);

  LoadOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable absl::Mutex mu_;
  LoadTotals totals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvasir::soak

#endif  // KVASIR_TESTS_SOAK_SOAK_LOAD_H_
