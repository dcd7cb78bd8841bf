#include "msp/common/watched_file.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace msp {

WatchedFile::WatchedFile(std::string path, std::chrono::milliseconds check_interval)
    : path_(std::move(path)), check_interval_(check_interval) {}

bool WatchedFile::Due() const {
  return std::chrono::steady_clock::now().time_since_epoch().count() >=
         next_check_.load(std::memory_order_relaxed);
}

std::optional<std::string> WatchedFile::ReadIfChanged() {
  if (!Due()) return std::nullopt;
  next_check_.store((std::chrono::steady_clock::now() + check_interval_).time_since_epoch().count(),
                    std::memory_order_relaxed);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return std::nullopt;
  const std::string fingerprint =
      absl::StrCat(st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":", st.st_ino);
  if (fingerprint == fingerprint_) return std::nullopt;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream content;
  content << in.rdbuf();
  fingerprint_ = fingerprint;
  return content.str();
}

}  // namespace msp
