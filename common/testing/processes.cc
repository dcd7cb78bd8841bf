#include "processes.h"

#include <algorithm>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace msp::testing {
namespace {

// Whether redis-server answers PING with PONG. Accepting connections is not enough: while it
// replays its append-only file it answers every command with -LOADING.
bool RedisAnswersPong(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  constexpr char kPing[] = "PING\r\n";
  bool pong = false;
  if (send(fd, kPing, sizeof(kPing) - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(kPing) - 1)) {
    char reply[64] = {};
    const ssize_t n = recv(fd, reply, sizeof(reply) - 1, 0);
    pong = n >= 5 && std::string_view(reply, 5) == "+PONG";
  }
  close(fd);
  return pong;
}

}  // namespace

bool CanConnect(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

std::optional<std::chrono::milliseconds> Within(std::chrono::milliseconds limit,
                                                const std::function<bool()>& done) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < start + limit) {
    if (done()) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/msp-test-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  if (std::getenv("MSP_KEEP_TEST_DIRS") != nullptr) return;  // to read the servers' logs after
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// Whether a loopback port can be bound right now.
bool Bindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Reserves `port` for this process among all test processes of the machine: an exclusive
// flock on a file named after it, held until the process exits. Bindable() alone left a window
// between choosing a port and the server binding it, in which a test binary running in
// parallel could choose the same one.
bool ReserveAcrossProcesses(int port) {
  const char* base = std::getenv("TMPDIR");
  const std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/msp-test-ports");
  mkdir(dir.c_str(), 01777);
  chmod(dir.c_str(), 01777);
  const int fd = open(absl::StrCat(dir, "/", port).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return false;
  }
  return true;  // the descriptor stays open: the lock lives as long as the process
}

}  // namespace

int FreePort() {
  // Below the kernel's ephemeral range (32768-60999): a port the kernel hands out would soon
  // be taken again by some client connection of the tests running in parallel, before the
  // server this port is for binds it. Random, and never the same twice in one process.
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 random(static_cast<uint32_t>(getpid()) * 2654435761u ^
                             static_cast<uint32_t>(time(nullptr)));
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int port = 20000 + static_cast<int>(random() % 12700);
    if (given.count(port) || !Bindable(port) || !ReserveAcrossProcesses(port)) continue;
    given.insert(port);
    return port;
  }
  throw std::runtime_error("no free loopback port in 20000-32699");
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
                           std::string log_path)
    : log_path_(std::move(log_path)) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // The child must not inherit the test's blocked signals.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0, 0);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    Signal(SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || status_ >= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return false;
}

void ChildProcess::Signal(int signal_number) {
  if (pid_ > 0 && status_ < 0) kill(pid_, signal_number);
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

std::string ChildProcess::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int RunCommand(const std::vector<std::string>& argv, const std::string& log_path) {
  ChildProcess process(argv, {}, log_path);
  return process.Wait(std::chrono::seconds(120));
}

PostgresServer::PostgresServer(bool durable) : durable_(durable) {
  data_dir_ = dir_.path() + "/data";
  as_postgres_user_ = geteuid() == 0;
  if (as_postgres_user_) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("user postgres missing (install postgresql-15)");
    if (chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("cannot chown the PostgreSQL temp dir");
    }
  }
  std::vector<std::string> initdb;
  if (as_postgres_user_) initdb = {"runuser", "-u", "postgres", "--"};
  for (std::string a :
       {absl::StrCat(kPgBin, "/initdb"), std::string("-D"), data_dir_, std::string("-U"),
        std::string("postgres"), std::string("--auth=trust"), std::string("--no-sync"),
        std::string("-E"), std::string("UTF8"), std::string("--locale=C.UTF-8")}) {
    initdb.push_back(a);
  }
  if (RunCommand(initdb, dir_.path() + "/initdb.log") != 0) {
    throw std::runtime_error("initdb failed; see " + dir_.path() + "/initdb.log");
  }
  port_ = FreePort();
  Start();
}

PostgresServer::~PostgresServer() {
  if (running_) Stop(true);
}

std::string PostgresServer::PgCtl(const std::string& action, const std::string& extra) const {
  return absl::StrCat(kPgBin, "/pg_ctl ", action, " -D ", data_dir_, " ", extra);
}

void PostgresServer::Start() {
  std::vector<std::string> argv;
  if (as_postgres_user_) argv = {"runuser", "-u", "postgres", "--"};
  for (std::string a :
       {absl::StrCat(kPgBin, "/pg_ctl"), std::string("start"), std::string("-w"), std::string("-D"),
        data_dir_, std::string("-l"), dir_.path() + "/postgres.log", std::string("-o"),
        absl::StrCat(
            "-p ", port_, " -k ", dir_.path(),
            " -c listen_addresses=127.0.0.1 -c max_connections=200",
            durable_ ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")}) {
    argv.push_back(a);
  }
  if (RunCommand(argv, dir_.path() + "/pg_ctl.log") != 0) {
    throw std::runtime_error("pg_ctl start failed; see " + dir_.path());
  }
  running_ = true;
}

void PostgresServer::Stop(bool immediate) {
  std::vector<std::string> argv;
  if (as_postgres_user_) argv = {"runuser", "-u", "postgres", "--"};
  for (std::string a :
       {absl::StrCat(kPgBin, "/pg_ctl"), std::string("stop"), std::string("-w"), std::string("-D"),
        data_dir_, std::string("-m"), std::string(immediate ? "immediate" : "fast")}) {
    argv.push_back(a);
  }
  RunCommand(argv, dir_.path() + "/pg_ctl.log");
  running_ = false;
}

std::string PostgresServer::ConnInfo(const std::string& database) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=", database,
                      " connect_timeout=2");
}

void PostgresServer::CreateDatabase(const std::string& name) {
  std::vector<std::string> argv = {absl::StrCat(kPgBin, "/createdb"),
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(port_),
                                   "-U",
                                   "postgres",
                                   name};
  if (RunCommand(argv, dir_.path() + "/createdb.log") != 0) {
    // What createdb said and what the server logged last: the temporary directory is gone by
    // the time anyone looks.
    auto read = [](const std::string& path, size_t tail) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      const std::string all = text.str();
      return all.size() > tail ? all.substr(all.size() - tail) : all;
    };
    throw std::runtime_error(
        absl::StrCat("createdb ", name, " failed: ", read(dir_.path() + "/createdb.log", 2000),
                     "\n--- postgres.log (end)\n", read(dir_.path() + "/postgres.log", 3000)));
  }
}

RedisServer::RedisServer(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  port_ = FreePort();
  Start();
}

RedisServer::~RedisServer() = default;

void RedisServer::Start(bool wait_until_ready) {
  std::vector<std::string> argv{"redis-server",
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--dir",
                                dir_.path(),
                                "--appendonly",
                                "yes",
                                "--save",
                                "",
                                "--daemonize",
                                "no"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<ChildProcess>(std::move(argv), std::map<std::string, std::string>{},
                                            dir_.path() + "/redis.log");
  if (!wait_until_ready) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!RedisAnswersPong(port_)) {
    if (std::chrono::steady_clock::now() > deadline || !process_->Running()) {
      throw std::runtime_error("redis-server did not start: " + process_->ReadLog());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RedisServer::Kill() {
  process_->Signal(SIGKILL);
  process_->Wait(std::chrono::seconds(5));
}

RedisSentinel::RedisSentinel(const std::string& master_name, int master_port, int quorum,
                             std::chrono::milliseconds down_after,
                             std::chrono::milliseconds failover_timeout) {
  port_ = FreePort();
  // Sentinel rewrites its configuration file as it learns the replicas and the other Sentinels.
  const std::string config = dir_.path() + "/sentinel.conf";
  {
    std::ofstream out(config);
    out << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir_.path() << "\n"
        << "sentinel monitor " << master_name << " 127.0.0.1 " << master_port << " " << quorum
        << "\nsentinel down-after-milliseconds " << master_name << " " << down_after.count()
        << "\nsentinel failover-timeout " << master_name << " " << failover_timeout.count()
        << "\nsentinel parallel-syncs " << master_name << " 1\n";
  }
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"redis-sentinel", config, "--daemonize", "no"},
      std::map<std::string, std::string>{}, dir_.path() + "/sentinel.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!RedisAnswersPong(port_)) {
    if (std::chrono::steady_clock::now() > deadline || !process_->Running()) {
      throw std::runtime_error("redis sentinel did not start: " + process_->ReadLog());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

RedisSentinel::~RedisSentinel() = default;

SmtpSink::SmtpSink() {
  port_ = FreePort();
  Start();
}

SmtpSink::~SmtpSink() = default;

void SmtpSink::Start() {
  // Debian's python3 (not a pyenv one on PATH) has the python3-aiosmtpd package.
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
                               absl::StrCat("127.0.0.1:", port_), "-c", "aiosmtpd.handlers.Mailbox",
                               dir_.path() + "/maildir"},
      std::map<std::string, std::string>{}, dir_.path() + "/smtp.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!CanConnect(port_)) {
    if (std::chrono::steady_clock::now() > deadline || !process_->Running()) {
      throw std::runtime_error("aiosmtpd did not start (apt-get install python3-aiosmtpd): " +
                               process_->ReadLog());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void SmtpSink::Kill() {
  process_->Signal(SIGKILL);
  process_->Wait(std::chrono::seconds(5));
}

std::vector<std::string> SmtpSink::Messages() const {
  return ReadMaildir(dir_.path() + "/maildir");
}

std::vector<std::string> ReadMaildir(const std::string& directory) {
  std::vector<std::pair<std::filesystem::file_time_type, std::string>> files;
  const auto dir = std::filesystem::path(directory) / "new";
  if (!std::filesystem::exists(dir)) return {};
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    files.emplace_back(entry.last_write_time(), text.str());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (auto& f : files) out.push_back(std::move(f.second));
  return out;
}

std::vector<std::string> SmtpSink::WaitForMessages(size_t count,
                                                   std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto messages = Messages();
  while (messages.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    messages = Messages();
  }
  return messages;
}

std::string DecodeQuotedPrintable(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 < text.size() && (text[i + 1] == '\r' || text[i + 1] == '\n')) {
      i += (text[i + 1] == '\r' && i + 2 < text.size() && text[i + 2] == '\n') ? 2 : 1;
      continue;
    }
    if (i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back('=');  // not an escape (e.g. a header's encoded word)
    }
  }
  return out;
}

std::string EmailBody(const std::string& raw) {
  auto split = raw.find("\r\n\r\n");
  size_t skip = 4;
  if (split == std::string::npos) {
    split = raw.find("\n\n");
    skip = 2;
  }
  if (split == std::string::npos) return "";
  const std::string headers = raw.substr(0, split);
  const std::string body = raw.substr(split + skip);
  return headers.find("Content-Transfer-Encoding: quoted-printable") != std::string::npos
             ? DecodeQuotedPrintable(body)
             : body;
}

std::string BinaryPath(const std::string& relative) {
  return absl::StrCat(MSP_BUILD_DIR, "/", relative);
}

std::string DockerClient() {
  return access("/usr/bin/docker", X_OK) == 0 ? "/usr/bin/docker" : "docker";
}

bool WaitForServing(const std::string& address, std::chrono::milliseconds timeout,
                    const std::string& service) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    // A fresh channel per attempt: a channel that found the port closed backs off for seconds
    // before it tries again, while the server is expected within milliseconds.
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    auto stub = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    if (stub->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace msp::testing

namespace msp::testing {

PostgresServer& SharedPostgres() {
  static PostgresServer server;
  return server;
}

RedisServer& SharedRedis() {
  static RedisServer server;
  return server;
}

std::string NewDatabase(const std::string& prefix) {
  static int counter = 0;
  const std::string name = absl::StrCat(prefix, "_", getpid(), "_", ++counter);
  SharedPostgres().CreateDatabase(name);
  return SharedPostgres().ConnInfo(name);
}

}  // namespace msp::testing
