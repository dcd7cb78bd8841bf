#include "onboarding_service.h"

#include "absl/strings/str_cat.h"
#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/failpoint.h"
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

struct InvitationRef {
  std::string msp_id;
  std::string invitation_id;
};

InvitationRef ParseInvitationName(const std::string& name) {
  auto vars = ParseResourceName("msps/{msp}/invitations/{invitation}", name);
  if (!vars || !IsValidInvitationId((*vars)[1])) {
    throw ApiError::InvalidArgument({{"name", "must be msps/{msp}/invitations/{invitation}"}});
  }
  return {(*vars)[0], (*vars)[1]};
}

// An MSP admin's own invitation; another MSP's is NOT_FOUND.
InvitationRef RequireOwnInvitation(const std::string& name, const auth::Principal& principal) {
  InvitationRef ref = ParseInvitationName(name);
  if (principal.kind != PrincipalKind::kMspAdmin || principal.msp_id != ref.msp_id) {
    throw ApiError::NotFound("invitation", name);
  }
  return ref;
}

bool LinkEnded(cv1::State state) {
  return state == cv1::REJECTED || state == cv1::CANCELED || state == cv1::EXPIRED ||
         state == cv1::DELINKED;
}

void Enqueue(pg::Connection& conn, const std::string& msp_id, const std::string& topic,
             const std::string& key, const std::string& payload) {
  outbox::Enqueue(conn, msp_id, topic, key, payload);
}

std::string AssignPayload(const StoredInvitation& stored) {
  assignment::v1::AssignServicesRequest request;
  request.set_parent(stored.invitation.customer());
  for (int s : stored.invitation.services()) {
    request.add_services(static_cast<assignment::v1::KnoxService>(s));
  }
  request.set_knox_manage_tenant_prefix(stored.invitation.knox_manage_tenant_prefix());
  request.set_request_id(
      absl::StrCat("invitation-", ParseInvitationName(stored.invitation.name()).invitation_id));
  return request.SerializeAsString();
}

bool Expired(const v1::Invitation& invitation) {
  return invitation.expire_time().seconds() <
         std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count();
}

[[noreturn]] void RefuseState(const StoredInvitation& stored) {
  throw ApiError::FailedPrecondition(
      absl::StrCat("INVITATION_", v1::Invitation::State_Name(stored.invitation.state())),
      absl::StrCat("the invitation is ", v1::Invitation::State_Name(stored.invitation.state())),
      stored.invitation.name());
}

}  // namespace

OnboardingServiceImpl::OnboardingServiceImpl(pg::Pool* pool, RpcRuntime* runtime,
                                             CustomerLinks* customers, LinkTokens* tokens,
                                             outbox::Relay* relay, OnboardingSettings settings)
    : pool_(pool),
      runtime_(runtime),
      customers_(customers),
      tokens_(tokens),
      relay_(relay),
      settings_(settings) {}

auth::MethodPolicy OnboardingServiceImpl::Policy() {
  auth::MethodPolicy policy;
  for (const auto& m : {kLookup, kCreate, kGet, kResend, kCancel}) {
    policy.Allow(m, {PrincipalKind::kMspAdmin});
  }
  // The customer's super admin answers.
  policy.Allow(kAccept, {PrincipalKind::kCustomerAdmin});
  policy.Allow(kReject, {PrincipalKind::kCustomerAdmin});
  return policy;
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
  });
}

StoredInvitation OnboardingServiceImpl::FinishOpening(const StoredInvitation& opening) {
  const std::string id = ParseInvitationName(opening.invitation.name()).invitation_id;
  cv1::TransitionCustomerRequest transition;
  transition.set_customer_id(opening.invitation.customer_id());
  transition.set_msp_id(opening.msp_id);
  transition.set_transition(cv1::INVITE);
  transition.set_link_id(id);
  transition.set_management_type(opening.invitation.management_type());
  transition.set_actor(absl::StrCat("msp:", opening.msp_id));
  try {
    customers_->Transition(transition);
  } catch (const ApiError& e) {
    if (e.code() != grpc::StatusCode::UNAVAILABLE) {
      pg::Lease conn = pool_->Acquire();
      store_.Delete(*conn, id);  // refused for good: the invitation never existed
    }
    throw;
  }
  auto pending = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    auto current = store_.Find(tx.conn(), opening.msp_id, id, /*for_update=*/true);
    if (!current || current->raw_state != kOpening) return *current;
    auto sent = store_.RecordSend(tx.conn(), id);
    Enqueue(tx.conn(), opening.msp_id, kInvitationEmailTopic, id, "invitation");
    tx.Commit();
    return sent;
  });
  if (relay_) relay_->Wake();
  return pending;
}

grpc::Status OnboardingServiceImpl::CreateInvitation(grpc::ServerContext* context,
                                                     const v1::CreateInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kCreate, [&](const auth::Principal& principal) {
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    const auto services = ValidateCreateInvitation(*request);
    if (!request->request_id().empty()) {
      pg::Lease conn = pool_->Acquire();
      if (auto prior = store_.FindByRequestId(*conn, msp_id, request->request_id())) {
        if (prior->invitation.customer_id() != request->customer_id()) {
          throw ApiError::InvalidArgument(
              {{"request_id", "already used for a different request; use a new request_id"}},
              "REQUEST_ID_REUSED");
        }
        *response =
            prior->raw_state == kOpening ? FinishOpening(*prior).invitation : prior->invitation;
        return;
      }
    }
    auto knox = customers_->Lookup(request->customer_id());
    if (!knox) throw ApiError::NotFound("customer", request->customer_id());
    if (!knox->msp_id().empty() && !LinkEnded(knox->customer().state())) {
      throw ApiError::FailedPrecondition(
          knox->customer().state() == cv1::PENDING ? "CUSTOMER_HAS_PENDING_INVITATION"
                                                   : "CUSTOMER_ALREADY_MANAGED",
          "the customer is managed or invited by an MSP", request->customer_id());
    }
    const std::string id = NewInvitationId();
    {
      pg::Lease conn = pool_->Acquire();
      if (!store_.InsertOpening(*conn, msp_id, id, *request, services, knox->customer(),
                                std::chrono::system_clock::now() + settings_.invitation_ttl)) {
        throw ApiError::FailedPrecondition("CUSTOMER_HAS_PENDING_INVITATION",
                                           "the customer has an open invitation from an MSP",
                                           request->customer_id());
      }
    }
    pg::Lease conn = pool_->Acquire();
    auto opening = store_.Find(*conn, msp_id, id, false);
    *response = FinishOpening(*opening).invitation;
  });
}

grpc::Status OnboardingServiceImpl::GetInvitation(grpc::ServerContext* context,
                                                  const v1::GetInvitationRequest* request,
                                                  v1::Invitation* response) {
  return runtime_->Handle(context, kGet, [&](const auth::Principal& principal) {
    const InvitationRef ref = RequireOwnInvitation(request->name(), principal);
    pg::Lease conn = pool_->Acquire();
    auto found = store_.Find(*conn, ref.msp_id, ref.invitation_id, false);
    if (!found) throw ApiError::NotFound("invitation", request->name());
    *response = found->invitation;
    // Past its time it is EXPIRED, whether or not the sweeper came by yet.
    if (response->state() == v1::Invitation::PENDING && Expired(*response)) {
      response->set_state(v1::Invitation::EXPIRED);
    }
  });
}

grpc::Status OnboardingServiceImpl::ResendInvitation(grpc::ServerContext* context,
                                                     const v1::ResendInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kResend, [&](const auth::Principal& principal) {
    const InvitationRef ref = RequireOwnInvitation(request->name(), principal);
    *response = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto found = store_.Find(tx.conn(), ref.msp_id, ref.invitation_id, /*for_update=*/true);
      if (!found) throw ApiError::NotFound("invitation", request->name());
      if (found->raw_state != v1::Invitation::PENDING) RefuseState(*found);
      if (Expired(found->invitation)) {
        throw ApiError::FailedPrecondition("INVITATION_EXPIRED", "the invitation expired",
                                           request->name());
      }
      if (auto wait =
              ResendWait(found->sends, settings_.resend, std::chrono::system_clock::now())) {
        throw ApiError::ResourceExhausted(
            "RESEND_THROTTLED",
            absl::StrCat("an invitation email can be resent once per ",
                         settings_.resend.min_interval.count() / 60, " minutes and ",
                         settings_.resend.max_per_day, " times a day"),
            std::chrono::duration_cast<std::chrono::milliseconds>(*wait));
      }
      auto sent = store_.RecordSend(tx.conn(), ref.invitation_id);
      Enqueue(tx.conn(), ref.msp_id, kInvitationEmailTopic, ref.invitation_id, "invitation");
      tx.Commit();
      return sent.invitation;
    });
    if (relay_) relay_->Wake();
  });
}

StoredInvitation OnboardingServiceImpl::Close(const StoredInvitation& invitation,
                                              cv1::LinkTransition transition,
                                              v1::Invitation::State state,
                                              const std::string& reason, const std::string& actor) {
  const std::string id = ParseInvitationName(invitation.invitation.name()).invitation_id;
  cv1::TransitionCustomerRequest request;
  request.set_customer_id(invitation.invitation.customer_id());
  request.set_msp_id(invitation.msp_id);
  request.set_transition(transition);
  request.set_link_id(id);
  request.set_management_type(invitation.invitation.management_type());
  request.set_actor(actor);
  customers_->Transition(request);  // idempotent: a retry after a crash passes again
  // Crash tests kill the process here: the customer moved, the invitation not yet.
  failpoint::CrashIfEnabled("onboarding.close.after_customer_transition");
  auto closed = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    auto current = store_.Find(tx.conn(), invitation.msp_id, id, /*for_update=*/true);
    if (current->raw_state != v1::Invitation::PENDING) return *current;
    auto updated = store_.SetState(tx.conn(), id, state, reason);
    if (state == v1::Invitation::ACCEPTED) {
      Enqueue(tx.conn(), invitation.msp_id, kAssignServicesTopic, id, AssignPayload(updated));
    }
    tx.Commit();
    return updated;
  });
  // Only now is the link used up: a crash before this leaves it valid for a retry.
  tokens_->Revoke(LinkPurpose::kInvitation, id);
  if (relay_) relay_->Wake();
  return closed;
}

grpc::Status OnboardingServiceImpl::CancelInvitation(grpc::ServerContext* context,
                                                     const v1::CancelInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kCancel, [&](const auth::Principal& principal) {
    const InvitationRef ref = RequireOwnInvitation(request->name(), principal);
    std::optional<StoredInvitation> found;
    {
      pg::Lease conn = pool_->Acquire();
      found = store_.Find(*conn, ref.msp_id, ref.invitation_id, false);
    }
    if (!found) throw ApiError::NotFound("invitation", request->name());
    if (found->raw_state == v1::Invitation::CANCELED) {
      *response = found->invitation;
      return;
    }
    if (found->raw_state != v1::Invitation::PENDING) RefuseState(*found);
    *response =
        Close(*found, cv1::CANCEL_INVITATION, v1::Invitation::CANCELED, "", principal.Actor())
            .invitation;
  });
}

StoredInvitation OnboardingServiceImpl::FindForCustomer(const auth::Principal& principal,
                                                        const std::string& name) {
  const InvitationRef ref = ParseInvitationName(name);
  pg::Lease conn = pool_->Acquire();
  auto found = store_.Find(*conn, ref.msp_id, ref.invitation_id, false);
  // Only the invited customer's admin sees it at all.
  if (!found || found->invitation.customer_id() != principal.customer_id) {
    throw ApiError::NotFound("invitation", name);
  }
  return *found;
}

void OnboardingServiceImpl::CheckToken(const StoredInvitation& invitation,
                                       const std::string& token) {
  if (token.empty() || token.size() > 100) {
    throw ApiError::InvalidArgument({{"token", "the token from the email's link"}});
  }
  const std::string id = ParseInvitationName(invitation.invitation.name()).invitation_id;
  switch (tokens_->Verify(LinkPurpose::kInvitation, id, token)) {
    case TokenCheck::kValid:
      return;
    case TokenCheck::kWrong:
      throw ApiError::PermissionDenied("LINK_TOKEN_INVALID",
                                       "the link's token is not this invitation's current one "
                                       "(an older email's link?)");
    case TokenCheck::kMissing:
      throw ApiError::FailedPrecondition("LINK_TOKEN_EXPIRED",
                                         "the link no longer works: ask the MSP to resend it",
                                         invitation.invitation.name());
  }
}

grpc::Status OnboardingServiceImpl::AcceptInvitation(grpc::ServerContext* context,
                                                     const v1::AcceptInvitationRequest* request,
                                                     v1::Invitation* response) {
  return runtime_->Handle(context, kAccept, [&](const auth::Principal& principal) {
    const StoredInvitation found = FindForCustomer(principal, request->name());
    if (found.raw_state == v1::Invitation::ACCEPTED) {
      *response = found.invitation;  // the same answer again
      return;
    }
    if (found.raw_state != v1::Invitation::PENDING) RefuseState(found);
    if (Expired(found.invitation)) {
      throw ApiError::FailedPrecondition("INVITATION_EXPIRED", "the invitation expired",
                                         request->name());
    }
    CheckToken(found, request->token());
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
    const StoredInvitation found = FindForCustomer(principal, request->name());
    if (found.raw_state == v1::Invitation::REJECTED) {
      *response = found.invitation;
      return;
    }
    if (found.raw_state != v1::Invitation::PENDING) RefuseState(found);
    if (Expired(found.invitation)) {
      throw ApiError::FailedPrecondition("INVITATION_EXPIRED", "the invitation expired",
                                         request->name());
    }
    CheckToken(found, request->token());
    *response = Close(found, cv1::REJECT_INVITATION, v1::Invitation::REJECTED, request->reason(),
                      principal.Actor())
                    .invitation;
  });
}

int OnboardingServiceImpl::Sweep() {
  int changed = 0;
  std::vector<StoredInvitation> due, opening;
  {
    pg::Lease conn = pool_->Acquire();
    due = store_.DueToExpire(*conn, 100);
    opening = store_.StaleOpening(*conn, std::chrono::seconds(30), 100);
  }
  for (const auto& invitation : due) {
    try {
      Close(invitation, cv1::EXPIRE_INVITATION, v1::Invitation::EXPIRED, "", "service:onboarding");
      ++changed;
    } catch (const ApiError& e) {
      // The customer accepted in time, but the answer was not recorded here (a crash between
      // the two): finish the acceptance instead.
      auto knox = e.code() == grpc::StatusCode::FAILED_PRECONDITION
                      ? customers_->Lookup(invitation.invitation.customer_id())
                      : std::nullopt;
      const std::string id = ParseInvitationName(invitation.invitation.name()).invitation_id;
      if (knox && knox->link_id() == id && knox->customer().state() == cv1::ACTIVE) {
        Close(invitation, cv1::ACCEPT_INVITATION, v1::Invitation::ACCEPTED, "",
              "service:onboarding");
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
  for (const auto& invitation : opening) {
    try {
      FinishOpening(invitation);
      ++changed;
    } catch (const std::exception& e) {
      log::Warn("could not finish an invitation",
                {{"invitation", invitation.invitation.name()}, {"error", e.what()}});
    }
  }
  return changed;
}

}  // namespace msp::onboarding
