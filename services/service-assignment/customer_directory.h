#pragma once

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/common/tenancy.h"
#include "msp/customer/v1/customer.grpc.pb.h"

namespace msp::assignment {

// What assigning services needs to know about a customer, from the customer service (its
// system of record).
class CustomerDirectory {
 public:
  virtual ~CustomerDirectory() = default;
  // The customer if the MSP manages it; nullopt when not (absent or another MSP's). Throws
  // ApiError UNAVAILABLE when the customer service cannot answer.
  virtual std::optional<customer::v1::Customer> Find(const CustomerRef& ref) = 0;
  // Records an entry of the customer's audit trail (once per event_key). False when the
  // customer is not the MSP's (nothing recorded); throws ApiError UNAVAILABLE otherwise.
  // `actor`: who acted, as this service verified it (Principal::Actor()); the call names that
  // person in its token.
  virtual bool RecordEvent(const customer::v1::RecordCustomerEventRequest& event,
                           const std::string& actor) = 0;
};

// Asks the customer service's GetCustomer with this service's own token.
class GrpcCustomerDirectory final : public CustomerDirectory {
 public:
  GrpcCustomerDirectory(std::shared_ptr<grpc::Channel> channel, const auth::ServiceToken* token,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  std::optional<customer::v1::Customer> Find(const CustomerRef& ref) override;
  bool RecordEvent(const customer::v1::RecordCustomerEventRequest& event,
                   const std::string& actor) override;

 private:
  std::unique_ptr<customer::v1::CustomerService::Stub> stub_;
  const auth::ServiceToken* token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace msp::assignment
