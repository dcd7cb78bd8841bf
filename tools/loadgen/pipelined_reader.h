#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

namespace msp::bench {

// Point reads of pgbench_accounts without parking the caller: each of a few threads owns one
// connection in libpq pipeline mode and sends every query queued since its last round trip
// together, then answers each caller's callback. A benchmark prototype for the design the
// services may move to (docs/benchmarks.md), not production code.
class PipelinedReader {
 public:
  using Callback = std::function<void(bool ok, int64_t balance)>;
  PipelinedReader(const std::string& conninfo, int threads);
  ~PipelinedReader();
  void Read(int32_t aid, Callback done);

 private:
  struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<int32_t, Callback>> queue;
    PGconn* conn = nullptr;
    std::thread thread;
  };
  void Run(Worker& worker);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace msp::bench
