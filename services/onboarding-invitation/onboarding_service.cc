#include "onboarding_service.h"

#include "absl/strings/str_cat.h"
#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/consent.h"
#include "msp/common/failpoint.h"
#include "msp/common/idempotency.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/common/resource_names.h"
#include "msp/common/tenancy.h"

namespace msp::onboarding {
namespace {

using auth::PrincipalKind;
namespace cv1 = customer::v1;

constexpr char kService[] = "/msp.onboarding.v1.OnboardingService/";
const std::string kLookup = absl::StrCat(kService, "LookupCustomer");
const std::string kCreate = absl::StrCat(kService, "CreateInvitation");
const std::string kGet = absl::StrCat(kService, "GetInvitation");
const std::string kResend = absl::StrCat(kService, "ResendInvitation");
const std::string kCancel = absl::StrCat(kService, "CancelInvitation");
const std::string kAccept = absl::StrCat(kService, "AcceptInvitation");
const std::string kReject = absl::StrCat(kService, "RejectInvitation");
const std::string kRequestDelink = absl::StrCat(kService, "RequestDelink");
const std::string kGetDelink = absl::StrCat(kService, "GetDelinkRequest");
const std::string kResendDelink = absl::StrCat(kService, "ResendDelinkEmail");
const std::string kRevokeDelink = absl::StrCat(kService, "RevokeDelink");
const std::string kAcceptDelink = absl::StrCat(kService, "AcceptDelink");
const std::string kRejectDelink = absl::StrCat(kService, "RejectDelink");
const std::string kStartAccountSetup = absl::StrCat(kService, "StartAccountSetup");

struct LinkRef {
  std::string msp_id;
  std::string id;
};

std::string_view Collection(LinkKind kind) {
  return kind == LinkKind::kInvitation ? "invitations" : "delinkRequests";
}

LinkRef ParseLinkName(const std::string& name, LinkKind kind) {
  const std::string pattern = absl::StrCat("msps/{msp}/", std::string(Collection(kind)), "/{id}");
  auto vars = ParseResourceName(pattern, name);
  if (!vars || !IsValidInvitationId((*vars)[1])) {
    throw ApiError::InvalidArgument({{"name", "must be " + pattern}});
  }
  return {(*vars)[0], (*vars)[1]};
}

// The stored row's own id (rows keep the invitation-style name internally).
std::string IdOf(const StoredLinkRequest& stored) {
  const auto& name = stored.invitation.name();
  return name.substr(name.rfind('/') + 1);
}

std::string DelinkName(const StoredLinkRequest& stored) {
  return absl::StrCat("msps/", stored.msp_id, "/delinkRequests/", IdOf(stored));
}

v1::DelinkRequest ToDelink(const StoredLinkRequest& stored) {
  v1::DelinkRequest out;
  const auto& inv = stored.invitation;
  out.set_name(DelinkName(stored));
  out.set_customer(inv.customer());
  out.set_customer_id(inv.customer_id());
  out.set_state(
      static_cast<v1::DelinkRequest::State>(stored.raw_state == kOpening ? 1 : stored.raw_state));
  out.set_company_name(inv.company_name());
  *out.mutable_contact() = inv.contact();
  *out.mutable_create_time() = inv.create_time();
  if (inv.has_answer_time()) *out.mutable_answer_time() = inv.answer_time();
  if (inv.has_last_send_time()) *out.mutable_last_send_time() = inv.last_send_time();
  out.set_send_count(inv.send_count());
  return out;
}

LinkPurpose PurposeOf(LinkKind kind) {
  return kind == LinkKind::kInvitation ? LinkPurpose::kInvitation : LinkPurpose::kDelink;
}

bool LinkEnded(cv1::State state) {
  return state == cv1::REJECTED || state == cv1::CANCELED || state == cv1::EXPIRED ||
         state == cv1::DELINKED;
}

std::string AssignPayload(const StoredLinkRequest& stored) {
  assignment::v1::AssignServicesRequest request;
  request.set_parent(stored.invitation.customer());
  for (int s : stored.invitation.services()) {
    request.add_services(static_cast<assignment::v1::KnoxService>(s));
  }
  request.set_knox_manage_tenant_prefix(stored.invitation.knox_manage_tenant_prefix());
  request.set_request_id(absl::StrCat("invitation-", IdOf(stored)));
  return request.SerializeAsString();
}

std::string EndServicesPayload(const StoredLinkRequest& stored) {
  assignment::v1::EndCustomerServicesRequest request;
  request.set_parent(stored.invitation.customer());
  request.set_reason("DELINKED");
  return request.SerializeAsString();
}

bool Expired(const StoredLinkRequest& stored) {
  return stored.kind == LinkKind::kInvitation &&
         stored.invitation.expire_time().seconds() <
             std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
}

std::string StateName(const StoredLinkRequest& stored) {
  return stored.kind == LinkKind::kInvitation
             ? v1::Invitation::State_Name(stored.invitation.state())
             : v1::DelinkRequest::State_Name(ToDelink(stored).state());
}

[[noreturn]] void RefuseState(const StoredLinkRequest& stored) {
  const std::string what = stored.kind == LinkKind::kInvitation ? "INVITATION" : "DELINK";
  throw ApiError::FailedPrecondition(absl::StrCat(what, "_", StateName(stored)),
                                     absl::StrCat("it is ", StateName(stored)),
                                     stored.invitation.name());
}

// Answered by a PENDING / REQUESTED link only, and not after an invitation's expiry.
void RequireOpen(const StoredLinkRequest& stored) {
  if (stored.raw_state != 1) RefuseState(stored);
  if (Expired(stored)) {
    throw ApiError::FailedPrecondition("INVITATION_EXPIRED", "the invitation expired",
                                       stored.invitation.name());
  }
}

}  // namespace

OnboardingServiceImpl::OnboardingServiceImpl(pg::Pool* pool, RpcRuntime* runtime,
                                             CustomerLinks* customers,
                                             AssignmentClient* assignments, LinkTokens* tokens,
                                             outbox::Relay* relay, OnboardingSettings settings)
    : pool_(pool),
      runtime_(runtime),
      customers_(customers),
      assignments_(assignments),
      tokens_(tokens),
      relay_(relay),
      settings_(settings) {}

auth::MethodPolicy OnboardingServiceImpl::Policy() {
  using auth::CustomerAdmin, auth::MspAdmin, auth::Service;
  using K = PrincipalKind;
  auth::MethodPolicy policy;
  policy
      .Allow(kLookup, {MspAdmin()})
      // The customer service sends a bulk job's invitations for the admin who ran it.
      .Allow(kCreate, {MspAdmin(), Service(identity::kCustomer).ActingFor({K::kMspAdmin})})
      // Reporting reads an invitation for a customer's details.
      .Allow(kGet, {MspAdmin(), Service(identity::kReporting)})
      .Allow(kResend, {MspAdmin()})
      .Allow(kCancel, {MspAdmin()})
      // The customer's super admin answers.
      .Allow(kAccept, {CustomerAdmin()})
      .Allow(kReject, {CustomerAdmin()})
      .Allow(kRequestDelink, {MspAdmin()})
      .Allow(kGetDelink, {MspAdmin()})
      .Allow(kResendDelink, {MspAdmin()})
      .Allow(kRevokeDelink, {MspAdmin()})
      .Allow(kAcceptDelink, {CustomerAdmin()})
      .Allow(kRejectDelink, {CustomerAdmin()})
      // The customer service, through its outbox, for a new jointly managed customer.
      .Allow(kStartAccountSetup, {Service(identity::kCustomer)});
  return policy;
}

StoredLinkRequest OnboardingServiceImpl::FindOwn(const auth::Principal& principal,
                                                 const std::string& name, LinkKind kind) {
  const LinkRef ref = ParseLinkName(name, kind);
  std::optional<StoredLinkRequest> found;
  {
    pg::Lease conn = pool_->Acquire();
    found = store_.Find(*conn, ref.msp_id, ref.id, false);
  }
  const bool mine =
      found && found->kind == kind &&
      (principal.kind == PrincipalKind::kService ||
       (principal.kind == PrincipalKind::kMspAdmin && principal.msp_id == ref.msp_id) ||
       (principal.kind == PrincipalKind::kCustomerAdmin &&
        principal.customer_id == found->invitation.customer_id()));
  if (!mine) throw ApiError::NotFound(std::string(Collection(kind)), name);
  return *found;
}

grpc::Status OnboardingServiceImpl::LookupCustomer(grpc::ServerContext* context,
                                                   const v1::LookupCustomerRequest* request,
                                                   v1::CustomerPreview* response) {
  return runtime_->Handle(context, kLookup, [&](const auth::Principal& principal) {
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    if (!IsValidCustomerId(request->customer_id())) {
      throw ApiError::InvalidArgument({{"customer_id", "a customer id: 10 characters"}});
    }
    auto knox = customers_->Lookup(request->customer_id());
    if (!knox) throw ApiError::NotFound("customer", request->customer_id());
    const auto state = knox->customer().state();
    if (!knox->msp_id().empty() && !LinkEnded(state)) {
      // Which MSP is never said.
      throw ApiError::FailedPrecondition(
          knox->msp_id() == msp_id ? "CUSTOMER_ALREADY_YOURS" : "CUSTOMER_ALREADY_MANAGED",
          state == cv1::PENDING ? "the customer has an open invitation from an MSP"
                                : "the customer is managed by an MSP",
          request->customer_id());
    }
    response->set_customer_id(knox->customer().customer_id());
    response->set_company_name(knox->customer().company().display_name());
    response->set_country_code(knox->customer().company().country_code());
    *response->mutable_services() = knox->own_services();
  });
}

StoredLinkRequest OnboardingServiceImpl::FinishOpening(const StoredLinkRequest& opening) {
  const std::string id = IdOf(opening);
  cv1::TransitionCustomerRequest transition;
  transition.set_customer_id(opening.invitation.customer_id());
  transition.set_msp_id(opening.msp_id);
  transition.set_transition(opening.kind == LinkKind::kInvitation ? cv1::INVITE
                                                                  : cv1::REQUEST_DELINK);
  transition.set_link_id(id);
  transition.set_management_type(opening.invitation.management_type());
  // The trail names the request that asked (a bulk job's row names its job).
  if (opening.kind == LinkKind::kInvitation) {
    transition.set_request_id(idempotency::RequestIdOfKey(opening.request_id));
  }
  try {
    // For the admin who asked (rows from before requested_by name nobody: onboarding's own).
    customers_->Transition(transition, opening.requested_by);
  } catch (const ApiError& e) {
    if (e.code() != grpc::StatusCode::UNAVAILABLE) {
      pg::Lease conn = pool_->Acquire();
      store_.Delete(*conn, id);  // refused for good: the request never existed
    }
    throw;
  }
  auto opened = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    auto current = store_.Find(tx.conn(), opening.msp_id, id, /*for_update=*/true);
    if (!current) throw ApiError::NotFound("request", opening.invitation.name());
    if (current->raw_state != kOpening) return *current;  // another call finished it
    auto sent = store_.RecordSend(tx.conn(), id);
    store_.RecordRecipientSend(tx.conn(), opening.invitation.customer_id());
    outbox::Enqueue(tx.conn(), opening.msp_id, kInvitationEmailTopic, id, "first");
    tx.Commit();
    return sent;
  });
  if (relay_) relay_->Wake();
  return opened;
}

StoredLinkRequest OnboardingServiceImpl::OpenOnce(const std::string& msp_id,
                                                  const std::string& request_id, LinkKind kind,
                                                  const std::string& customer_id,
                                                  const std::string& hash,
                                                  const std::function<StoredLinkRequest()>& open) {
  auto replay = [&]() -> std::optional<StoredLinkRequest> {
    std::optional<StoredLinkRequest> prior;
    {
      pg::Lease conn = pool_->Acquire();
      prior = store_.FindReplay(*conn, msp_id, request_id, kind, customer_id, hash);
    }
    if (prior && prior->raw_state == kOpening) return FinishOpening(*prior);
    return prior;
  };
  if (auto prior = replay()) return *prior;
  try {
    return open();
  } catch (const ApiError& e) {
    // A twin with the same request id may have opened it meanwhile: its answer is this one's.
    if (e.code() != grpc::StatusCode::FAILED_PRECONDITION) throw;
    if (auto prior = replay()) return *prior;
    throw;
  }
}

grpc::Status OnboardingServiceImpl::CreateInvitation(grpc::ServerContext* context,
                                                     const v1::CreateInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kCreate, [&](const auth::Principal& principal) {
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    const bool from_service = principal.kind == PrincipalKind::kService;
    const auto services = ValidateCreateInvitation(*request, from_service);
    // A service's request ids are kept apart from those the MSP's admins choose.
    v1::CreateInvitationRequest keyed = *request;
    keyed.set_request_id(idempotency::KeyOf(from_service, request->request_id()));
    const std::string hash = keyed.request_id().empty() ? "" : idempotency::RequestHash(keyed);
    *response = OpenOnce(msp_id, keyed.request_id(), LinkKind::kInvitation, request->customer_id(),
                         hash, [&] { return OpenInvitation(msp_id, keyed, services, principal); })
                    .invitation;
    RedactUnconsented(*response);  // the customer has not consented yet
  });
}

void OnboardingServiceImpl::CheckRecipient(pg::Connection& conn, const std::string& customer_id) {
  if (auto wait = RecipientWait(store_.LockRecipientSends(conn, customer_id), settings_.recipient,
                                std::chrono::system_clock::now())) {
    throw ApiError::ResourceExhausted(
        "RECIPIENT_EMAIL_THROTTLED",
        absl::StrCat("the customer's super admin was sent ", settings_.recipient.burst,
                     " emails in ", settings_.recipient.burst_window.count() / 60, " minutes or ",
                     settings_.recipient.per_day, " in a day from MSPs: try again later"),
        std::chrono::duration_cast<std::chrono::milliseconds>(*wait));
  }
}

StoredLinkRequest OnboardingServiceImpl::OpenInvitation(
    const std::string& msp_id, const v1::CreateInvitationRequest& request,
    const std::vector<knox::KnoxService>& services, const auth::Principal& principal) {
  auto knox = customers_->Lookup(request.customer_id());
  if (!knox) throw ApiError::NotFound("customer", request.customer_id());
  if (!knox->msp_id().empty() && !LinkEnded(knox->customer().state())) {
    throw ApiError::FailedPrecondition(
        knox->customer().state() == cv1::PENDING ? "CUSTOMER_HAS_PENDING_INVITATION"
                                                 : "CUSTOMER_ALREADY_MANAGED",
        "the customer is managed or invited by an MSP", request.customer_id());
  }
  if (!request.knox_manage_tenant_prefix().empty()) {
    // A tenant the account has already stays its own: say so now, not at acceptance.
    assignment::v1::CheckKnoxManageTenantIdRequest check;
    check.set_parent(absl::StrCat("msps/", msp_id));
    check.set_customer(CustomerName(msp_id, request.customer_id()));
    check.set_work_email(knox->customer().contact().work_email());
    check.set_prefix(request.knox_manage_tenant_prefix());
    const auto tenant = assignments_->CheckTenant(check);
    knox::CheckTenantKept(tenant.existing_tenant_id(), request.knox_manage_tenant_prefix(),
                          tenant.tenant_id(), request.customer_id());
  }
  const std::string id = NewInvitationId();
  std::optional<StoredLinkRequest> opening;
  {
    pg::Lease conn = pool_->Acquire();
    CheckRecipient(*conn, request.customer_id());
    opening = store_.InsertOpening(*conn, msp_id, id, request, services, knox->customer(),
                                   std::chrono::system_clock::now() + settings_.invitation_ttl,
                                   principal.Actor());
  }
  if (!opening) {
    throw ApiError::FailedPrecondition("CUSTOMER_HAS_PENDING_INVITATION",
                                       "the customer has an open invitation from an MSP",
                                       request.customer_id());
  }
  return FinishOpening(*opening);
}

grpc::Status OnboardingServiceImpl::GetInvitation(grpc::ServerContext* context,
                                                  const v1::GetInvitationRequest* request,
                                                  v1::Invitation* response) {
  return runtime_->Handle(context, kGet, [&](const auth::Principal& principal) {
    const auto found = FindOwn(principal, request->name(), LinkKind::kInvitation);
    *response = found.invitation;
    // Past its time it is EXPIRED, whether or not the sweeper came by yet.
    if (found.raw_state == v1::Invitation::PENDING && Expired(found)) {
      response->set_state(v1::Invitation::EXPIRED);
    }
    if (principal.kind == PrincipalKind::kMspAdmin) RedactUnconsented(*response);
  });
}

StoredLinkRequest OnboardingServiceImpl::Resend(const auth::Principal& principal,
                                                const std::string& name, LinkKind kind) {
  const auto own = FindOwn(principal, name, kind);
  auto sent = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    auto found = store_.Find(tx.conn(), own.msp_id, IdOf(own), /*for_update=*/true);
    RequireOpen(*found);
    if (auto wait = ResendWait(found->sends, settings_.resend, std::chrono::system_clock::now())) {
      throw ApiError::ResourceExhausted(
          "RESEND_THROTTLED",
          absl::StrCat("the email can be resent once per ",
                       settings_.resend.min_interval.count() / 60, " minutes and ",
                       settings_.resend.max_per_day, " times a day"),
          std::chrono::duration_cast<std::chrono::milliseconds>(*wait));
    }
    CheckRecipient(tx.conn(), found->invitation.customer_id());
    auto updated = store_.RecordSend(tx.conn(), IdOf(own));
    store_.RecordRecipientSend(tx.conn(), found->invitation.customer_id());
    outbox::Enqueue(tx.conn(), own.msp_id, kInvitationEmailTopic, IdOf(own), "resend");
    tx.Commit();
    return updated;
  });
  if (relay_) relay_->Wake();
  return sent;
}

grpc::Status OnboardingServiceImpl::ResendInvitation(grpc::ServerContext* context,
                                                     const v1::ResendInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kResend, [&](const auth::Principal& principal) {
    *response = Resend(principal, request->name(), LinkKind::kInvitation).invitation;
    RedactUnconsented(*response);
  });
}

StoredLinkRequest OnboardingServiceImpl::Close(const StoredLinkRequest& link,
                                               cv1::LinkTransition transition,
                                               v1::Invitation::State state,
                                               const std::string& reason,
                                               const std::string& actor) {
  const std::string id = IdOf(link);
  cv1::TransitionCustomerRequest request;
  request.set_customer_id(link.invitation.customer_id());
  request.set_msp_id(link.msp_id);
  request.set_transition(transition);
  request.set_link_id(id);
  request.set_management_type(link.invitation.management_type());
  customers_->Transition(request, actor);  // idempotent: a retry after a crash passes again
  // Crash tests kill the process here: the customer moved, the request not yet.
  failpoint::CrashIfEnabled("onboarding.close.after_customer_transition");
  auto closed = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    auto current = store_.Find(tx.conn(), link.msp_id, id, /*for_update=*/true);
    if (!current) throw ApiError::NotFound("request", link.invitation.name());
    if (current->raw_state != 1) return *current;  // answered meanwhile: keep that answer
    auto updated = store_.SetState(tx.conn(), id, state, reason);
    if (link.kind == LinkKind::kInvitation && state == v1::Invitation::ACCEPTED) {
      outbox::Enqueue(tx.conn(), link.msp_id, kAssignServicesTopic, id, AssignPayload(updated),
                      actor);
    }
    if (link.kind == LinkKind::kDelink && state == v1::Invitation::ACCEPTED) {
      outbox::Enqueue(tx.conn(), link.msp_id, kEndServicesTopic, id, EndServicesPayload(updated),
                      actor);
      outbox::Enqueue(tx.conn(), link.msp_id, kDelinkNoticeTopic, id, "accepted");
    }
    if (link.kind == LinkKind::kDelink && state == v1::Invitation::REJECTED) {
      outbox::Enqueue(tx.conn(), link.msp_id, kDelinkNoticeTopic, id, "rejected");
    }
    tx.Commit();
    return updated;
  });
  // Only now is the link used up: a crash before this leaves it valid for a retry.
  tokens_->Revoke(PurposeOf(link.kind), id);
  if (relay_) relay_->Wake();
  return closed;
}

grpc::Status OnboardingServiceImpl::CancelInvitation(grpc::ServerContext* context,
                                                     const v1::CancelInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kCancel, [&](const auth::Principal& principal) {
    const auto found = FindOwn(principal, request->name(), LinkKind::kInvitation);
    if (found.raw_state == v1::Invitation::CANCELED) {
      *response = found.invitation;
    } else {
      if (found.raw_state != v1::Invitation::PENDING) RefuseState(found);
      *response =
          Close(found, cv1::CANCEL_INVITATION, v1::Invitation::CANCELED, "", principal.Actor())
              .invitation;
    }
    RedactUnconsented(*response);
  });
}

void OnboardingServiceImpl::CheckToken(const StoredLinkRequest& link, const std::string& token,
                                       const auth::Principal& caller) {
  if (token.empty() || token.size() > 100) {
    throw ApiError::InvalidArgument({{"token", "the token from the email's link"}});
  }
  switch (tokens_->Verify(PurposeOf(link.kind), IdOf(link), token, caller.customer_id)) {
    case TokenCheck::kValid:
      return;
    case TokenCheck::kWrong:
      throw ApiError::PermissionDenied("LINK_TOKEN_INVALID",
                                       "the link's token is not the current one (an older "
                                       "email's link?)");
    case TokenCheck::kMissing:
      throw ApiError::FailedPrecondition("LINK_TOKEN_EXPIRED",
                                         "the link no longer works: ask the MSP to resend it",
                                         link.invitation.name());
  }
}

grpc::Status OnboardingServiceImpl::AcceptInvitation(grpc::ServerContext* context,
                                                     const v1::AcceptInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kAccept, [&](const auth::Principal& principal) {
    const auto found = FindOwn(principal, request->name(), LinkKind::kInvitation);
    if (found.raw_state == v1::Invitation::ACCEPTED) {
      *response = found.invitation;  // the same answer again
      return;
    }
    RequireOpen(found);
    CheckToken(found, request->token(), principal);
    *response =
        Close(found, cv1::ACCEPT_INVITATION, v1::Invitation::ACCEPTED, "", principal.Actor())
            .invitation;
  });
}

grpc::Status OnboardingServiceImpl::RejectInvitation(grpc::ServerContext* context,
                                                     const v1::RejectInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kReject, [&](const auth::Principal& principal) {
    if (request->reason().size() > 500) {
      throw ApiError::InvalidArgument({{"reason", "at most 500 characters"}});
    }
    const auto found = FindOwn(principal, request->name(), LinkKind::kInvitation);
    if (found.raw_state == v1::Invitation::REJECTED) {
      *response = found.invitation;
      return;
    }
    RequireOpen(found);
    CheckToken(found, request->token(), principal);
    *response = Close(found, cv1::REJECT_INVITATION, v1::Invitation::REJECTED, request->reason(),
                      principal.Actor())
                    .invitation;
  });
}

grpc::Status OnboardingServiceImpl::RequestDelink(grpc::ServerContext* context,
                                                  const v1::RequestDelinkRequest* request,
                                                  v1::DelinkRequest* response) {
  return runtime_->Handle(context, kRequestDelink, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("customer", request->customer(), principal);
    idempotency::CheckRequestId(request->request_id());
    const std::string hash =
        request->request_id().empty() ? "" : idempotency::RequestHash(*request);
    *response =
        ToDelink(OpenOnce(ref.msp_id, request->request_id(), LinkKind::kDelink, ref.customer_id,
                          hash, [&] { return OpenDelink(ref, *request, principal); }));
  });
}

StoredLinkRequest OnboardingServiceImpl::OpenDelink(const CustomerRef& ref,
                                                    const v1::RequestDelinkRequest& request,
                                                    const auth::Principal& principal) {
  auto knox = customers_->Lookup(ref.customer_id);
  if (!knox || knox->msp_id() != ref.msp_id) {
    throw ApiError::NotFound("customer", request.customer());
  }
  const std::string id = NewInvitationId();
  std::optional<StoredLinkRequest> opening;
  {
    pg::Lease conn = pool_->Acquire();
    CheckRecipient(*conn, ref.customer_id);
    opening = store_.InsertOpeningDelink(*conn, ref.msp_id, id, request, knox->customer(),
                                         principal.Actor());
  }
  if (!opening) {
    throw ApiError::FailedPrecondition("DELINK_ALREADY_REQUESTED",
                                       "a delink request is already open", request.customer());
  }
  return FinishOpening(*opening);
}

grpc::Status OnboardingServiceImpl::GetDelinkRequest(grpc::ServerContext* context,
                                                     const v1::GetDelinkRequestRequest* request,
                                                     v1::DelinkRequest* response) {
  return runtime_->Handle(context, kGetDelink, [&](const auth::Principal& principal) {
    *response = ToDelink(FindOwn(principal, request->name(), LinkKind::kDelink));
  });
}

grpc::Status OnboardingServiceImpl::ResendDelinkEmail(grpc::ServerContext* context,
                                                      const v1::ResendDelinkEmailRequest* request,
                                                      v1::DelinkRequest* response) {
  return runtime_->Handle(context, kResendDelink, [&](const auth::Principal& principal) {
    *response = ToDelink(Resend(principal, request->name(), LinkKind::kDelink));
  });
}

grpc::Status OnboardingServiceImpl::RevokeDelink(grpc::ServerContext* context,
                                                 const v1::RevokeDelinkRequest* request,
                                                 v1::DelinkRequest* response) {
  return runtime_->Handle(context, kRevokeDelink, [&](const auth::Principal& principal) {
    const auto found = FindOwn(principal, request->name(), LinkKind::kDelink);
    if (found.raw_state == v1::DelinkRequest::REVOKED) {
      *response = ToDelink(found);
      return;
    }
    RequireOpen(found);  // until the customer acts
    *response =
        ToDelink(Close(found, cv1::REVOKE_DELINK, v1::Invitation::CANCELED, "", principal.Actor()));
  });
}

grpc::Status OnboardingServiceImpl::AcceptDelink(grpc::ServerContext* context,
                                                 const v1::AcceptDelinkRequest* request,
                                                 v1::DelinkRequest* response) {
  return runtime_->Handle(context, kAcceptDelink, [&](const auth::Principal& principal) {
    const auto found = FindOwn(principal, request->name(), LinkKind::kDelink);
    if (found.raw_state == v1::DelinkRequest::ACCEPTED) {
      *response = ToDelink(found);
      return;
    }
    RequireOpen(found);
    CheckToken(found, request->token(), principal);
    *response =
        ToDelink(Close(found, cv1::ACCEPT_DELINK, v1::Invitation::ACCEPTED, "", principal.Actor()));
  });
}

grpc::Status OnboardingServiceImpl::RejectDelink(grpc::ServerContext* context,
                                                 const v1::RejectDelinkRequest* request,
                                                 v1::DelinkRequest* response) {
  return runtime_->Handle(context, kRejectDelink, [&](const auth::Principal& principal) {
    const auto found = FindOwn(principal, request->name(), LinkKind::kDelink);
    if (found.raw_state == v1::DelinkRequest::REJECTED) {
      *response = ToDelink(found);
      return;
    }
    RequireOpen(found);
    CheckToken(found, request->token(), principal);
    *response =
        ToDelink(Close(found, cv1::REJECT_DELINK, v1::Invitation::REJECTED, "", principal.Actor()));
  });
}

grpc::Status OnboardingServiceImpl::StartAccountSetup(grpc::ServerContext* context,
                                                      const v1::StartAccountSetupRequest* request,
                                                      v1::StartAccountSetupResponse* response) {
  return runtime_->Handle(context, kStartAccountSetup, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("customer", request->customer(), principal);
    if (request->request_id().empty()) {
      throw ApiError::InvalidArgument({{"request_id", "required: the call is retried"}});
    }
    idempotency::CheckRequestId(request->request_id());
    auto knox = customers_->Lookup(ref.customer_id);
    if (!knox || knox->msp_id() != ref.msp_id) {
      throw ApiError::NotFound("customer", request->customer());
    }
    pg::Lease conn = pool_->Acquire();
    response->set_queued(store_.InsertAccountSetup(*conn, ref.msp_id, NewInvitationId(),
                                                   request->request_id(), knox->customer(),
                                                   settings_.account_setup_ttl));
    if (response->queued() && relay_) relay_->Wake();
  });
}

int OnboardingServiceImpl::Sweep() {
  int changed = 0;
  std::vector<StoredLinkRequest> due, opening;
  {
    pg::Lease conn = pool_->Acquire();
    due = store_.DueToExpire(*conn, 100);
    opening = store_.StaleOpening(*conn, std::chrono::seconds(30), 100);
  }
  for (const auto& invitation : due) {
    try {
      Close(invitation, cv1::EXPIRE_INVITATION, v1::Invitation::EXPIRED, "", "");
      ++changed;
    } catch (const ApiError& e) {
      // The customer accepted in time, but the answer was not recorded here (a crash between
      // the two): finish the acceptance instead.
      auto knox = e.code() == grpc::StatusCode::FAILED_PRECONDITION
                      ? customers_->Lookup(invitation.invitation.customer_id())
                      : std::nullopt;
      if (knox && knox->link_id() == IdOf(invitation) && knox->customer().state() == cv1::ACTIVE) {
        Close(invitation, cv1::ACCEPT_INVITATION, v1::Invitation::ACCEPTED, "", "");
        ++changed;
      } else {
        log::Warn("could not expire an invitation",
                  {{"invitation", invitation.invitation.name()}, {"error", e.what()}});
      }
    } catch (const std::exception& e) {
      log::Warn("could not expire an invitation",
                {{"invitation", invitation.invitation.name()}, {"error", e.what()}});
    }
  }
  {
    // Reminders a while before expiry, each once (marked and queued in one transaction).
    int reminded = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      const auto ids = store_.ClaimReminders(tx.conn(), settings_.remind_before, 100);
      tx.Commit();
      return static_cast<int>(ids.size());
    });
    if (reminded > 0 && relay_) relay_->Wake();
    changed += reminded;
  }
  for (const auto& link : opening) {
    try {
      FinishOpening(link);
      ++changed;
    } catch (const std::exception& e) {
      log::Warn("could not finish a request",
                {{"request", link.invitation.name()}, {"error", e.what()}});
    }
  }
  return changed;
}

}  // namespace msp::onboarding
