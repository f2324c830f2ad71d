#ifndef KVASIR_SERVER_CONFIG_CONFIG_WATCHER_H_
#define KVASIR_SERVER_CONFIG_CONFIG_WATCHER_H_

// Notices when the config file changes: polls its (mtime, size, inode)
// every `interval` (a rename-over by an editor or a ConfigMap update counts
// too) from a thread of its own, or when asked (CheckNow).

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace kvasir::server {

class ConfigFileWatcher {
 public:
  // `on_change` runs on the checking thread after every change seen
  // (including the file disappearing or coming back); it should hand the
  // work off (ConfigReloader::ReloadAsync), not do it. The file's state now
  // is the baseline. An `interval` <= 0 starts no thread: only CheckNow
  // looks then.
  ConfigFileWatcher(std::string path, absl::Duration interval,
                    std::function<void()> on_change);
  ~ConfigFileWatcher();  // Stop()

  // Looks at the file once, on the calling thread (what the watcher's
  // thread does every interval): true, after calling on_change, when it
  // changed since the last look. Thread-safe.
  bool CheckNow();

  // Stops the thread; CheckNow still works. Idempotent.
  void Stop();

 private:
  struct Signature {
    bool exists = false;
    long long mtime_ns = 0;
    long long size = 0;
    unsigned long long inode = 0;
    bool operator==(const Signature&) const = default;
  };
  static Signature Read(const std::string& path);
  void Loop();

  const std::string path_;
  const absl::Duration interval_;
  const std::function<void()> on_change_;
  absl::Mutex mu_;
  Signature last_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_CONFIG_WATCHER_H_
