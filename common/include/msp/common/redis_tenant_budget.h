#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <prometheus/gauge.h>

#include "msp/common/periodic.h"
#include "msp/common/redis.h"
#include "msp/common/tenant_limiter.h"

namespace msp {

// Tenants' rate budgets in Redis, shared by the replicas of one service:
// - a tenant's bucket is a hash `msp:limits:<service>:rate:<tenant>` (tokens, when last
//   refilled, on Redis' clock), taken from by a script, so replicas never race;
// - each replica beats in the sorted set `msp:limits:<service>:replicas` every `heartbeat`;
//   the replicas alive are those that beat within three heartbeats. A replica that stops
//   leaves it at once; one that dies drops out after three heartbeats.
// Commands wait at most 100 ms: a slow or unreachable Redis turns into nullopt quickly.
// A replica's name among the others: its host name and the port it listens on ("host:port"),
// which a replica restarted in place keeps (a container restarted in its pod), so that it is not
// counted twice while its earlier heartbeat ages out; empty when the port is not fixed.
std::string ReplicaIdOf(const std::string& listen_address);

class RedisTenantBudget : public SharedTenantBudget {
 public:
  // `replicas_gauge` (optional) shows the count of replicas after each heartbeat. `replica_id`
  // names this replica among the others (ReplicaIdOf); empty: a random one.
  RedisTenantBudget(const redis::Options& options, std::string service,
                    std::chrono::milliseconds heartbeat = std::chrono::seconds(2),
                    prometheus::Gauge* replicas_gauge = nullptr, std::string replica_id = {});
  ~RedisTenantBudget() override;
  RedisTenantBudget(const RedisTenantBudget&) = delete;
  RedisTenantBudget& operator=(const RedisTenantBudget&) = delete;

  std::optional<Grant> Take(const std::string& tenant, double rate, double burst, int want,
                            double reserve) override;
  int Replicas() const override { return replicas_.load(std::memory_order_relaxed); }
  const std::string& replica_id() const { return replica_id_; }

 private:
  void Beat();

  const std::string prefix_;  // msp:limits:<service>:
  const std::string replica_id_;
  const std::chrono::milliseconds heartbeat_;
  redis::Client budgets_;     // Take's
  redis::Client heartbeats_;  // the heartbeat thread's
  prometheus::Gauge* replicas_gauge_;
  std::atomic<int> replicas_{1};
  bool beat_failing_ = false;  // Beat's own (the constructor's call, then the thread's)
  std::unique_ptr<PeriodicTask> beating_;
};

}  // namespace msp
