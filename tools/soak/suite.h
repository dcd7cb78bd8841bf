#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "msp/common/auth.h"

// What the fault driver needs of a running suite, wherever it runs: on loopback, started by the
// driver itself (LocalSuite), or the containers of tools/cluster (ClusterSuite).
namespace msp::soak {

using Clock = std::chrono::steady_clock;

struct FaultResult {
  Clock::time_point healed;  // when the fault was repaired (recovery is measured from here)
  std::string note;          // what the fault saw; a ": NO" in it fails the scenario
  // For a fault of PostgreSQL or Redis under failover: how long no writable primary (master)
  // was there.
  std::optional<std::chrono::milliseconds> no_primary;
};

struct Scenario {
  std::string name;
  std::string fault;
  std::function<FaultResult()> inject;  // does the fault and its repair
  // The service whose answers say the suite recovered (the one the fault hit).
  std::string probe = "customer";
};

class Suite {
 public:
  virtual ~Suite() = default;
  // A gRPC target naming every replica of `service` (the clients balance round robin).
  virtual std::string target(const std::string& service) const = 0;
  virtual const auth::TokenIssuer& issuer() const = 0;
  // Every email the suite sent so far (raw, with the SMTP envelope's X-RcptTo), oldest first.
  virtual std::vector<std::string> Emails() const = 0;
  // Service log lines that leak personal data or secrets (testing::LogLineLeaks).
  virtual std::vector<std::string> LogLeaks() const = 0;
  virtual std::vector<Scenario> Scenarios() = 0;

  std::string MspToken(const std::string& msp) const;
  std::string CustomerToken(const std::string& customer_id) const;
  std::string ServiceToken(const std::string& service) const;
};

// Polls a server's overall health every 20 ms while it lives; remembers whether it ever said
// NOT_SERVING.
class HealthWatcher {
 public:
  explicit HealthWatcher(std::string address);
  ~HealthWatcher() { Stop(); }
  // Stops watching; whether NOT_SERVING was seen.
  bool Stop();

 private:
  void Run();
  std::string address_;
  std::atomic<bool> done_{false};
  std::atomic<bool> saw_not_serving_{false};
  std::thread thread_;
};

// Calls `write` (one small write to PostgreSQL or Redis, true when it was acknowledged) every
// 50 ms on a thread of its own while it lives: the longest time between two acknowledged
// writes is how long there was no writable primary, as a client that keeps trying sees it.
class WriteGapProbe {
 public:
  explicit WriteGapProbe(std::function<bool()> write);
  ~WriteGapProbe() { Stop(); }
  // Stops writing; the longest gap.
  std::chrono::milliseconds Stop();

 private:
  void Run();
  std::function<bool()> write_;
  std::atomic<bool> done_{false};
  std::chrono::milliseconds longest_{0};
  std::thread thread_;
};

}  // namespace msp::soak
