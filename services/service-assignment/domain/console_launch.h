#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/knox_services.h"
#include "msp/customer/v1/customer.pb.h"

namespace msp::assignment {

// Whether the MSP may open a service's console for this customer: only while it manages the
// customer (ACTIVE, or DELINK_REQUESTED until the customer accepts) and the service is ACTIVE.
// Throws FAILED_PRECONDITION CUSTOMER_NOT_MANAGED or SERVICE_NOT_ACTIVE.
void CheckConsoleOpens(customer::v1::State customer_state, v1::AssignedService::State service_state,
                       const std::string& name);

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
