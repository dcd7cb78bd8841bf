#include "ha_suite.h"

#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"

namespace msp::soak {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

testing::StackBackends BackendsOn(testing::PatroniCluster& patroni, const testing::RedisHa& redis) {
  patroni.CreateDatabase("msp");
  // The reporting service's table rows and exports from the standby while there is one.
  return {patroni.ConnInfo("msp"), redis.Address(), patroni.ConnInfo("msp", "prefer-standby")};
}

std::string Seconds(milliseconds ms) {
  return absl::StrCat(ms.count() / 1000, ".", ms.count() % 1000 / 100, " s");
}

// How long until `done`, asked every 50 ms, at most `limit`; throws when it never holds.
milliseconds Until(const std::string& what, seconds limit, const std::function<bool()>& done) {
  const auto took = testing::Within(limit, done);
  if (!took) throw std::runtime_error(what + " did not happen within " + Seconds(limit));
  return *took;
}

}  // namespace

HaSuite::HaSuite()
    : stack_({"customer", "service-assignment", "onboarding-invitation", "reporting"},
             {"--shutdown_delay_ms=500", "--drain_timeout_ms=10000"},
             /*durable_postgres=*/true, std::nullopt, BackendsOn(patroni_, redis_)) {
  pg::Connection(patroni_.ConnInfo(), 5000)
      .Exec("CREATE TABLE IF NOT EXISTS chaos_probe (at timestamptz NOT NULL DEFAULT now())");
}

FaultResult HaSuite::Baseline() {
  // The workload has queried the table by now: its connections are the standby's only clients.
  const int standby = 1 - patroni_.Primary();
  const std::string on_standby = patroni_.Query(
      standby,
      "SELECT count(*) FROM pg_stat_activity WHERE datname = 'msp' AND backend_type = 'client "
      "backend'");
  return {Clock::now(), absl::StrCat("table reads served by the standby: ",
                                     !on_standby.empty() && on_standby != "0" ? "yes" : "NO", " (",
                                     on_standby, " connections)")};
}

bool HaSuite::WritePostgres() {
  try {
    if (!probe_pg_) probe_pg_ = std::make_unique<pg::Connection>(patroni_.ConnInfo(), 5000);
    probe_pg_->Exec("INSERT INTO chaos_probe DEFAULT VALUES", {}, pg::Resend::kNever);
    return true;
  } catch (const std::exception&) {
    probe_pg_.reset();
    return false;
  }
}

bool HaSuite::WriteRedis() {
  try {
    if (!probe_redis_) {
      probe_redis_ = std::make_unique<redis::Client>(redis::OptionsFromAddress(redis_.Address()));
    }
    return probe_redis_->Command({"INCR", "chaos:probe"}).IsInteger();
  } catch (const std::exception&) {
    return false;
  }
}

void HaSuite::AwaitHealthy() {
  Until("PostgreSQL pair healthy", seconds(180), [&] { return patroni_.Healthy(); });
  Until("Redis replica in sync", seconds(60), [&] { return redis_.Healthy(); });
}

FaultResult HaSuite::KillPostgresPrimary(bool whole_node) {
  AwaitHealthy();
  const int old_primary = patroni_.Primary();
  WriteGapProbe probe([this] { return WritePostgres(); });
  HealthWatcher health(stack_.address("customer"));
  std::this_thread::sleep_for(milliseconds(300));
  const auto killed = Clock::now();
  if (whole_node) {
    patroni_.KillMember(old_primary);
  } else {
    patroni_.KillPostgres(old_primary);
  }
  const auto promoted = Until("promotion of the standby", seconds(60), [&] {
    const int now = patroni_.Primary();
    return now >= 0 && now != old_primary;
  });
  std::this_thread::sleep_for(milliseconds(500));  // a write or two on the new primary
  FaultResult result{killed, "", probe.Stop()};
  result.note = absl::StrCat(
      "member", 1 - old_primary, " promoted ", Seconds(promoted),
      " after the kill; customer NOT_SERVING while no primary: ", health.Stop() ? "yes" : "NO");
  // The lost node comes back and rejoins as the standby (rewound); the next scenario waits.
  if (whole_node) patroni_.StartMember(old_primary);
  return result;
}

FaultResult HaSuite::StopStandby() {
  AwaitHealthy();
  const int standby = 1 - patroni_.Primary();
  WriteGapProbe probe([this] { return WritePostgres(); });
  std::this_thread::sleep_for(milliseconds(300));
  patroni_.StopMember(standby);
  // synchronous_mode (not strict): with no standby left, Patroni stops waiting for one.
  const auto unsynchronised = testing::Within(seconds(30), [&] {
    return patroni_.Primary() >= 0 && patroni_.SynchronousStandbyNames().empty();
  });
  std::this_thread::sleep_for(seconds(3));  // writes with the standby gone
  patroni_.StartMember(standby);
  const auto rejoined =
      testing::Within(seconds(120), [&] { return patroni_.IsSyncStandby(standby); });
  FaultResult result{Clock::now(), "", probe.Stop()};
  result.note = absl::StrCat(
      "primary stopped waiting for a standby: ",
      unsynchronised ? absl::StrCat("yes, ", Seconds(*unsynchronised), " after the stop")
                     : std::string("NO"),
      "; standby synchronous again: ",
      rejoined ? absl::StrCat("yes, ", Seconds(*rejoined), " after its start") : "NO");
  return result;
}

FaultResult HaSuite::FailBack() {
  AwaitHealthy();
  if (patroni_.Primary() == 0) {
    // Run alone: fail over first (not measured), so that there is something to fail back.
    if (!patroni_.Switchover(1)) throw std::runtime_error("switchover to member1 refused");
    Until("member1 primary", seconds(60), [&] { return patroni_.Primary() == 1; });
    AwaitHealthy();
  }
  WriteGapProbe probe([this] { return WritePostgres(); });
  std::this_thread::sleep_for(milliseconds(300));
  const auto asked = Clock::now();
  const bool accepted = patroni_.Switchover(0);
  // Patroni answers the request once the switchover is done: timed from before it.
  const bool back =
      testing::Within(seconds(60), [&] { return patroni_.Primary() == 0; }).has_value();
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - asked);
  std::this_thread::sleep_for(milliseconds(500));
  FaultResult result{asked, "", probe.Stop()};
  result.note = absl::StrCat(
      "switchover to member0 accepted: ", accepted ? "yes" : "NO", "; member0 primary again: ",
      back ? absl::StrCat("yes, ", Seconds(took), " after the request") : "NO");
  return result;
}

FaultResult HaSuite::KillRedisMaster() {
  AwaitHealthy();
  const int old_master = redis_.Master();
  WriteGapProbe probe([this] { return WriteRedis(); });
  std::this_thread::sleep_for(milliseconds(300));
  const auto killed = Clock::now();
  redis_.server(old_master).Kill();
  const auto promoted = Until("a Sentinel failover", seconds(60), [&] {
    const int now = redis_.Master();
    return now >= 0 && now != old_master && redis_.SaysMaster(now);
  });
  std::this_thread::sleep_for(milliseconds(500));
  FaultResult result{killed, "", probe.Stop()};
  // The old master comes back and the Sentinels make it a replica of the new one.
  redis_.server(old_master).Start();
  result.note =
      absl::StrCat("Sentinels named the replica master ", Seconds(promoted), " after the kill");
  return result;
}

std::vector<Scenario> HaSuite::Scenarios() {
  return {
      {"baseline", "none (the reporting service's table reads on the standby)",
       [this] { return Baseline(); }},
      {"pg-kill-primary", "kill -9 the PostgreSQL primary (Patroni fails over to the standby)",
       [this] { return KillPostgresPrimary(/*whole_node=*/false); }},
      {"pg-kill-node",
       "kill -9 the PostgreSQL primary and its Patroni together (a lost node: the leader key "
       "expires)",
       [this] { return KillPostgresPrimary(/*whole_node=*/true); }},
      {"redis-kill-master", "kill -9 the Redis master (Sentinel fails over to the replica)",
       [this] { return KillRedisMaster(); }},
      {"pg-stop-standby", "stop the PostgreSQL standby for 3 s, start it again",
       [this] { return StopStandby(); }},
      {"pg-fail-back", "switch the primary back to the first member (Patroni switchover)",
       [this] { return FailBack(); }},
  };
}

}  // namespace msp::soak
