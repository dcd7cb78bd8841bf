#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace msp {

// A file that may be replaced while the process runs (a Kubernetes Secret mounted as a volume
// is swapped in one step): looked at no more than once per interval. Not thread-safe.
class WatchedFile {
 public:
  explicit WatchedFile(std::string path,
                       std::chrono::milliseconds check_interval = std::chrono::seconds(1));
  // The content when the file changed since the content last returned (the first call returns
  // it); nullopt when unchanged, not yet due for a look, or unreadable.
  std::optional<std::string> ReadIfChanged();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::chrono::milliseconds check_interval_;
  std::string fingerprint_;  // size, modification time and inode of the content returned
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace msp
