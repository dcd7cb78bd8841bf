#pragma once

#include <memory>
#include <string>
#include <vector>

#include "msp/common/pg.h"
#include "msp/common/redis.h"
#include "patroni_cluster.h"
#include "redis_ha.h"
#include "stack_suite.h"

namespace msp::soak {

// The suite on highly available backends, on loopback: PostgreSQL as a Patroni pair (primary
// and synchronous standby, etcd as the store) reached through libpq's multi-host string, Redis
// as a master, a replica and three Sentinels reached through the Sentinels, an SMTP server and
// the four service binaries, the reporting service reading its table and exports from the
// standby (--database_read_url, prefer-standby). Its scenarios fail the backends over under load:
// kill -9 of the PostgreSQL primary (its server, or its whole node), kill -9 of the Redis master,
// the standby stopped, and a switchover back to the first primary. Each says how long there was no
// writable primary, as a client that writes every 50 ms saw it.
class HaSuite : public StackSuite {
 public:
  HaSuite();
  std::vector<Scenario> Scenarios() override;

 private:
  testing::Stack& stack() const override { return stack_; }
  // Waits until the pair is whole again (a primary, the other member its synchronous standby)
  // and Redis' replica is in sync: a scenario starts from a healthy cluster.
  void AwaitHealthy();
  // One small write through what the services use (the multi-host string; the Sentinels).
  bool WritePostgres();
  bool WriteRedis();
  // No fault; says whether the reporting service reads its table from the standby.
  FaultResult Baseline();
  // kill -9 of the primary's PostgreSQL, or of its whole node (Patroni too).
  FaultResult KillPostgresPrimary(bool whole_node);
  FaultResult StopStandby();
  FaultResult FailBack();
  FaultResult KillRedisMaster();

  testing::PatroniCluster patroni_;
  testing::RedisHa redis_;
  mutable testing::Stack stack_;
  std::unique_ptr<pg::Connection> probe_pg_;
  std::unique_ptr<redis::Client> probe_redis_;
};

}  // namespace msp::soak
