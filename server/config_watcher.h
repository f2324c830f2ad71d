#ifndef KVASIR_SERVER_CONFIG_WATCHER_H_
#define KVASIR_SERVER_CONFIG_WATCHER_H_

// Notices when the config file changes: polls its (mtime, size, inode)
// every `interval` (a rename-over by an editor or a ConfigMap update counts
// too) from a thread of its own.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace kvasir::server {

class ConfigFileWatcher {
 public:
  // `on_change` runs on the watcher's thread after every change seen
  // (including the file disappearing or coming back); it should hand the
  // work off (ConfigReloader::ReloadAsync), not do it.
  ConfigFileWatcher(std::string path, absl::Duration interval,
                    std::function<void()> on_change);
  ~ConfigFileWatcher();  // Stop()

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
  Signature last_;  // read before the thread starts; then the thread's
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_CONFIG_WATCHER_H_
