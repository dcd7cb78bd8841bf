#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "processes.h"

namespace msp::testing {

namespace {

// Closes with RST instead of FIN: the peer sees "connection reset".
void ResetAndClose(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

}  // namespace

struct FaultProxy::Link {
  int client = -1;
  int server = -1;
  std::atomic<bool> closed{false};
  std::thread pump;  // joined when the link is dropped
};

FaultProxy::FaultProxy(int target_port) : target_port_(target_port) {
  port_ = FreePort();
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 128) != 0) {
    close(listen_fd_);
    throw std::runtime_error("fault proxy: cannot listen");
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& link : links_) {
      if (link->closed) continue;
      shutdown(link->client, SHUT_RDWR);
      shutdown(link->server, SHUT_RDWR);
    }
  }
  // Only the pumps touch the links now, and they do not add or drop any.
  for (auto& link : links_) link->pump.join();
}

const char* FaultProxy::ModeName(Mode mode) {
  switch (mode) {
    case Mode::kPass:
      return "pass";
    case Mode::kLatency:
      return "latency";
    case Mode::kBlackhole:
      return "blackhole";
    case Mode::kReset:
      return "reset";
  }
  return "?";
}

void FaultProxy::SetMode(Mode mode, std::chrono::milliseconds latency) {
  latency_ms_ = latency.count();
  mode_ = mode;
  if (mode != Mode::kReset) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& link : links_) {
    if (link->closed) continue;  // its descriptors may belong to someone else by now
    // The pump sees the sockets fail and closes them; RST goes out first.
    linger l{1, 0};
    setsockopt(link->client, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    setsockopt(link->server, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    shutdown(link->client, SHUT_RDWR);
    shutdown(link->server, SHUT_RDWR);
  }
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    if (mode_ == Mode::kReset) {
      ResetAndClose(client);
      continue;
    }
    const int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const int server = ConnectLoopback(target_port_);
    if (server < 0) {
      ResetAndClose(client);
      continue;
    }
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto link = std::make_shared<Link>();
    link->client = client;
    link->server = server;
    std::lock_guard<std::mutex> lock(mu_);
    // Finished links (and their threads) are dropped here, so a long run does not keep them all.
    // A link is marked closed under mu_ as its pump's last step, so the join is immediate.
    std::erase_if(links_, [](const auto& l) {
      if (!l->closed.load()) return false;
      l->pump.join();
      return true;
    });
    links_.push_back(link);
    link->pump = std::thread([this, link] { Pump(link); });
  }
}

void FaultProxy::Pump(std::shared_ptr<Link> link) {
  char buffer[64 * 1024];
  pollfd fds[2] = {{link->client, POLLIN, 0}, {link->server, POLLIN, 0}};
  bool open = true;
  while (open && !stopping_) {
    if (mode_ == Mode::kBlackhole) {
      // Nothing is read, so nothing moves: the bytes wait in the kernel's buffers (and then
      // in the sender's, as TCP does while packets are dropped) and flow again, intact, when
      // the path heals, unless someone's deadline ends the connection first.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (poll(fds, 2, 100) < 0) break;
    if (mode_ == Mode::kReset) break;
    for (int i = 0; i < 2 && open; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        open = false;
        break;
      }
      const Mode mode = mode_.load();
      if (mode == Mode::kLatency) {
        std::this_thread::sleep_for(std::chrono::milliseconds(latency_ms_.load()));
      }
      const int to = fds[1 - i].fd;
      for (ssize_t sent = 0; sent < n;) {
        // MSG_NOSIGNAL: a peer that reset its end must close this link, not kill the test
        // process through SIGPIPE (the test binaries do not ignore it).
        const ssize_t w = send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (w <= 0) {
          open = false;
          break;
        }
        sent += w;
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (mode_ == Mode::kReset) {
    ResetAndClose(link->client);
    ResetAndClose(link->server);
  } else {
    close(link->client);
    close(link->server);
  }
  link->closed = true;
}

}  // namespace msp::testing
