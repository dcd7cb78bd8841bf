#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"

namespace msp::customer {

// Sends a bulk job's invitations: the onboarding service's CreateInvitation for the admin who
// ran the job (named in this service's token, as its policy lets the customer service relay),
// without waiting. An answer the row cannot change (refused: INVALID_ARGUMENT,
// FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS, RESOURCE_EXHAUSTED) comes back as ApiError;
// anything else (the service away) as another exception: the row is tried again later.
class InvitationSender {
 public:
  using Done = std::function<void(const onboarding::v1::Invitation&, std::exception_ptr)>;

  InvitationSender(std::shared_ptr<grpc::Channel> onboarding, const auth::ServiceToken* token);
  void Send(const std::string& actor, onboarding::v1::CreateInvitationRequest request, Done done);

 private:
  std::unique_ptr<onboarding::v1::OnboardingService::Stub> stub_;
  const auth::ServiceToken* token_;
};

}  // namespace msp::customer
