#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/auth.h"
#include "msp/customer/v1/customer.pb.h"

namespace msp {

using ServicesByCustomer = std::map<std::string, std::vector<assignment::v1::AssignedService>>;

// Calls to the service-assignment service with this service's own token.
// A batch result's error as the grpc::Status a single call would have answered.
grpc::Status StatusOf(const google::rpc::Status& status);
// What assigning services needs to know of a customer (its state, contact and company).
assignment::v1::AssignableCustomer AssignableCustomerOf(const customer::v1::Customer& customer);

class AssignmentClient {
 public:
  AssignmentClient(std::shared_ptr<grpc::Channel> channel, const auth::ServiceToken* token,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

  // The services of these customers of one MSP (by customer id), in one call. Throws ApiError
  // UNAVAILABLE ASSIGNMENT_SERVICE_UNAVAILABLE when it cannot answer.
  ServicesByCustomer BatchGet(const std::string& msp_id, const std::vector<std::string>& ids);
  // The same without blocking the calling thread: `done` runs on a gRPC thread with the
  // answer, or with the error (an ApiError) as exception_ptr.
  void BatchGetAsync(const std::string& msp_id, const std::vector<std::string>& ids,
                     std::function<void(ServicesByCustomer, std::exception_ptr)> done);

  // For `on_behalf_of` (nullopt: the service's own work), named in the call's token.
  grpc::Status AssignServices(const assignment::v1::AssignServicesRequest& request,
                              const std::optional<auth::OnBehalfOf>& on_behalf_of,
                              assignment::v1::AssignServicesResponse* response);
  // Many customers of one MSP, all for `on_behalf_of`: one result per request.
  grpc::Status BatchAssignServices(const assignment::v1::BatchAssignServicesRequest& request,
                                   const std::optional<auth::OnBehalfOf>& on_behalf_of,
                                   assignment::v1::BatchAssignServicesResponse* response);
  grpc::Status EndCustomerServices(const assignment::v1::EndCustomerServicesRequest& request,
                                   const std::optional<auth::OnBehalfOf>& on_behalf_of,
                                   assignment::v1::EndCustomerServicesResponse* response);
  // The Knox Manage tenant a prefix makes for a customer, and the tenant its account has
  // already. Throws ApiError UNAVAILABLE when the service cannot answer, and the service's own
  // error (INVALID_ARGUMENT naming `prefix`, ...) as an ApiError of that code.
  assignment::v1::CheckKnoxManageTenantIdResponse CheckTenant(
      const assignment::v1::CheckKnoxManageTenantIdRequest& request);

  // Which of `tenant_ids` exist (a bulk import's dry run for MSP `msp_id`), in calls of 10,000.
  // Throws ApiError UNAVAILABLE when the service cannot answer.
  std::set<std::string> TakenTenantIds(const std::string& msp_id,
                                       const std::vector<std::string>& tenant_ids);

 private:
  void Prepare(grpc::ClientContext& context,
               const std::optional<auth::OnBehalfOf>& on_behalf_of = std::nullopt) const;

  std::unique_ptr<assignment::v1::ServiceAssignmentService::Stub> stub_;
  const auth::ServiceToken* token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace msp
