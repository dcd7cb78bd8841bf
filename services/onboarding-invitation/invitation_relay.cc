#include "invitation_relay.h"

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/failpoint.h"
#include "msp/common/log.h"
#include "store/invitation_store.h"

namespace msp::onboarding {

outbox::Handler InvitationEmailHandler(pg::Pool* pool, LinkTokens* tokens, mail::Mailer* mailer,
                                       EmailSettings settings) {
  return [pool, tokens, mailer, settings](const outbox::Message& message) {
    std::optional<StoredInvitation> found;
    {
      pg::Lease conn = pool->Acquire();
      found = InvitationStore().Find(*conn, message.msp_id, message.key, false);
    }
    if (!found || found->raw_state != v1::Invitation::PENDING) return;  // answered or withdrawn
    const auto now = std::chrono::system_clock::now();
    const auto expire = std::chrono::system_clock::time_point(
        std::chrono::seconds(found->invitation.expire_time().seconds()));
    if (expire <= now) return;
    const std::string token =
        tokens->Issue(LinkPurpose::kInvitation, message.key,
                      std::chrono::duration_cast<std::chrono::seconds>(expire - now));
    mailer->Send(InvitationEmail(found->invitation, found->msp_id, token, settings,
                                 message.payload == "reminder"));
    // Crash tests kill the process here: sent, not yet recorded as delivered.
    failpoint::CrashIfEnabled("onboarding.email.after_send");
    log::Info("invitation email sent", {{"invitation", found->invitation.name()},
                                        {"send_count", found->invitation.send_count()}});
  };
}

outbox::Handler AssignInvitedServicesHandler(AssignmentClient* client) {
  return [client](const outbox::Message& message) {
    assignment::v1::AssignServicesRequest request;
    if (!request.ParseFromString(message.payload)) {
      throw std::runtime_error("unreadable assign-services payload");
    }
    assignment::v1::AssignServicesResponse response;
    const grpc::Status status = client->AssignServices(request, &response);
    if (status.ok()) return;
    const auto code = status.error_code();
    if (code == grpc::StatusCode::INVALID_ARGUMENT ||
        code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::ALREADY_EXISTS) {
      log::Warn("services of an accepted invitation refused",
                {{"customer", request.parent()},
                 {"reason", ErrorReasonOf(status)},
                 {"message", status.error_message()}});
      return;
    }
    throw std::runtime_error(
        absl::StrCat("AssignServices: code ", status.error_code(), ": ", status.error_message()));
  };
}

}  // namespace msp::onboarding
