#include "http_get.h"

#include <sys/socket.h>
#include <unistd.h>

#include "processes.h"

namespace msp::testing {

namespace {

// The whole response, headers included.
std::string Get(int port, const std::string& path) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[8192];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

}  // namespace

std::string ScrapeMetrics(int port) { return Get(port, "/metrics"); }

std::string HttpGet(int port, const std::string& path) {
  const std::string response = Get(port, path);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

}  // namespace msp::testing
