#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "processes.h"

namespace msp::testing {

// A PostgreSQL 15 primary and a synchronous standby managed by Patroni (Debian's patroni), its
// store one etcd member (Debian's etcd-server), all on loopback; as root the servers run as the
// postgres user. Its Patroni settings (docs/reliability.md lists them):
// synchronous_mode, loop_wait 1 s, ttl 10 s, retry_timeout 4 s, master_start_timeout 0 (a
// crashed primary's Patroni hands over at once instead of restarting it in place), pg_rewind,
// hot_standby_feedback (a long export on the standby is not cancelled by the primary's vacuum).
class PatroniCluster {
 public:
  PatroniCluster();
  ~PatroniCluster();
  PatroniCluster(const PatroniCluster&) = delete;
  PatroniCluster& operator=(const PatroniCluster&) = delete;

  // libpq's multi-host string that reaches the writable primary, wherever it is (or, with
  // "prefer-standby", a standby while one is up).
  std::string ConnInfo(const std::string& database = "postgres",
                       const std::string& target_session_attrs = "read-write") const;
  // CREATE DATABASE on the primary.
  void CreateDatabase(const std::string& name);
  // The member whose PostgreSQL is primary now, or -1.
  int Primary() const;
  // Whether `member` is a streaming synchronous standby of the primary now.
  bool IsSyncStandby(int member) const;
  int pg_port(int member) const { return members_.at(member).pg_port; }
  // kill -9 of a member's PostgreSQL (the postmaster and its backends); its Patroni lives on and
  // hands the primary over. Returns once every one of them is gone.
  void KillPostgres(int member);
  // kill -9 of a member's Patroni and its PostgreSQL together, as when its node is lost: the
  // leader key must expire (ttl) before the other member takes over. StartMember brings it back.
  void KillMember(int member);
  // Stops a member as an operator does (SIGTERM to its Patroni, which stops its PostgreSQL
  // cleanly), and starts it again (it rejoins as a standby, rewound if it must be).
  void StopMember(int member);
  void StartMember(int member);
  // Asks the primary's Patroni to hand the primary to `candidate` (POST /switchover); whether it
  // took the request.
  bool Switchover(int candidate);
  // A primary, the other member streaming as its synchronous standby, and the store saying so.
  bool Healthy() const;
  // The one-row answer of `sql` on a member's server ("" when it cannot be asked).
  std::string Query(int member, const std::string& sql) const;
  // The primary's synchronous_standby_names ("" when it waits for no standby, or no primary).
  std::string SynchronousStandbyNames() const;
  // Every process's log, for a failing test's message.
  std::string Logs() const;

 private:
  struct Member {
    int pg_port = 0;
    int rest_port = 0;
    std::string dir;
    std::unique_ptr<ChildProcess> patroni;
  };
  bool StoreNamesSyncStandby(int member) const;
  // The member's postmaster and its children.
  std::vector<pid_t> PostgresProcesses(int member) const;
  // SIGKILL to each; returns once every one is gone.
  void KillAll(int member, const std::vector<pid_t>& processes);

  TempDir dir_;
  bool as_postgres_user_ = false;
  int etcd_port_ = 0;
  std::unique_ptr<ChildProcess> etcd_;
  std::vector<Member> members_;
};

}  // namespace msp::testing
