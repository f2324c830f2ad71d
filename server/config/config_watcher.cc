#include "server/config/config_watcher.h"

#include <sys/stat.h>

#include <utility>

namespace kvasir::server {

ConfigFileWatcher::ConfigFileWatcher(std::string path, absl::Duration interval,
                                     std::function<void()> on_change)
    : path_(std::move(path)),
      interval_(interval),
      on_change_(std::move(on_change)),
      last_(Read(path_)) {
  if (interval_ > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

ConfigFileWatcher::~ConfigFileWatcher() { Stop(); }

void ConfigFileWatcher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

ConfigFileWatcher::Signature ConfigFileWatcher::Read(const std::string& path) {
  struct stat st;
  Signature s;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL +
               st.st_mtim.tv_nsec;
  s.size = static_cast<long long>(st.st_size);
  s.inode = static_cast<unsigned long long>(st.st_ino);
  return s;
}

bool ConfigFileWatcher::CheckNow() {
  const Signature now = Read(path_);
  {
    absl::MutexLock lock(&mu_);
    if (now == last_) return false;
    last_ = now;
  }
  on_change_();
  return true;
}

void ConfigFileWatcher::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(interval_)) CheckNow();
}

}  // namespace kvasir::server
