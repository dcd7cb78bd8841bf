#include "services_view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace msp::customer {

std::vector<assignment::v1::AssignedService> ServicesView(
    const std::string& customer_name, const std::vector<knox::KnoxService>& requested,
    const std::string& services_error,
    const std::vector<assignment::v1::AssignedService>& assigned) {
  std::vector<assignment::v1::AssignedService> out = assigned;
  for (auto service : requested) {
    const bool present = std::any_of(assigned.begin(), assigned.end(),
                                     [&](const auto& s) { return s.service() == service; });
    if (present) continue;
    assignment::v1::AssignedService pending;
    pending.set_name(
        absl::StrCat(customer_name, "/services/", std::string(knox::ServiceId(service))));
    pending.set_service(service);
    if (services_error.empty()) {
      pending.set_state(assignment::v1::AssignedService::PROVISIONING);
    } else {
      pending.set_state(assignment::v1::AssignedService::PROVISIONING_FAILED);
      pending.set_state_reason(services_error);
    }
    out.push_back(std::move(pending));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.service() < b.service(); });
  return out;
}

}  // namespace msp::customer
