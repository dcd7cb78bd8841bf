#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// A TCP proxy on loopback that can be told to misbehave, for fault tests: put it between a
// service and its database, or between two services, and switch it between passing traffic,
// adding latency, holding everything (a blackhole: like a path that drops every packet, nothing
// arrives and nothing is lost; only the callers' own deadlines and keepalives notice) and
// resetting every connection.
namespace msp::testing {

class FaultProxy {
 public:
  enum class Mode { kPass, kLatency, kBlackhole, kReset };

  // Listens on a free loopback port and forwards to 127.0.0.1:target_port.
  explicit FaultProxy(int target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  // Applies to new and open connections alike. kReset closes every open connection with a
  // TCP RST and resets new ones as they come.
  void SetMode(Mode mode, std::chrono::milliseconds latency = std::chrono::milliseconds(0));
  Mode mode() const { return mode_.load(); }
  static const char* ModeName(Mode mode);

 private:
  struct Link;
  void AcceptLoop();
  void Pump(std::shared_ptr<Link> link);

  int target_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<Mode> mode_{Mode::kPass};
  std::atomic<int64_t> latency_ms_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Link>> links_;
};

}  // namespace msp::testing
