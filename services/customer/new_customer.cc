#include "new_customer.h"

#include "absl/strings/str_cat.h"
#include "domain/services_view.h"
#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/idempotency.h"
#include "msp/onboarding/v1/onboarding.pb.h"

namespace msp::customer {
namespace {

// The outbox message that assigns a new customer's services: AssignServices with a request
// id of its own, so a delivery repeated after a crash is answered, not applied twice.
std::string AssignmentPayload(const v1::Customer& customer,
                              const std::vector<knox::KnoxService>& services,
                              const std::string& tenant_prefix) {
  if (services.empty()) return "";
  assignment::v1::AssignServicesRequest request;
  request.set_parent(customer.name());
  for (auto s : services) request.add_services(s);
  request.set_knox_manage_tenant_prefix(tenant_prefix);
  request.set_request_id(absl::StrCat("create-", customer.customer_id()));
  return request.SerializeAsString();
}

}  // namespace

std::string AccountSetupPayload(const std::string& customer_name, const std::string& request_id) {
  onboarding::v1::StartAccountSetupRequest request;
  request.set_customer(customer_name);
  request.set_request_id(absl::StrCat("account-setup-", request_id));
  return request.SerializeAsString();
}

PreparedCustomer PrepareCreate(const std::string& msp_id, const std::string& actor,
                               const std::string& request_id,
                               const v1::CreateCustomerRequest& request,
                               const FreeMailDomains& free_mail) {
  v1::Customer input = request.customer();
  Normalize(input);
  ValidateNewCustomer(input, free_mail);
  std::vector<knox::KnoxService> services = ValidateRequestedServices(request);
  PreparedCustomer out{
      NewCustomer{msp_id, std::move(input), actor, request_id,
                  request_id.empty() ? "" : idempotency::RequestHash(request), services},
      nullptr};
  out.with_id = [services = std::move(services),
                 tenant_prefix = request.knox_manage_tenant_prefix()](NewCustomer& c) {
    c.assignment_payload = AssignmentPayload(c.customer, services, tenant_prefix);
    c.account_setup_payload = c.customer.management_type() == v1::JOINTLY_MANAGED
                                  ? AccountSetupPayload(c.customer.name(), c.customer.customer_id())
                                  : "";
    c.customer.clear_services();
    for (auto& s : ServicesView(c.customer.name(), services, "", {})) {
      *c.customer.add_services() = std::move(s);
    }
  };
  return out;
}

}  // namespace msp::customer
