#pragma once

#include <string>

#include "msp/customer/v1/customer.pb.h"

// A customer's link with an MSP: who manages or invites it, in which state, for which
// invitation or delink request. The onboarding service drives it through TransitionCustomer;
// these are the rules of which transition may start from where.
namespace msp::customer {

// Which resource link_id names: the customer's link is the invitation that made or offers it,
// or the delink request that last changed it (also once revoked or rejected: the state
// belongs to that request then).
enum class LinkResource { kNone = 0, kInvitation = 1, kDelinkRequest = 2 };

struct LinkState {
  std::string msp_id;  // "" when no MSP manages or invites the customer
  v1::State state = v1::ACTIVE;
  v1::ManagementType management_type = v1::MANAGEMENT_TYPE_UNSPECIFIED;
  std::string link_id;  // the invitation or delink request the state belongs to
  bool super_admin_portal_access = true;
  LinkResource link_resource = LinkResource::kNone;
};

// The customer's `link`: msps/{msp}/invitations/{id} or msps/{msp}/delinkRequests/{id}; "" when
// no MSP is linked or no request made the link (a customer the MSP added itself).
std::string LinkName(const std::string& msp_id, const std::string& link_id, LinkResource resource);

struct LinkPlan {
  LinkState next;
  bool already_done = false;  // the same transition with the same link_id was done before
  bool set_msp_link_time = false;
  std::string event_action;  // the audit trail's name for it
};

// Checks the request's fields. Throws INVALID_ARGUMENT naming them.
void ValidateTransitionRequest(const v1::TransitionCustomerRequest& request);

// What the transition does to `current`. Throws FAILED_PRECONDITION naming the rule when it
// may not start from there (without naming another MSP).
LinkPlan PlanLinkTransition(const LinkState& current, const std::string& customer_name,
                            const v1::TransitionCustomerRequest& request);

}  // namespace msp::customer
