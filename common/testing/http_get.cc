#include "http_get.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "processes.h"

namespace msp::testing {

namespace {

// The whole response to a request, headers included.
std::string Exchange(int port, const std::string& request) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
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

std::string Get(int port, const std::string& path) {
  return Exchange(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
}

}  // namespace

std::string ScrapeMetrics(int port) { return Get(port, "/metrics"); }

std::string HttpGet(int port, const std::string& path) {
  const std::string response = Get(port, path);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

int HttpPost(int port, const std::string& path, const std::string& json, std::string* body) {
  const std::string response =
      Exchange(port, "POST " + path +
                         " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         "Content-Length: " +
                         std::to_string(json.size()) + "\r\n\r\n" + json);
  // HTTP/1.x 200 OK
  if (response.size() < 12 || response.rfind("HTTP/", 0) != 0) return -1;
  const auto header_end = response.find("\r\n\r\n");
  if (body != nullptr)
    *body = header_end == std::string::npos ? "" : response.substr(header_end + 4);
  return std::atoi(response.substr(response.find(' ') + 1, 3).c_str());
}

}  // namespace msp::testing
