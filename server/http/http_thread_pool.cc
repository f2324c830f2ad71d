#include "server/http/http_thread_pool.h"

#include <utility>

namespace kvasir::server {

HttpThreadPool::~HttpThreadPool() { shutdown(); }

void HttpThreadPool::enqueue(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;  // httplib stops enqueueing before shutdown()
  tasks_.push_back(std::move(fn));
  // A new thread only when every thread is busy (the idle ones count the
  // tasks already waiting for them).
  if (idle_ < tasks_.size() && threads_.size() < max_threads_) {
    threads_.emplace_back([this] { Work(); });
  }
}

void HttpThreadPool::Work() {
  absl::MutexLock lock(&mu_);
  while (true) {
    ++idle_;
    mu_.Await(absl::Condition(
        +[](HttpThreadPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return !p->tasks_.empty() || p->shutdown_;
        },
        this));
    --idle_;
    if (tasks_.empty()) return;  // shutting down, nothing left to run
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    mu_.Unlock();
    task();
    task = nullptr;  // whatever it holds goes before the lock is retaken
    mu_.Lock();
  }
}

void HttpThreadPool::shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

size_t HttpThreadPool::threads() const {
  absl::MutexLock lock(&mu_);
  return threads_.size();
}

}  // namespace kvasir::server
