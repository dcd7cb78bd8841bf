#include "invitation_relay.h"

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/failpoint.h"
#include "msp/common/log.h"
#include "store/link_request_store.h"

namespace msp::onboarding {

outbox::Handler InvitationEmailHandler(pg::Pool* pool, LinkTokens* tokens, mail::Mailer* mailer,
                                       EmailSettings settings,
                                       prometheus::Counter* invitations_sent) {
  return [pool, tokens, mailer, settings, invitations_sent](const outbox::Message& message) {
    std::optional<StoredLinkRequest> found;
    {
      pg::Lease conn = pool->Acquire();
      found = LinkRequestStore().Find(*conn, message.msp_id, message.key, false);
    }
    if (!found || found->raw_state != 1) return;  // answered or withdrawn: no email
    if (found->kind == LinkKind::kAccountSetup) {
      const auto left = std::chrono::system_clock::time_point(
                            std::chrono::seconds(found->invitation.expire_time().seconds())) -
                        std::chrono::system_clock::now();
      if (left <= std::chrono::seconds(0)) return;
      const std::string token =
          tokens->Issue(LinkPurpose::kAccountSetup, message.key,
                        std::chrono::duration_cast<std::chrono::seconds>(left),
                        std::to_string(found->invitation.send_count()));
      mailer->Send(AccountSetupEmail(found->invitation.customer(), found->msp_id,
                                     found->invitation.company_name(), found->invitation.contact(),
                                     message.key, token, settings));
      return;
    }
    if (found->kind == LinkKind::kDelink) {
      const std::string token =
          tokens->Issue(LinkPurpose::kDelink, message.key, settings.delink_link_ttl,
                        std::to_string(found->invitation.send_count()));
      mailer->Send(
          DelinkEmail(absl::StrCat("msps/", found->msp_id, "/delinkRequests/", message.key),
                      found->msp_id, found->invitation.company_name(), found->invitation.contact(),
                      found->invitation.send_count(), token, settings));
      failpoint::CrashIfEnabled("onboarding.email.after_send");
      return;
    }
    const auto now = std::chrono::system_clock::now();
    const auto expire = std::chrono::system_clock::time_point(
        std::chrono::seconds(found->invitation.expire_time().seconds()));
    if (expire <= now) return;
    // Per email (as its Message-ID: the send count, and the reminder apart): a copy of this email
    // delivered again after a crash keeps the first copy's link working; a resend or the
    // reminder ends it.
    const bool reminder = message.payload == "reminder";
    const std::string token =
        tokens->Issue(LinkPurpose::kInvitation, message.key,
                      std::chrono::duration_cast<std::chrono::seconds>(expire - now),
                      absl::StrCat(found->invitation.send_count(), reminder ? "-reminder" : ""));
    mailer->Send(InvitationEmail(found->invitation, found->msp_id, token, settings, reminder));
    invitations_sent->Increment();
    // Crash tests kill the process here: sent, not yet recorded as delivered.
    failpoint::CrashIfEnabled("onboarding.email.after_send");
    log::Info("invitation email sent", {{"invitation", found->invitation.name()},
                                        {"send_count", found->invitation.send_count()}});
  };
}

namespace {

// Whom a delivery about `customer` (its name) is for: the customer's admin who answered.
std::optional<auth::OnBehalfOf> OnBehalfOfMessage(const outbox::Message& message,
                                                  const std::string& customer) {
  return auth::OnBehalfOfActor(message.on_behalf_of, message.msp_id,
                               customer.substr(customer.rfind('/') + 1));
}

}  // namespace

outbox::Handler AssignInvitedServicesHandler(AssignmentClient* client) {
  return [client](const outbox::Message& message) {
    assignment::v1::AssignServicesRequest request;
    if (!request.ParseFromString(message.payload)) {
      throw std::runtime_error("unreadable assign-services payload");
    }
    assignment::v1::AssignServicesResponse response;
    const grpc::Status status =
        client->AssignServices(request, OnBehalfOfMessage(message, request.parent()), &response);
    if (status.ok()) return;
    if (IsPermanentRefusal(status.error_code())) {
      log::Warn("services of an accepted invitation refused", {{"customer", request.parent()},
                                                               {"reason", ErrorReasonOf(status)},
                                                               {"detail", status.error_message()}});
      return;
    }
    throw std::runtime_error(
        absl::StrCat("AssignServices: code ", status.error_code(), ": ", status.error_message()));
  };
}

outbox::Handler EndDelinkedServicesHandler(AssignmentClient* client) {
  return [client](const outbox::Message& message) {
    assignment::v1::EndCustomerServicesRequest request;
    if (!request.ParseFromString(message.payload)) {
      throw std::runtime_error("unreadable end-services payload");
    }
    assignment::v1::EndCustomerServicesResponse response;
    const grpc::Status status = client->EndCustomerServices(
        request, OnBehalfOfMessage(message, request.parent()), &response);
    if (!status.ok()) {
      throw std::runtime_error(absl::StrCat("EndCustomerServices: code ", status.error_code(), ": ",
                                            status.error_message()));
    }
  };
}

outbox::Handler DelinkNoticeHandler(pg::Pool* pool, mail::Mailer* mailer, EmailSettings settings) {
  return [pool, mailer, settings](const outbox::Message& message) {
    std::optional<StoredLinkRequest> found;
    {
      pg::Lease conn = pool->Acquire();
      found = LinkRequestStore().Find(*conn, message.msp_id, message.key, false);
    }
    if (!found) return;
    const std::string name = absl::StrCat("msps/", found->msp_id, "/delinkRequests/", message.key);
    const std::string& company = found->invitation.company_name();
    if (message.payload == "accepted") {
      mailer->Send(DelinkOutcomeEmail(name, found->msp_id, company,
                                      found->invitation.contact().work_email(),
                                      found->invitation.contact().first_name(), "accepted",
                                      /*to_customer=*/true, settings));
    }
    std::string msp_address = settings.msp_notify_address;
    const auto at = msp_address.find("{msp}");
    if (at != std::string::npos) msp_address.replace(at, 5, found->msp_id);
    mailer->Send(DelinkOutcomeEmail(name, found->msp_id, company, msp_address, found->msp_id,
                                    message.payload, /*to_customer=*/false, settings));
  };
}

}  // namespace msp::onboarding
