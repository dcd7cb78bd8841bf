#include "patroni_cluster.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "http_get.h"
#include "nlohmann/json.hpp"

namespace msp::testing {
namespace {

// The answer of one query on one server, or "" when it cannot be asked.
std::string AskServer(int port, const std::string& sql) {
  PGconn* conn = PQconnectdb(
      absl::StrCat("host=127.0.0.1 port=", port, " user=postgres dbname=postgres connect_timeout=2")
          .c_str());
  std::string answer;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* result = PQexec(conn, sql.c_str());
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
      answer = PQgetvalue(result, 0, 0);
    }
    PQclear(result);
  }
  PQfinish(conn);
  return answer;
}

void ChownToPostgres(const std::string& path) {
  const passwd* pw = getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("user postgres missing (install postgresql-15)");
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
    if (chown(entry.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("cannot chown " + entry.path().string());
    }
  }
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("cannot chown " + path);
  }
}

// A process that exited and waits for its parent to reap it.
bool IsZombie(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  return std::getline(stat, line) && line.substr(line.rfind(')') + 2, 1) == "Z";
}

}  // namespace

PatroniCluster::PatroniCluster() : as_postgres_user_(geteuid() == 0) {
  etcd_port_ = FreePort();
  const int etcd_peer_port = FreePort();
  members_.resize(2);
  for (size_t i = 0; i < members_.size(); ++i) {
    members_[i].pg_port = FreePort();
    members_[i].rest_port = FreePort();
    members_[i].dir = absl::StrCat(dir_.path(), "/member", i);
    std::filesystem::create_directories(members_[i].dir);
  }
  std::filesystem::create_directories(dir_.path() + "/etcd");
  if (as_postgres_user_) ChownToPostgres(dir_.path());

  std::vector<std::string> etcd{"etcd",
                                "--name",
                                "dcs",
                                "--data-dir",
                                dir_.path() + "/etcd/data",
                                "--listen-client-urls",
                                absl::StrCat("http://127.0.0.1:", etcd_port_),
                                "--advertise-client-urls",
                                absl::StrCat("http://127.0.0.1:", etcd_port_),
                                "--listen-peer-urls",
                                absl::StrCat("http://127.0.0.1:", etcd_peer_port),
                                "--initial-advertise-peer-urls",
                                absl::StrCat("http://127.0.0.1:", etcd_peer_port),
                                "--initial-cluster",
                                absl::StrCat("dcs=http://127.0.0.1:", etcd_peer_port)};
  if (as_postgres_user_) etcd.insert(etcd.begin(), {"runuser", "-u", "postgres", "--"});
  etcd_ = std::make_unique<ChildProcess>(std::move(etcd), std::map<std::string, std::string>{},
                                         dir_.path() + "/etcd.log");
  if (!Within(std::chrono::seconds(20), [&] { return CanConnect(etcd_port_); })) {
    throw std::runtime_error("etcd did not start (apt-get install etcd-server): " + Logs());
  }
  // The first member bootstraps the cluster (initdb) and leads; the second copies it.
  StartMember(0);
  if (!Within(std::chrono::seconds(60), [&] { return Primary() == 0; })) {
    throw std::runtime_error("the first Patroni member did not become primary: " + Logs());
  }
  StartMember(1);
  if (!Within(std::chrono::seconds(90), [&] { return IsSyncStandby(1); })) {
    throw std::runtime_error("the second Patroni member did not become a sync standby: " + Logs());
  }
  // A failover goes only to the member the store names synchronous, as the leader's Patroni
  // last loaded it (at the start of each loop): until then a crashed primary is restarted in
  // place instead.
  if (!Within(std::chrono::seconds(30), [&] { return StoreNamesSyncStandby(1); })) {
    throw std::runtime_error("Patroni never named the second member synchronous: " + Logs());
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // loop_wait 1 s, and then some
}

PatroniCluster::~PatroniCluster() {
  // Patroni stops its PostgreSQL on SIGTERM; then the store.
  for (auto& m : members_) {
    if (m.patroni && m.patroni->Running()) m.patroni->Signal(SIGTERM);
  }
  for (auto& m : members_) {
    if (m.patroni) m.patroni->Wait(std::chrono::seconds(30));
  }
  // runuser passes SIGTERM on to the store (SIGKILL, the ChildProcess' last word, it cannot).
  if (etcd_ && etcd_->Running()) {
    etcd_->Signal(SIGTERM);
    etcd_->Wait(std::chrono::seconds(10));
  }
  // A postmaster Patroni could not stop (it was killed first) must not outlive the test. The
  // file outlives a postmaster killed with -9: its pid is killed only while it is still that
  // member's server (its working directory is the data directory), never a process that took
  // the pid over since.
  for (auto& m : members_) {
    std::ifstream pid_file(m.dir + "/data/postmaster.pid");
    pid_t pid = 0;
    if (!(pid_file >> pid) || pid <= 0) continue;
    std::error_code error;
    const auto cwd = std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/cwd"), error);
    if (!error && std::filesystem::equivalent(cwd, m.dir + "/data", error) && !error) {
      ::kill(pid, SIGKILL);
    }
  }
}

bool PatroniCluster::StoreNamesSyncStandby(int member) const {
  const int primary = Primary();
  if (primary < 0) return false;
  const nlohmann::json cluster =
      nlohmann::json::parse(HttpGet(members_[primary].rest_port, "/cluster"), nullptr, false);
  if (!cluster.is_object()) return false;
  for (const auto& m : cluster.value("members", nlohmann::json::array())) {
    if (m.value("name", "") == absl::StrCat("member", member) &&
        m.value("role", "") == "sync_standby") {
      return true;
    }
  }
  return false;
}

bool PatroniCluster::Healthy() const {
  const int primary = Primary();
  if (primary < 0) return false;
  const int standby = 1 - primary;
  return IsSyncStandby(standby) && StoreNamesSyncStandby(standby);
}

std::string PatroniCluster::Query(int member, const std::string& sql) const {
  return AskServer(members_.at(member).pg_port, sql);
}

std::string PatroniCluster::SynchronousStandbyNames() const {
  const int primary = Primary();
  if (primary < 0) return "";
  return AskServer(members_[primary].pg_port, "SHOW synchronous_standby_names");
}

void PatroniCluster::CreateDatabase(const std::string& name) {
  const int primary = Primary();
  if (primary < 0) throw std::runtime_error("no primary to create a database on");
  PGconn* conn = PQconnectdb(absl::StrCat("host=127.0.0.1 port=", members_[primary].pg_port,
                                          " user=postgres dbname=postgres connect_timeout=5")
                                 .c_str());
  PGresult* result = PQexec(conn, absl::StrCat("CREATE DATABASE \"", name, "\"").c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string error = PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  if (!ok) throw std::runtime_error("CREATE DATABASE " + name + ": " + error);
}

void PatroniCluster::StopMember(int member) {
  Member& m = members_.at(member);
  if (!m.patroni || !m.patroni->Running()) return;
  m.patroni->Signal(SIGTERM);
  if (m.patroni->Wait(std::chrono::seconds(60)) < 0) {
    throw std::runtime_error(absl::StrCat("member", member, "'s Patroni did not stop"));
  }
}

bool PatroniCluster::Switchover(int candidate) {
  const int primary = Primary();
  if (primary < 0 || primary == candidate) return false;
  std::string body;
  const int status = HttpPost(members_[primary].rest_port, "/switchover",
                              absl::StrCat(R"({"leader": "member)", primary,
                                           R"(", "candidate": "member)", candidate, R"("})"),
                              &body);
  return status == 200;
}

void PatroniCluster::StartMember(int index) {
  Member& m = members_.at(index);
  const std::string config = m.dir + "/patroni.yml";
  {
    std::ofstream out(config);
    out << "scope: msp-test\nname: member" << index << "\n"
        << "restapi:\n  listen: 127.0.0.1:" << m.rest_port
        << "\n  connect_address: 127.0.0.1:" << m.rest_port << "\n"
        << "etcd3:\n  hosts: 127.0.0.1:" << etcd_port_ << "\n"
        << "bootstrap:\n  dcs:\n    ttl: 10\n    loop_wait: 1\n    retry_timeout: 4\n"
        << "    master_start_timeout: 0\n    synchronous_mode: true\n"
        << "    postgresql:\n      use_pg_rewind: true\n      parameters:\n"
        << "        wal_log_hints: \"on\"\n        max_wal_senders: 10\n"
        << "        hot_standby_feedback: \"on\"\n"
        << "  initdb:\n    - encoding: UTF8\n    - auth-local: trust\n    - auth-host: trust\n"
        << "  pg_hba:\n    - local all all trust\n    - host all all 127.0.0.1/32 trust\n"
        << "    - host replication all 127.0.0.1/32 trust\n"
        << "postgresql:\n  listen: 127.0.0.1:" << m.pg_port
        << "\n  connect_address: 127.0.0.1:" << m.pg_port << "\n  data_dir: " << m.dir
        << "/data\n  bin_dir: " << kPgBin << "\n  pgpass: " << m.dir << "/pgpass\n"
        << "  authentication:\n    replication:\n      username: postgres\n"
        << "    superuser:\n      username: postgres\n"
        << "  parameters:\n    unix_socket_directories: " << m.dir << "\n";
  }
  if (as_postgres_user_) ChownToPostgres(m.dir);
  std::vector<std::string> argv{"patroni", config};
  if (as_postgres_user_) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  m.patroni = std::make_unique<ChildProcess>(std::move(argv), std::map<std::string, std::string>{},
                                             m.dir + "/patroni.log");
}

std::string PatroniCluster::ConnInfo(const std::string& database,
                                     const std::string& target_session_attrs) const {
  std::string hosts, ports;
  for (const auto& m : members_) {
    absl::StrAppend(&hosts, hosts.empty() ? "" : ",", "127.0.0.1");
    absl::StrAppend(&ports, ports.empty() ? "" : ",", m.pg_port);
  }
  return absl::StrCat("host=", hosts, " port=", ports, " user=postgres dbname=", database,
                      " target_session_attrs=", target_session_attrs, " connect_timeout=2");
}

int PatroniCluster::Primary() const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (AskServer(members_[i].pg_port, "SELECT pg_is_in_recovery()") == "f") {
      return static_cast<int>(i);
    }
  }
  return -1;
}

bool PatroniCluster::IsSyncStandby(int member) const {
  const int primary = Primary();
  if (primary < 0 || primary == member) return false;
  return AskServer(members_.at(primary).pg_port,
                   absl::StrCat("SELECT count(*) FROM pg_stat_replication WHERE sync_state = "
                                "'sync' AND state = 'streaming' AND application_name = 'member",
                                member, "'")) == "1";
}

namespace {

// The processes whose parent is `parent`.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: the fields after the command's closing parenthesis.
    std::istringstream fields(line.substr(line.rfind(')') + 1));
    std::string state;
    pid_t ppid = 0;
    if (fields >> state >> ppid && ppid == parent) {
      children.push_back(static_cast<pid_t>(std::stol(entry.path().filename())));
    }
  }
  return children;
}

}  // namespace

std::vector<pid_t> PatroniCluster::PostgresProcesses(int member) const {
  std::ifstream pid_file(members_.at(member).dir + "/data/postmaster.pid");
  pid_t postmaster = 0;
  if (!(pid_file >> postmaster) || postmaster <= 0) {
    throw std::runtime_error(absl::StrCat("no PostgreSQL runs for member", member));
  }
  // The whole server, as a crash takes it: a backend whose postmaster alone was killed can still
  // answer its connection for a moment (a write committed there was a write the test counted
  // before the primary was gone).
  std::vector<pid_t> server = ChildrenOf(postmaster);
  server.push_back(postmaster);
  return server;
}

void PatroniCluster::KillAll(int member, const std::vector<pid_t>& processes) {
  for (const pid_t pid : processes) ::kill(pid, SIGKILL);
  if (!Within(std::chrono::seconds(10), [&] {
        return std::all_of(processes.begin(), processes.end(),
                           [](pid_t pid) { return ::kill(pid, 0) != 0 || IsZombie(pid); });
      })) {
    throw std::runtime_error(absl::StrCat("member", member, "'s processes outlived SIGKILL"));
  }
}

void PatroniCluster::KillPostgres(int member) { KillAll(member, PostgresProcesses(member)); }

void PatroniCluster::KillMember(int member) {
  Member& m = members_.at(member);
  // Patroni (under runuser when the harness runs as root) and its PostgreSQL at once.
  std::vector<pid_t> processes = PostgresProcesses(member);
  processes.push_back(m.patroni->pid());
  for (const pid_t child : ChildrenOf(m.patroni->pid())) processes.push_back(child);
  KillAll(member, processes);
  m.patroni->Wait(std::chrono::seconds(5));
}

std::string PatroniCluster::Logs() const {
  std::string logs = etcd_ ? "etcd:\n" + etcd_->ReadLog() : "";
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].patroni)
      absl::StrAppend(&logs, "\nmember", i, ":\n", members_[i].patroni->ReadLog());
  }
  return logs.size() > 20000 ? logs.substr(logs.size() - 20000) : logs;
}

}  // namespace msp::testing
