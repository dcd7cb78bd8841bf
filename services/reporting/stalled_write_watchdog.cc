#include "stalled_write_watchdog.h"

namespace msp::reporting {

StalledWriteWatchdog::StalledWriteWatchdog(grpc::ServerContext* context,
                                           std::chrono::milliseconds timeout)
    : context_(context), timeout_(timeout), thread_([this] { Watch(); }) {}

StalledWriteWatchdog::~StalledWriteWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void StalledWriteWatchdog::WriteStarted() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_since_ = std::chrono::steady_clock::now();
  }
  changed_.notify_all();
}

void StalledWriteWatchdog::WriteFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  writing_since_.reset();
}

void StalledWriteWatchdog::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!writing_since_) {
      changed_.wait(lock, [&] { return stop_ || writing_since_.has_value(); });
      continue;
    }
    const auto deadline = *writing_since_ + timeout_;
    if (std::chrono::steady_clock::now() >= deadline) {
      fired_ = true;
      context_->TryCancel();  // the blocked Write returns false
      return;
    }
    changed_.wait_until(lock, deadline);
  }
}

}  // namespace msp::reporting
