#include "msp/common/assignment_client.h"
#include "msp/common/channels.h"

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"

namespace msp {
namespace {

assignment::v1::BatchGetCustomerServicesRequest BatchRequest(const std::string& msp_id,
                                                             const std::vector<std::string>& ids) {
  assignment::v1::BatchGetCustomerServicesRequest request;
  request.set_parent(absl::StrCat("msps/", msp_id));
  for (const auto& id : ids)
    request.add_customers(absl::StrCat("msps/", msp_id, "/customers/", id));
  return request;
}

ServicesByCustomer ToMap(const assignment::v1::BatchGetCustomerServicesResponse& response) {
  ServicesByCustomer out;
  for (const auto& entry : response.customers()) {
    const auto slash = entry.customer().rfind('/');
    auto& services = out[entry.customer().substr(slash + 1)];
    services.assign(entry.services().begin(), entry.services().end());
  }
  return out;
}

ApiError Unavailable(const grpc::Status& status) {
  return ApiError::Unavailable(
      "ASSIGNMENT_SERVICE_UNAVAILABLE",
      "the service-assignment service did not answer: " + status.error_message());
}

}  // namespace

AssignmentClient::AssignmentClient(std::shared_ptr<grpc::Channel> channel,
                                   const auth::ServiceToken* token,
                                   std::chrono::milliseconds timeout)
    : stub_(assignment::v1::ServiceAssignmentService::NewStub(std::move(channel))),
      token_(token),
      timeout_(timeout) {}

void AssignmentClient::Prepare(grpc::ClientContext& context,
                               const std::optional<auth::OnBehalfOf>& on_behalf_of) const {
  PrepareInternalCall(context, *token_, timeout_, on_behalf_of);
}

assignment::v1::CheckKnoxManageTenantIdResponse AssignmentClient::CheckTenant(
    const assignment::v1::CheckKnoxManageTenantIdRequest& request) {
  grpc::ClientContext context;
  Prepare(context);
  assignment::v1::CheckKnoxManageTenantIdResponse response;
  const grpc::Status status = stub_->CheckKnoxManageTenantId(&context, request, &response);
  if (status.ok()) return response;
  if (IsPermanentRefusal(status.error_code())) {
    throw ApiError(status.error_code(), ErrorReasonOf(status), status.error_message());
  }
  throw Unavailable(status);
}

ServicesByCustomer AssignmentClient::BatchGet(const std::string& msp_id,
                                              const std::vector<std::string>& ids) {
  if (ids.empty()) return {};
  grpc::ClientContext context;
  Prepare(context);
  assignment::v1::BatchGetCustomerServicesResponse response;
  const grpc::Status status =
      stub_->BatchGetCustomerServices(&context, BatchRequest(msp_id, ids), &response);
  if (!status.ok()) throw Unavailable(status);
  return ToMap(response);
}

std::set<std::string> AssignmentClient::TakenTenantIds(const std::string& msp_id,
                                                       const std::vector<std::string>& tenant_ids) {
  constexpr size_t kPerCall = 10000;
  std::set<std::string> taken;
  for (size_t begin = 0; begin < tenant_ids.size(); begin += kPerCall) {
    assignment::v1::BatchCheckKnoxManageTenantIdsRequest request;
    request.set_parent(absl::StrCat("msps/", msp_id));
    for (size_t i = begin; i < std::min(tenant_ids.size(), begin + kPerCall); ++i) {
      request.add_tenant_ids(tenant_ids[i]);
    }
    grpc::ClientContext context;
    Prepare(context);
    assignment::v1::BatchCheckKnoxManageTenantIdsResponse response;
    const grpc::Status status = stub_->BatchCheckKnoxManageTenantIds(&context, request, &response);
    if (!status.ok()) throw Unavailable(status);
    taken.insert(response.taken_tenant_ids().begin(), response.taken_tenant_ids().end());
  }
  return taken;
}

void AssignmentClient::BatchGetAsync(
    const std::string& msp_id, const std::vector<std::string>& ids,
    std::function<void(ServicesByCustomer, std::exception_ptr)> done) {
  struct Call {
    grpc::ClientContext context;
    assignment::v1::BatchGetCustomerServicesRequest request;
    assignment::v1::BatchGetCustomerServicesResponse response;
  };
  auto call = std::make_shared<Call>();
  Prepare(call->context);
  call->request = BatchRequest(msp_id, ids);
  stub_->async()->BatchGetCustomerServices(&call->context, &call->request, &call->response,
                                           [call, done = std::move(done)](grpc::Status status) {
                                             if (!status.ok()) {
                                               done({},
                                                    std::make_exception_ptr(Unavailable(status)));
                                               return;
                                             }
                                             done(ToMap(call->response), nullptr);
                                           });
}

grpc::Status AssignmentClient::BatchAssignServices(
    const assignment::v1::BatchAssignServicesRequest& request,
    const std::optional<auth::OnBehalfOf>& on_behalf_of,
    assignment::v1::BatchAssignServicesResponse* response) {
  grpc::ClientContext context;
  Prepare(context, on_behalf_of);
  // A batch writes many customers in one transaction.
  context.set_deadline(std::chrono::system_clock::now() + 5 * timeout_);
  return stub_->BatchAssignServices(&context, request, response);
}

grpc::Status StatusOf(const google::rpc::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message(),
                      status.SerializeAsString());
}

assignment::v1::AssignableCustomer AssignableCustomerOf(const customer::v1::Customer& customer) {
  assignment::v1::AssignableCustomer assignable;
  switch (customer.state()) {
    case customer::v1::ACTIVE:
      assignable.set_state(assignment::v1::AssignableCustomer::ACTIVE);
      break;
    case customer::v1::DELINK_REQUESTED:
      assignable.set_state(assignment::v1::AssignableCustomer::DELINK_REQUESTED);
      break;
    default:
      assignable.set_state(assignment::v1::AssignableCustomer::NOT_ACTIVE);
  }
  assignable.set_work_email(customer.contact().work_email());
  assignable.set_company_name(customer.company().display_name());
  return assignable;
}

grpc::Status AssignmentClient::AssignServices(const assignment::v1::AssignServicesRequest& request,
                                              const std::optional<auth::OnBehalfOf>& on_behalf_of,
                                              assignment::v1::AssignServicesResponse* response) {
  grpc::ClientContext context;
  Prepare(context, on_behalf_of);
  return stub_->AssignServices(&context, request, response);
}

grpc::Status AssignmentClient::EndCustomerServices(
    const assignment::v1::EndCustomerServicesRequest& request,
    const std::optional<auth::OnBehalfOf>& on_behalf_of,
    assignment::v1::EndCustomerServicesResponse* response) {
  grpc::ClientContext context;
  Prepare(context, on_behalf_of);
  return stub_->EndCustomerServices(&context, request, response);
}

}  // namespace msp
