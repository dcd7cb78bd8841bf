#include "customer_directory.h"

#include "msp/common/channels.h"
#include "msp/common/errors.h"
#include "msp/common/resource_names.h"

namespace msp::assignment {

GrpcCustomerDirectory::GrpcCustomerDirectory(std::shared_ptr<grpc::Channel> channel,
                                             const auth::ServiceToken* token,
                                             std::chrono::milliseconds timeout)
    : stub_(customer::v1::CustomerService::NewStub(std::move(channel))),
      token_(token),
      timeout_(timeout) {}

std::optional<customer::v1::Customer> GrpcCustomerDirectory::Find(const CustomerRef& ref) {
  grpc::ClientContext context;
  PrepareInternalCall(context, *token_, timeout_);
  customer::v1::GetCustomerRequest request;
  request.set_name(ref.Name());
  customer::v1::Customer customer;
  const grpc::Status status = stub_->GetCustomer(&context, request, &customer);
  if (status.ok()) return customer;
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  throw ApiError::Unavailable("CUSTOMER_SERVICE_UNAVAILABLE",
                              "the customer service did not answer: " + status.error_message())
      .WithMetadata("code", std::to_string(status.error_code()));
}

bool GrpcCustomerDirectory::RecordEvent(const customer::v1::RecordCustomerEventRequest& event,
                                        const std::string& actor) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  const auto vars = ParseResourceName("msps/{msp}/customers/{customer}", event.parent());
  context.AddMetadata(
      "authorization",
      token_->AuthorizationHeader(vars ? auth::OnBehalfOfActor(actor, (*vars)[0], (*vars)[1])
                                       : std::nullopt));
  customer::v1::CustomerEvent recorded;
  const grpc::Status status = stub_->RecordCustomerEvent(&context, event, &recorded);
  if (status.ok()) return true;
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return false;
  throw ApiError::Unavailable(
      "CUSTOMER_SERVICE_UNAVAILABLE",
      "the customer service did not record the event: " + status.error_message())
      .WithMetadata("code", std::to_string(status.error_code()));
}

}  // namespace msp::assignment
