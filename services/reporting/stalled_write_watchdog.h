#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <grpcpp/server_context.h>

namespace msp::reporting {

// A synchronous stream's Write blocks for as long as the client does not read (HTTP/2 flow
// control). This cancels the call when one Write has waited longer than `timeout`, so a stalled
// client holds the export's slot, thread and database connection for that long at most.
class StalledWriteWatchdog {
 public:
  StalledWriteWatchdog(grpc::ServerContext* context, std::chrono::milliseconds timeout);
  ~StalledWriteWatchdog();
  StalledWriteWatchdog(const StalledWriteWatchdog&) = delete;
  StalledWriteWatchdog& operator=(const StalledWriteWatchdog&) = delete;

  // Around each Write.
  void WriteStarted();
  void WriteFinished();
  // Whether it cancelled the call.
  bool fired() const { return fired_.load(); }

 private:
  void Watch();

  grpc::ServerContext* context_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::optional<std::chrono::steady_clock::time_point> writing_since_;
  bool stop_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace msp::reporting
