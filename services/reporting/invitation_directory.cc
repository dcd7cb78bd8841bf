#include "invitation_directory.h"

#include "msp/common/channels.h"
#include "msp/common/errors.h"

namespace msp::reporting {

GrpcInvitationDirectory::GrpcInvitationDirectory(std::shared_ptr<grpc::Channel> channel,
                                                 const auth::ServiceToken* token,
                                                 std::chrono::milliseconds timeout)
    : stub_(onboarding::v1::OnboardingService::NewStub(std::move(channel))),
      token_(token),
      timeout_(timeout) {}

std::optional<onboarding::v1::Invitation> GrpcInvitationDirectory::Find(const std::string& name) {
  grpc::ClientContext context;
  PrepareInternalCall(context, *token_, timeout_);
  onboarding::v1::GetInvitationRequest request;
  request.set_name(name);
  onboarding::v1::Invitation invitation;
  const grpc::Status status = stub_->GetInvitation(&context, request, &invitation);
  if (status.ok()) return invitation;
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return std::nullopt;
  throw ApiError::Unavailable("ONBOARDING_SERVICE_UNAVAILABLE",
                              "the onboarding service did not answer: " + status.error_message());
}

}  // namespace msp::reporting
