#include "msp/common/identities.h"

namespace msp::identity {

std::string_view KnoxBackend(knox::KnoxService service) { return knox::ServiceId(service); }

std::optional<knox::KnoxService> KnoxBackendService(std::string_view identity) {
  return knox::ServiceFromId(identity);
}

std::vector<std::string> AllIdentities() {
  std::vector<std::string> out = {kCustomer,  kServiceAssignment, kOnboardingInvitation,
                                  kReporting, kReportingRebuild,  kKnoxAccounts};
  for (auto service : knox::AllServices()) out.emplace_back(KnoxBackend(service));
  return out;
}

}  // namespace msp::identity
