#ifndef KVASIR_SERVER_HTTP_HTTP_THREAD_POOL_H_
#define KVASIR_SERVER_HTTP_HTTP_THREAD_POOL_H_

// The connection threads of the HTTP API. cpp-httplib 0.11 runs each
// connection (all its keep-alive requests) as one task of its TaskQueue,
// and a streaming response keeps its task, and so its thread, until the
// stream ends. Its own ThreadPool starts a fixed number of threads up
// front (8 by default: the ninth concurrent stream would wait). This pool
// starts threads as connections need them, keeps idle ones for reuse, and
// stops growing at `max_threads` (server.http_max_connections); tasks
// beyond wait in FIFO order for a thread to come free.
//
// Thread-safe. shutdown() runs the queued tasks, then joins every thread.

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"

namespace kvasir::server {

class HttpThreadPool final : public httplib::TaskQueue {
 public:
  explicit HttpThreadPool(size_t max_threads) : max_threads_(max_threads) {}
  ~HttpThreadPool() override;  // shutdown() if not done

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // Threads started so far (never more than max_threads).
  size_t threads() const;

 private:
  void Work();

  const size_t max_threads_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_HTTP_THREAD_POOL_H_
