#pragma once

#include <unistd.h>

#include <string>

namespace msp {

// This machine's host name (a pod's name in Kubernetes, a container's in Docker), or "" when it
// cannot be read.
inline std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "";
  return host;
}

}  // namespace msp
