#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/customer/v1/customer.grpc.pb.h"

namespace msp::onboarding {

// The customer service's internal methods, called with this service's own token.
class CustomerLinks {
 public:
  CustomerLinks(std::shared_ptr<grpc::Channel> channel, const auth::ServiceToken* token,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  // The customer whichever MSP manages it; nullopt when there is none with this id. Throws
  // ApiError UNAVAILABLE CUSTOMER_SERVICE_UNAVAILABLE.
  std::optional<customer::v1::KnoxCustomer> Lookup(const std::string& customer_id);
  // Moves the customer's link. A refusal (FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND)
  // is rethrown as the same ApiError; anything else as UNAVAILABLE.
  // `actor`: whom onboarding acts for (Principal::Actor() of the call that made the change);
  // empty for its own work (an expiry).
  customer::v1::Customer Transition(const customer::v1::TransitionCustomerRequest& request,
                                    const std::string& actor);

 private:
  void Prepare(grpc::ClientContext& context,
               const std::optional<auth::OnBehalfOf>& on_behalf_of = std::nullopt) const;

  std::unique_ptr<customer::v1::CustomerService::Stub> stub_;
  const auth::ServiceToken* token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace msp::onboarding
