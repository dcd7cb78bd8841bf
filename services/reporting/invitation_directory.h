#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"

namespace msp::reporting {

// Where a customer's details find its invitation: the onboarding service, asked with this
// service's token.
class InvitationDirectory {
 public:
  virtual ~InvitationDirectory() = default;
  // The invitation, nullopt when there is none by that name; throws when it cannot tell.
  virtual std::optional<onboarding::v1::Invitation> Find(const std::string& name) = 0;
};

class GrpcInvitationDirectory final : public InvitationDirectory {
 public:
  GrpcInvitationDirectory(std::shared_ptr<grpc::Channel> channel, const auth::ServiceToken* token,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
  std::optional<onboarding::v1::Invitation> Find(const std::string& name) override;

 private:
  std::unique_ptr<onboarding::v1::OnboardingService::Stub> stub_;
  const auth::ServiceToken* token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace msp::reporting
