#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "msp/common/knox_services.h"

namespace msp::assignment {

// Where "Return to MSP Portal" may lead: exact origins ("https://portal.example.com",
// "http://localhost:8080"). Anything else is refused, so a launch link can never be turned into
// an open redirect.
class ReturnUriPolicy {
 public:
  explicit ReturnUriPolicy(const std::vector<std::string>& allowed_origins);
  // Throws INVALID_ARGUMENT (field return_uri) when the URI is malformed or its origin is not
  // allowed (reason RETURN_URI_NOT_ALLOWED).
  void Check(std::string_view uri) const;
  // "scheme://host[:port]" in lower case, or "" when `uri` is not an absolute http(s) URI
  // without user info, whitespace or backslashes.
  static std::string OriginOf(std::string_view uri);

 private:
  std::vector<std::string> origins_;
};

// The console of each Knox service. `overrides` ("knox-manage" -> URL) replace the defaults.
class ConsoleDirectory {
 public:
  explicit ConsoleDirectory(std::map<std::string, std::string> overrides = {});
  std::string ConsoleUri(knox::KnoxService service) const;
  // The URI to open: the launch token travels in the fragment, which browsers never send to
  // servers or in Referer headers.
  static std::string LaunchUri(const std::string& console_uri, const std::string& token);

 private:
  std::map<std::string, std::string> overrides_;
};

}  // namespace msp::assignment
