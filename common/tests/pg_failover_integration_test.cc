// The pool against a real Patroni cluster (a primary and a synchronous standby, etcd): after a
// kill -9 of the primary's PostgreSQL the pool finds the new primary through its multi-host
// string by itself, says the database unready while there is none, and every write the primary
// acknowledged is on the new one (synchronous replication).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "msp/common/pg.h"
#include "patroni_cluster.h"

namespace msp {
namespace {

using Clock = std::chrono::steady_clock;

TEST(PgFailover, APoolFollowsAPatroniFailoverAndLosesNoAcknowledgedWrite) {
  testing::PatroniCluster cluster;
  pg::Pool pool({cluster.ConnInfo(), 2, std::chrono::milliseconds(2000),
                 /*statement_timeout_ms=*/2000});
  pool.Acquire()->Exec("CREATE TABLE acknowledged (id bigint PRIMARY KEY)");
  int64_t acknowledged = 0;
  for (; acknowledged < 50; ++acknowledged) {
    pool.Acquire()->Exec("INSERT INTO acknowledged VALUES ($1)", {std::to_string(acknowledged)});
  }
  const int old_primary = cluster.Primary();
  ASSERT_EQ(old_primary, 0);

  cluster.KillPostgres(old_primary);
  const auto killed = Clock::now();
  bool unready_seen = false;
  std::optional<Clock::duration> without_primary;
  while (Clock::now() < killed + std::chrono::seconds(60)) {
    if (!pool.Ping()) unready_seen = true;
    try {
      // A write whose connection was lost is not known to have happened: the caller retries it
      // (here: the same id, ON CONFLICT as a request id makes it).
      pool.Acquire()->Exec("INSERT INTO acknowledged VALUES ($1) ON CONFLICT (id) DO NOTHING",
                           {std::to_string(acknowledged)}, pg::Resend::kNever);
      without_primary = Clock::now() - killed;
      break;
    } catch (const pg::PgError& e) {
      EXPECT_TRUE(e.connection_lost()) << e.what();
    } catch (const pg::PoolTimeout&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(without_primary.has_value()) << cluster.Logs();
  ++acknowledged;
  std::printf("no writable primary for %lld ms after the kill\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(*without_primary).count()));
  EXPECT_TRUE(unready_seen);
  EXPECT_EQ(cluster.Primary(), 1) << cluster.Logs();
  EXPECT_TRUE(pool.Ping());
  EXPECT_EQ(pool.Acquire()->Exec("SELECT count(*) FROM acknowledged").Int64(0, 0), acknowledged);
}

}  // namespace
}  // namespace msp
