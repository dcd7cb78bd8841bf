#pragma once

#include <chrono>
#include <functional>

#include "customer_links.h"
#include "domain/invitation_rules.h"
#include "msp/common/assignment_client.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "msp/common/rpc.h"
#include "msp/common/tenancy.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "store/link_request_store.h"
#include "store/link_tokens.h"
#include "store/outbox_topics.h"

namespace msp::onboarding {

struct OnboardingSettings {
  std::chrono::seconds invitation_ttl{7 * 24 * 3600};
  ResendLimits resend;
  RecipientLimits recipient;
  // The automatic reminder goes this long before expiry.
  std::chrono::seconds remind_before{24 * 3600};
  // How long an account-set-up email's link works.
  std::chrono::seconds account_setup_ttl{30 * 24 * 3600};
};

// The gRPC face of the onboarding service. An invitation is a small saga across two services:
// it is written here first (OPENING), the customer service then marks the customer PENDING
// (idempotent by the invitation id), and only then is the invitation PENDING with its email in
// the outbox. A crash in between leaves an OPENING invitation that Sweep finishes.
class OnboardingServiceImpl final : public v1::OnboardingService::Service {
 public:
  OnboardingServiceImpl(pg::Pool* pool, RpcRuntime* runtime, CustomerLinks* customers,
                        AssignmentClient* assignments, LinkTokens* tokens, outbox::Relay* relay,
                        OnboardingSettings settings);

  static auth::MethodPolicy Policy();

  grpc::Status LookupCustomer(grpc::ServerContext* context,
                              const v1::LookupCustomerRequest* request,
                              v1::CustomerPreview* response) override;
  grpc::Status CreateInvitation(grpc::ServerContext* context,
                                const v1::CreateInvitationRequest* request,
                                v1::Invitation* response) override;
  grpc::Status GetInvitation(grpc::ServerContext* context, const v1::GetInvitationRequest* request,
                             v1::Invitation* response) override;
  grpc::Status ResendInvitation(grpc::ServerContext* context,
                                const v1::ResendInvitationRequest* request,
                                v1::Invitation* response) override;
  grpc::Status CancelInvitation(grpc::ServerContext* context,
                                const v1::CancelInvitationRequest* request,
                                v1::Invitation* response) override;
  grpc::Status AcceptInvitation(grpc::ServerContext* context,
                                const v1::AcceptInvitationRequest* request,
                                v1::Invitation* response) override;
  grpc::Status RejectInvitation(grpc::ServerContext* context,
                                const v1::RejectInvitationRequest* request,
                                v1::Invitation* response) override;
  grpc::Status RequestDelink(grpc::ServerContext* context, const v1::RequestDelinkRequest* request,
                             v1::DelinkRequest* response) override;
  grpc::Status GetDelinkRequest(grpc::ServerContext* context,
                                const v1::GetDelinkRequestRequest* request,
                                v1::DelinkRequest* response) override;
  grpc::Status ResendDelinkEmail(grpc::ServerContext* context,
                                 const v1::ResendDelinkEmailRequest* request,
                                 v1::DelinkRequest* response) override;
  grpc::Status RevokeDelink(grpc::ServerContext* context, const v1::RevokeDelinkRequest* request,
                            v1::DelinkRequest* response) override;
  grpc::Status AcceptDelink(grpc::ServerContext* context, const v1::AcceptDelinkRequest* request,
                            v1::DelinkRequest* response) override;
  grpc::Status RejectDelink(grpc::ServerContext* context, const v1::RejectDelinkRequest* request,
                            v1::DelinkRequest* response) override;
  grpc::Status StartAccountSetup(grpc::ServerContext* context,
                                 const v1::StartAccountSetupRequest* request,
                                 v1::StartAccountSetupResponse* response) override;

  // Expires due invitations and finishes or abandons OPENING ones. Returns how many changed.
  int Sweep();

 private:
  // OPENING -> customer PENDING -> invitation PENDING with its email queued.
  StoredLinkRequest FinishOpening(const StoredLinkRequest& opening);
  // Throws RESOURCE_EXHAUSTED RECIPIENT_EMAIL_THROTTLED, with RetryInfo, when the customer's
  // super admin had all the emails MSPs may send it for now (RecipientLimits).
  void CheckRecipient(pg::Connection& conn, const std::string& customer_id);
  // Opens a new invitation: the customer must be free to invite. Throws as CreateInvitation.
  StoredLinkRequest OpenInvitation(const std::string& msp_id,
                                   const v1::CreateInvitationRequest& request,
                                   const std::vector<knox::KnoxService>& services,
                                   const auth::Principal& principal);
  // Opens a new delink request: the MSP must manage the customer. Throws as RequestDelink.
  StoredLinkRequest OpenDelink(const CustomerRef& ref, const v1::RequestDelinkRequest& request,
                               const auth::Principal& principal);
  // A create with a request id: `open` makes the request; a replay of one made before gets
  // that request, and so does a concurrent twin that lost the race to open it (whatever rule
  // refused it meanwhile).
  StoredLinkRequest OpenOnce(const std::string& msp_id, const std::string& request_id,
                             LinkKind kind, const std::string& customer_id, const std::string& hash,
                             const std::function<StoredLinkRequest()>& open);
  // Moves the customer's link, then the invitation, for an answer or a withdrawal.
  StoredLinkRequest Close(const StoredLinkRequest& invitation,
                          customer::v1::LinkTransition transition, v1::Invitation::State state,
                          const std::string& reason, const std::string& actor);
  // The row a name names, if it is of `kind` and the caller's (the MSP's own, or for a
  // customer admin the invited customer's); NOT_FOUND otherwise.
  StoredLinkRequest FindOwn(const auth::Principal& principal, const std::string& name,
                            LinkKind kind);
  // Resends a link's email (throttled).
  StoredLinkRequest Resend(const auth::Principal& principal, const std::string& name,
                           LinkKind kind);
  void CheckToken(const StoredLinkRequest& invitation, const std::string& token,
                  const auth::Principal& caller);

  pg::Pool* pool_;
  RpcRuntime* runtime_;
  CustomerLinks* customers_;
  AssignmentClient* assignments_;
  LinkTokens* tokens_;
  outbox::Relay* relay_;
  OnboardingSettings settings_;
  LinkRequestStore store_;
};

}  // namespace msp::onboarding
