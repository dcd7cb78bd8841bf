#pragma once

#include <functional>
#include <memory>

#include "domain/customer_rules.h"
#include "msp/common/assignment_client.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "msp/common/pg_pipeline.h"
#include "msp/common/rpc.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "store/customer_creator.h"
#include "store/customer_store.h"

namespace msp::customer {

// The gRPC face of the customer service: authorisation, request parsing, and one
// transaction per write. The rules themselves live in domain/. GetCustomer, the hot read, is a
// callback handler served by the pipelined reader, so no gRPC thread waits on PostgreSQL; the
// rest are sync handlers.
// Run after a commit that queued outbox messages (either may be empty), so the relays deliver
// them at once rather than at their next poll. Apart: a relay woken with nothing of its topics
// due still pays a claim transaction, and every write has a change event but few have
// deliveries.
struct RelayWakers {
  std::function<void()> change_events;  // customer-changed, queued by every committed change
  std::function<void()> deliveries;     // service assignments and account-set-up emails
};

class CustomerServiceImpl final
    : public v1::CustomerService::WithCallbackMethod_GetCustomer<
          v1::CustomerService::WithCallbackMethod_CreateCustomer<v1::CustomerService::Service>> {
 public:
  // `reader` pipelines GetCustomer's reads; `writer` (group commit) CreateCustomer's insert.
  CustomerServiceImpl(pg::Pool* pool, pg::StatementPipeline* reader, pg::StatementPipeline* writer,
                      RpcRuntime* runtime, FreeMailDomains free_mail, AssignmentClient* assignments,
                      RelayWakers wakers);
  // Which principals may call each method.
  static auth::MethodPolicy Policy();

  grpc::ServerUnaryReactor* CreateCustomer(grpc::CallbackServerContext* context,
                                           const v1::CreateCustomerRequest* request,
                                           v1::Customer* response) override;
  grpc::ServerUnaryReactor* GetCustomer(grpc::CallbackServerContext* context,
                                        const v1::GetCustomerRequest* request,
                                        v1::Customer* response) override;
  grpc::Status ListCustomers(grpc::ServerContext* context, const v1::ListCustomersRequest* request,
                             v1::ListCustomersResponse* response) override;
  grpc::Status UpdateCustomer(grpc::ServerContext* context,
                              const v1::UpdateCustomerRequest* request,
                              v1::Customer* response) override;
  grpc::Status UpgradeToJointlyManaged(grpc::ServerContext* context,
                                       const v1::UpgradeToJointlyManagedRequest* request,
                                       v1::Customer* response) override;
  grpc::Status ListCustomerEvents(grpc::ServerContext* context,
                                  const v1::ListCustomerEventsRequest* request,
                                  v1::ListCustomerEventsResponse* response) override;
  grpc::Status CreateKnoxCustomer(grpc::ServerContext* context,
                                  const v1::CreateKnoxCustomerRequest* request,
                                  v1::Customer* response) override;
  grpc::Status LookupKnoxCustomer(grpc::ServerContext* context,
                                  const v1::LookupKnoxCustomerRequest* request,
                                  v1::KnoxCustomer* response) override;
  grpc::Status TransitionCustomer(grpc::ServerContext* context,
                                  const v1::TransitionCustomerRequest* request,
                                  v1::Customer* response) override;
  grpc::Status RecordCustomerEvent(grpc::ServerContext* context,
                                   const v1::RecordCustomerEventRequest* request,
                                   v1::CustomerEvent* response) override;

 private:
  // One transaction: unless `request_id` was answered before (then that answer), runs
  // `write` and saves its answer for retries.
  v1::Customer IdempotentWrite(const auth::Principal& principal, const std::string& request_id,
                               const std::string& method, const google::protobuf::Message& request,
                               const std::function<v1::Customer(pg::Connection&)>& write);

  pg::Pool* pool_;
  pg::StatementPipeline* reader_;
  AssignmentClient* assignments_;
  // After a commit: wakes the change-event relay, and the delivery relay if asked.
  void WakeRelays(bool deliveries) const;

  RelayWakers wakers_;
  RpcRuntime* runtime_;
  FreeMailDomains free_mail_;
  CustomerStore store_;
  CustomerCreator creator_;
};

}  // namespace msp::customer
