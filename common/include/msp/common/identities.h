#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msp/common/knox_services.h"

// The service identities: the `sub` of a service token (and, with mutual TLS, the name in the
// calling service's certificate). Declared once; every policy table and token names them here.
namespace msp::identity {

inline constexpr char kCustomer[] = "customer";
inline constexpr char kServiceAssignment[] = "service-assignment";
inline constexpr char kOnboardingInvitation[] = "onboarding-invitation";
inline constexpr char kReporting[] = "reporting";
// The read model's rebuild job: the one caller that reads every MSP's customers at once.
inline constexpr char kReportingRebuild[] = "reporting-rebuild";
// Knox's account system, which registers the customers that signed up with Knox directly.
inline constexpr char kKnoxAccounts[] = "knox-accounts";

// A Knox service backend is named as its service: `knox-manage` reports Knox Manage's device
// counts and nothing else.
std::string_view KnoxBackend(knox::KnoxService service);
// The service whose backend `identity` is; nullopt when it is no Knox backend.
std::optional<knox::KnoxService> KnoxBackendService(std::string_view identity);

// Every identity above and every Knox backend's: each one must have a grant somewhere and a
// column in the security matrix (both tests check).
std::vector<std::string> AllIdentities();

}  // namespace msp::identity
