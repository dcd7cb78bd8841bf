#include "customer_links.h"

#include "msp/common/channels.h"
#include "msp/common/errors.h"

namespace msp::onboarding {

CustomerLinks::CustomerLinks(std::shared_ptr<grpc::Channel> channel,
                             const auth::ServiceToken* token, std::chrono::milliseconds timeout)
    : stub_(customer::v1::CustomerService::NewStub(std::move(channel))),
      token_(token),
      timeout_(timeout) {}

void CustomerLinks::Prepare(grpc::ClientContext& context,
                            const std::optional<auth::OnBehalfOf>& on_behalf_of) const {
  PrepareInternalCall(context, *token_, timeout_, on_behalf_of);
}

std::optional<customer::v1::KnoxCustomer> CustomerLinks::Lookup(const std::string& customer_id) {
  grpc::ClientContext context;
  Prepare(context);
  customer::v1::LookupKnoxCustomerRequest request;
  request.set_customer_id(customer_id);
  customer::v1::KnoxCustomer out;
  const auto status = stub_->LookupKnoxCustomer(&context, request, &out);
  if (status.ok()) return out;
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  throw ApiError::Unavailable("CUSTOMER_SERVICE_UNAVAILABLE",
                              "the customer service did not answer: " + status.error_message());
}

customer::v1::Customer CustomerLinks::Transition(
    const customer::v1::TransitionCustomerRequest& request, const std::string& actor) {
  grpc::ClientContext context;
  Prepare(context, auth::OnBehalfOfActor(actor, request.msp_id(), request.customer_id()));
  customer::v1::Customer out;
  const auto status = stub_->TransitionCustomer(&context, request, &out);
  if (status.ok()) return out;
  const auto code = status.error_code();
  if (code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::NOT_FOUND ||
      code == grpc::StatusCode::INVALID_ARGUMENT) {
    throw ApiError(code, ErrorReasonOf(status), status.error_message());
  }
  throw ApiError::Unavailable("CUSTOMER_SERVICE_UNAVAILABLE",
                              "the customer service did not answer: " + status.error_message());
}

}  // namespace msp::onboarding
