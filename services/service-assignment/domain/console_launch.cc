#include "console_launch.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/strings.h"

namespace msp::assignment {

void CheckConsoleOpens(customer::v1::State customer_state, v1::AssignedService::State service_state,
                       const std::string& name) {
  if (customer_state != customer::v1::ACTIVE && customer_state != customer::v1::DELINK_REQUESTED) {
    throw ApiError::FailedPrecondition(
        "CUSTOMER_NOT_MANAGED",
        absl::StrCat("the customer is ", customer::v1::State_Name(customer_state),
                     ": consoles open only for a customer the MSP manages"),
        name);
  }
  if (service_state != v1::AssignedService::ACTIVE) {
    throw ApiError::FailedPrecondition(
        "SERVICE_NOT_ACTIVE",
        absl::StrCat("the service is ", v1::AssignedService::State_Name(service_state),
                     ": only an active service's console opens"),
        name);
  }
}

ReturnUriPolicy::ReturnUriPolicy(const std::vector<std::string>& allowed_origins) {
  for (const auto& origin : allowed_origins) {
    std::string normalized = OriginOf(origin);
    if (normalized.empty()) {
      throw std::runtime_error("not an http(s) origin in the return URI allow-list: " + origin);
    }
    origins_.push_back(std::move(normalized));
  }
}

std::string ReturnUriPolicy::OriginOf(std::string_view uri) {
  for (char c : uri) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '\\' || c == 0x7f) return "";
  }
  std::string_view scheme;
  if (absl::StartsWithIgnoreCase(AbslView(uri), "https://")) {
    scheme = "https";
  } else if (absl::StartsWithIgnoreCase(AbslView(uri), "http://")) {
    scheme = "http";
  } else {
    return "";
  }
  std::string_view rest = uri.substr(scheme.size() + 3);
  const auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return "";
  return absl::AsciiStrToLower(absl::StrCat(AbslView(scheme), "://", AbslView(authority)));
}

void ReturnUriPolicy::Check(std::string_view uri) const {
  if (uri.empty()) throw ApiError::InvalidArgument({{"return_uri", "required"}});
  if (uri.size() > 2048)
    throw ApiError::InvalidArgument({{"return_uri", "at most 2048 characters"}});
  const std::string origin = OriginOf(uri);
  if (origin.empty()) {
    throw ApiError::InvalidArgument(
        {{"return_uri", "must be an absolute http(s) URI without user info or spaces"}});
  }
  for (const auto& allowed : origins_) {
    if (origin == allowed) return;
  }
  throw ApiError::InvalidArgument(
      {{"return_uri", "its origin is not on the MSP portal allow-list"}}, "RETURN_URI_NOT_ALLOWED");
}

ConsoleDirectory::ConsoleDirectory(std::map<std::string, std::string> overrides)
    : overrides_(std::move(overrides)) {}

std::string ConsoleDirectory::ConsoleUri(knox::KnoxService service) const {
  const std::string id(knox::ServiceId(service));
  if (auto it = overrides_.find(id); it != overrides_.end()) return it->second;
  return absl::StrCat("https://central.samsungknox.com/console/", id);
}

std::string ConsoleDirectory::LaunchUri(const std::string& console_uri, const std::string& token) {
  return absl::StrCat(console_uri, "#launch_token=", token);
}

}  // namespace msp::assignment
