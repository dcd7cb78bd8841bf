#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Real processes for integration and end-to-end tests: a throwaway PostgreSQL and
// redis-server in a temp dir on free loopback ports, and the service binaries themselves.
namespace msp::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction (kept when
// MSP_KEEP_TEST_DIRS is set, to read the servers' logs afterwards).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loopback TCP port nobody listens on right now.
int FreePort();

// A socket connected to 127.0.0.1:port, or -1.
int ConnectLoopback(int port);
// Whether something accepts connections on 127.0.0.1:port.
bool CanConnect(int port);

// Until `done` holds, at most `limit`, asking every 50 ms: how long it took, or nullopt.
std::optional<std::chrono::milliseconds> Within(std::chrono::milliseconds limit,
                                                const std::function<bool()>& done);

// Where Debian's PostgreSQL 15 server binaries are.
inline constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

// A child process with its output in a log file. Killed (SIGKILL) on destruction if running.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
               std::string log_path);
  ~ChildProcess();
  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int signal_number);
  // Waits for exit; returns the exit status (128+signal when killed), or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_path_;
};

// Runs a command to completion; returns its exit status. Output goes to `log_path`.
int RunCommand(const std::vector<std::string>& argv, const std::string& log_path);

// A throwaway PostgreSQL 15 cluster. Works as root by running the server as the `postgres`
// user. Fast by default (fsync and synchronous_commit off: a crash of the server may lose the
// last commits); `durable` keeps PostgreSQL's defaults, for fault tests that crash it.
class PostgresServer {
 public:
  explicit PostgresServer(bool durable = false);
  ~PostgresServer();
  int port() const { return port_; }
  // libpq connection string for `database` (created on demand by CreateDatabase).
  std::string ConnInfo(const std::string& database = "postgres") const;
  void CreateDatabase(const std::string& name);
  void Stop(bool immediate = false);
  void Start();

 private:
  std::string PgCtl(const std::string& action, const std::string& extra = "") const;
  TempDir dir_;
  std::string data_dir_;
  int port_ = 0;
  bool durable_ = false;
  bool as_postgres_user_ = false;
  bool running_ = false;
};

class RedisServer {
 public:
  // `extra_args` go to redis-server as they are (e.g. {"--key-load-delay", "3000"}).
  explicit RedisServer(std::vector<std::string> extra_args = {});
  ~RedisServer();
  int port() const { return port_; }
  void Kill();
  // SIGSTOP / SIGCONT: a server that holds its connections and answers nothing.
  void Signal(int signal_number) { process_->Signal(signal_number); }
  // Starts the server and, by default, returns once it answers PING with PONG (its
  // append-only file loaded), not merely once it accepts connections.
  void Start(bool wait_until_ready = true);

 private:
  TempDir dir_;
  std::vector<std::string> extra_args_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// A real Redis Sentinel (Debian's redis-sentinel) on loopback watching the master `master_name`
// at 127.0.0.1:`master_port`, with a quorum of `quorum`; it holds a master down after
// `down_after` without an answer and may fail over again after `failover_timeout`.
class RedisSentinel {
 public:
  RedisSentinel(const std::string& master_name, int master_port, int quorum,
                std::chrono::milliseconds down_after, std::chrono::milliseconds failover_timeout);
  ~RedisSentinel();
  int port() const { return port_; }
  std::string log() const { return process_->ReadLog(); }

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// A real SMTP server (python3-aiosmtpd) on loopback that keeps what it receives in a maildir.
class SmtpSink {
 public:
  SmtpSink();
  ~SmtpSink();
  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  // Raw messages received so far (with aiosmtpd's X-MailFrom / X-RcptTo envelope headers),
  // oldest first.
  std::vector<std::string> Messages() const;
  // Waits until at least `count` messages arrived; returns them all.
  std::vector<std::string> WaitForMessages(size_t count, std::chrono::milliseconds timeout) const;
  void Kill();
  void Start();

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// The messages in a maildir's new/ (`directory` is the maildir), oldest first.
std::vector<std::string> ReadMaildir(const std::string& directory);

// The decoded text of a quoted-printable body (soft line breaks joined, =XX decoded).
std::string DecodeQuotedPrintable(const std::string& text);
// The body of a raw message, decoded as its Content-Transfer-Encoding says.
std::string EmailBody(const std::string& raw);

// The build tree's binary for a service target, from the MSP_BUILD_DIR the test was built with.
std::string BinaryPath(const std::string& relative);

// The Docker client that speaks to Debian's engine (docker.io's /usr/bin/docker; a newer client
// elsewhere on PATH may not), or "docker".
std::string DockerClient();

// Waits until grpc.health.v1.Health/Check answers SERVING for `service` on `address`.
bool WaitForServing(const std::string& address, std::chrono::milliseconds timeout,
                    const std::string& service = "");

// The HS256 secret, issuer and audience the test servers are started with.
inline constexpr char kTestJwtSecret[] = "test-secret-0123456789abcdef0123456789abcdef";
inline constexpr char kTestIssuer[] = "msp-test";
inline constexpr char kTestAudience[] = "msp-customers";

}  // namespace msp::testing

namespace msp::testing {
// One PostgreSQL (and one redis-server) per test binary, started on first use and stopped at
// exit: servers start once per suite, not once per test.
PostgresServer& SharedPostgres();
RedisServer& SharedRedis();
// A fresh database on the shared server for one test suite.
std::string NewDatabase(const std::string& prefix);
}  // namespace msp::testing
