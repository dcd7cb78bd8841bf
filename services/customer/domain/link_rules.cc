#include "link_rules.h"

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/idempotency.h"
#include "msp/common/resource_names.h"
#include "msp/common/tenancy.h"

namespace msp::customer {
namespace {

bool LinkEnded(v1::State state) {
  return state == v1::REJECTED || state == v1::CANCELED || state == v1::EXPIRED ||
         state == v1::DELINKED;
}

bool SameLink(const LinkState& current, const v1::TransitionCustomerRequest& request) {
  return current.msp_id == request.msp_id() && current.link_id == request.link_id();
}

[[noreturn]] void Refuse(const std::string& rule, const std::string& message,
                         const std::string& customer_name) {
  throw ApiError::FailedPrecondition(rule, message, customer_name);
}

// For a transition of an open link (an invitation or a delink request of this MSP).
void RequireOpenLink(const LinkState& current, const v1::TransitionCustomerRequest& request,
                     v1::State open_state, const std::string& rule,
                     const std::string& customer_name) {
  if (!SameLink(current, request) || current.state != open_state) {
    Refuse(
        rule,
        absl::StrCat(
            "the customer has no ", v1::State_Name(open_state), " link with this id (it is ",
            SameLink(current, request) ? v1::State_Name(current.state) : std::string("elsewhere"),
            ")"),
        customer_name);
  }
}

}  // namespace

std::string LinkName(const std::string& msp_id, const std::string& link_id, LinkResource resource) {
  if (msp_id.empty() || link_id.empty() || resource == LinkResource::kNone) return "";
  return absl::StrCat(
      "msps/", msp_id,
      resource == LinkResource::kDelinkRequest ? "/delinkRequests/" : "/invitations/", link_id);
}

void ValidateTransitionRequest(const v1::TransitionCustomerRequest& request) {
  std::vector<FieldViolation> violations;
  if (!IsValidCustomerId(request.customer_id())) {
    violations.push_back({"customer_id", "a customer id: 10 characters"});
  }
  if (!IsValidResourceId(request.msp_id())) violations.push_back({"msp_id", "an MSP id"});
  if (request.transition() == v1::LINK_TRANSITION_UNSPECIFIED ||
      !v1::LinkTransition_IsValid(request.transition())) {
    violations.push_back({"transition", "required"});
  }
  if (request.link_id().empty() || request.link_id().size() > 64) {
    violations.push_back({"link_id", "1-64 characters: the invitation or delink request id"});
  }
  const bool needs_type =
      request.transition() == v1::INVITE || request.transition() == v1::ACCEPT_INVITATION;
  if (needs_type && request.management_type() != v1::FULLY_MANAGED &&
      request.management_type() != v1::JOINTLY_MANAGED) {
    violations.push_back({"management_type", "FULLY_MANAGED or JOINTLY_MANAGED"});
  }
  // An admin's request id or a service's (a bulk job's row).
  if (!request.request_id().empty() &&
      !idempotency::IsValidServiceRequestId(request.request_id())) {
    violations.push_back({"request_id", "a request id"});
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
}

LinkPlan PlanLinkTransition(const LinkState& current, const std::string& customer_name,
                            const v1::TransitionCustomerRequest& request) {
  LinkPlan plan;
  plan.next = current;
  auto done_if = [&](v1::State state) {
    if (SameLink(current, request) && current.state == state) {
      plan.already_done = true;
      return true;
    }
    return false;
  };
  switch (request.transition()) {
    case v1::INVITE:
      if (done_if(v1::PENDING)) return plan;
      if (!current.msp_id.empty() && !LinkEnded(current.state)) {
        // Managed or invited by an MSP: which one is not said.
        Refuse(current.state == v1::PENDING ? "CUSTOMER_HAS_PENDING_INVITATION"
                                            : "CUSTOMER_ALREADY_MANAGED",
               current.state == v1::PENDING
                   ? "the customer has an open invitation from an MSP"
                   : "the customer is managed by an MSP: it must be delinked first",
               customer_name);
      }
      plan.next = {request.msp_id(),
                   v1::PENDING,
                   request.management_type(),
                   request.link_id(),
                   current.super_admin_portal_access,
                   LinkResource::kInvitation};
      plan.event_action = "INVITED";
      return plan;
    case v1::ACCEPT_INVITATION:
      if (done_if(v1::ACTIVE)) return plan;
      RequireOpenLink(current, request, v1::PENDING, "INVITATION_NOT_PENDING", customer_name);
      plan.next.state = v1::ACTIVE;
      plan.next.management_type = request.management_type();
      // A fully managed customer's super admin loses access to the Knox portals.
      plan.next.super_admin_portal_access = request.management_type() == v1::JOINTLY_MANAGED;
      plan.set_msp_link_time = true;
      plan.event_action = "INVITATION_ACCEPTED";
      return plan;
    case v1::REJECT_INVITATION:
    case v1::CANCEL_INVITATION:
    case v1::EXPIRE_INVITATION: {
      const v1::State to = request.transition() == v1::REJECT_INVITATION   ? v1::REJECTED
                           : request.transition() == v1::CANCEL_INVITATION ? v1::CANCELED
                                                                           : v1::EXPIRED;
      if (done_if(to)) return plan;
      RequireOpenLink(current, request, v1::PENDING, "INVITATION_NOT_PENDING", customer_name);
      plan.next.state = to;
      plan.event_action = absl::StrCat("INVITATION_", v1::State_Name(to));
      return plan;
    }
    case v1::REQUEST_DELINK:
      if (done_if(v1::DELINK_REQUESTED)) return plan;
      if (current.msp_id != request.msp_id()) {
        Refuse("CUSTOMER_NOT_MANAGED", "the MSP does not manage this customer", customer_name);
      }
      if (current.state == v1::DELINK_REQUESTED) {
        Refuse("DELINK_ALREADY_REQUESTED", "a delink request is already open", customer_name);
      }
      if (current.state != v1::ACTIVE) {
        Refuse("CUSTOMER_NOT_ACTIVE",
               absl::StrCat("only an ACTIVE customer can be delinked; this one is ",
                            v1::State_Name(current.state)),
               customer_name);
      }
      if (current.management_type != v1::JOINTLY_MANAGED) {
        Refuse("DELINK_ONLY_JOINTLY_MANAGED",
               "only a jointly managed customer can be delinked (upgrade it first)", customer_name);
      }
      plan.next.state = v1::DELINK_REQUESTED;
      plan.next.link_id = request.link_id();
      plan.next.link_resource = LinkResource::kDelinkRequest;
      plan.event_action = "DELINK_REQUESTED";
      return plan;
    case v1::REVOKE_DELINK:
    case v1::REJECT_DELINK:
      if (done_if(v1::ACTIVE)) return plan;
      RequireOpenLink(current, request, v1::DELINK_REQUESTED, "DELINK_NOT_REQUESTED",
                      customer_name);
      plan.next.state = v1::ACTIVE;
      plan.event_action =
          request.transition() == v1::REVOKE_DELINK ? "DELINK_REVOKED" : "DELINK_REJECTED";
      return plan;
    case v1::ACCEPT_DELINK:
      if (done_if(v1::DELINKED)) return plan;
      RequireOpenLink(current, request, v1::DELINK_REQUESTED, "DELINK_NOT_REQUESTED",
                      customer_name);
      plan.next.state = v1::DELINKED;
      plan.next.super_admin_portal_access = true;  // the customer's own again
      plan.event_action = "DELINKED";
      return plan;
    default:
      throw ApiError::InvalidArgument({{"transition", "required"}});
  }
}

}  // namespace msp::customer
