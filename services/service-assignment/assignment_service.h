#pragma once

#include <chrono>

#include "customer_directory.h"
#include "domain/console_launch.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "msp/common/rpc.h"
#include "store/assignment_store.h"

namespace msp::assignment {

struct ConsoleLaunchSettings {
  ReturnUriPolicy return_uris;
  ConsoleDirectory consoles;
  // Signs launch tokens (audience "knox-console").
  auth::TokenIssuer issuer;
  std::chrono::seconds token_ttl{120};
};

// The gRPC face of the service-assignment service: authorisation, request checks, one
// transaction per write. Customer facts (state, contact email) come from the customer service.
class ServiceAssignmentImpl final : public v1::ServiceAssignmentService::Service {
 public:
  // `relay` (may be null) is woken after a commit: the change event goes out at once.
  ServiceAssignmentImpl(pg::Pool* pool, RpcRuntime* runtime, CustomerDirectory* customers,
                        ConsoleLaunchSettings console, outbox::Relay* relay = nullptr);

  static auth::MethodPolicy Policy();

  grpc::Status AssignServices(grpc::ServerContext* context,
                              const v1::AssignServicesRequest* request,
                              v1::AssignServicesResponse* response) override;
  grpc::Status BatchAssignServices(grpc::ServerContext* context,
                                   const v1::BatchAssignServicesRequest* request,
                                   v1::BatchAssignServicesResponse* response) override;
  grpc::Status ListCustomerServices(grpc::ServerContext* context,
                                    const v1::ListCustomerServicesRequest* request,
                                    v1::ListCustomerServicesResponse* response) override;
  grpc::Status BatchGetCustomerServices(grpc::ServerContext* context,
                                        const v1::BatchGetCustomerServicesRequest* request,
                                        v1::BatchGetCustomerServicesResponse* response) override;
  grpc::Status ReportDeviceCounts(grpc::ServerContext* context,
                                  const v1::ReportDeviceCountsRequest* request,
                                  v1::ReportDeviceCountsResponse* response) override;
  grpc::Status BatchCheckKnoxManageTenantIds(
      grpc::ServerContext* context, const v1::BatchCheckKnoxManageTenantIdsRequest* request,
      v1::BatchCheckKnoxManageTenantIdsResponse* response) override;
  grpc::Status CheckKnoxManageTenantId(grpc::ServerContext* context,
                                       const v1::CheckKnoxManageTenantIdRequest* request,
                                       v1::CheckKnoxManageTenantIdResponse* response) override;
  grpc::Status LaunchServiceConsole(grpc::ServerContext* context,
                                    const v1::LaunchServiceConsoleRequest* request,
                                    v1::LaunchServiceConsoleResponse* response) override;
  grpc::Status EndCustomerServices(grpc::ServerContext* context,
                                   const v1::EndCustomerServicesRequest* request,
                                   v1::EndCustomerServicesResponse* response) override;

 private:
  // An assignment request, checked.
  struct Assignment {
    CustomerRef ref;
    std::vector<knox::KnoxService> services;
    bool with_manage = false;
    std::string hash;         // of the request, for its request id
    std::string request_key;  // the request id as kept (idempotency::KeyOf); empty: none
  };
  // Throws INVALID_ARGUMENT naming `field` + the request's field.
  Assignment CheckAssignment(const std::string& field, const v1::AssignServicesRequest& request,
                             const auth::Principal& principal) const;
  // In the caller's transaction: the request id's saved answer, or the tenant, the services
  // and the saved answer. Queues the customer's SERVICES_ADDED trail entry for `event_actor`
  // (empty: the caller records it). Throws ApiError, having written nothing of its own
  // only if the caller rolls back.
  v1::AssignServicesResponse Assign(pg::Connection& conn, const Assignment& assignment,
                                    const v1::AssignServicesRequest& request,
                                    const v1::AssignableCustomer& customer,
                                    const std::string& event_actor) const;
  // After a commit that may have queued change events.
  void ChangeCommitted();

  pg::Pool* pool_;
  RpcRuntime* runtime_;
  CustomerDirectory* customers_;
  ConsoleLaunchSettings console_;
  outbox::Relay* relay_;
  AssignmentStore store_;
};

}  // namespace msp::assignment
