#include "account_setup_relay.h"

#include "absl/strings/str_cat.h"
#include "msp/common/channels.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"

namespace msp::customer {

outbox::Handler AccountSetupHandler(std::shared_ptr<grpc::Channel> onboarding,
                                    const auth::ServiceToken* token) {
  std::shared_ptr<onboarding::v1::OnboardingService::Stub> stub =
      onboarding::v1::OnboardingService::NewStub(std::move(onboarding));
  return [stub, token](const outbox::Message& message) {
    onboarding::v1::StartAccountSetupRequest request;
    if (!request.ParseFromString(message.payload)) {
      throw std::runtime_error("unreadable account-setup payload");
    }
    grpc::ClientContext context;
    PrepareInternalCall(context, *token, std::chrono::seconds(3));
    onboarding::v1::StartAccountSetupResponse response;
    const grpc::Status status = stub->StartAccountSetup(&context, request, &response);
    if (status.ok()) return;
    const auto code = status.error_code();
    // NOT_FOUND too: the customer is not (or no longer) that MSP's.
    if (IsPermanentRefusal(code) || code == grpc::StatusCode::NOT_FOUND) {
      log::Warn("account-set-up email refused", {{"customer", request.customer()},
                                                 {"reason", ErrorReasonOf(status)},
                                                 {"detail", status.error_message()}});
      return;
    }
    throw std::runtime_error(
        absl::StrCat("StartAccountSetup: code ", code, ": ", status.error_message()));
  };
}

}  // namespace msp::customer
