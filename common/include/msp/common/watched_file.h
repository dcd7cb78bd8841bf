#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

namespace msp {

// A file that may be replaced while the process runs (a Kubernetes Secret mounted as a volume
// is swapped in one step): looked at no more than once per interval.
class WatchedFile {
 public:
  explicit WatchedFile(std::string path,
                       std::chrono::milliseconds check_interval = std::chrono::seconds(1));
  // Whether a look is due. Lock-free and thread-safe: hot paths ask it before taking the lock
  // that ReadIfChanged needs.
  bool Due() const;
  // The content when the file changed since the content last returned (the first call returns
  // it); nullopt when unchanged, not yet due for a look, or unreadable. One caller at a time.
  std::optional<std::string> ReadIfChanged();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::chrono::steady_clock::duration check_interval_;
  std::string fingerprint_;  // size, modification time and inode of the content returned
  std::atomic<std::chrono::steady_clock::rep> next_check_{0};  // steady clock ticks
};

}  // namespace msp
