#include "domain/link_rules.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::customer {
namespace {

v1::TransitionCustomerRequest Request(v1::LinkTransition t, const std::string& msp = "m1",
                                      const std::string& link = "l1",
                                      v1::ManagementType type = v1::JOINTLY_MANAGED) {
  v1::TransitionCustomerRequest r;
  r.set_customer_id("0123456789");
  r.set_msp_id(msp);
  r.set_transition(t);
  r.set_link_id(link);
  r.set_management_type(type);
  return r;
}

std::string RuleOf(const LinkState& current, const v1::TransitionCustomerRequest& request) {
  try {
    PlanLinkTransition(current, "msps/x/customers/0123456789", request);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::FAILED_PRECONDITION);
    return e.reason();
  }
  return "";
}

const LinkState kUnmanaged{"", v1::ACTIVE, v1::MANAGEMENT_TYPE_UNSPECIFIED, "", true};
const LinkState kPending{"m1", v1::PENDING, v1::JOINTLY_MANAGED, "l1", true};
const LinkState kActiveJoint{"m1", v1::ACTIVE, v1::JOINTLY_MANAGED, "l1", true};
const LinkState kActiveFull{"m1", v1::ACTIVE, v1::FULLY_MANAGED, "l1", false};
const LinkState kDelinkRequested{"m1", v1::DELINK_REQUESTED, v1::JOINTLY_MANAGED, "d1", true};

// After a delink request is revoked or rejected the customer is ACTIVE again and its link is
// that request: the link names the delink request, never an invitation of the same id.
TEST(LinkRules, TheLinkNamesTheResourceThatMadeTheState) {
  LinkPlan invited = PlanLinkTransition(kUnmanaged, "c", Request(v1::INVITE, "m1", "l1"));
  EXPECT_EQ(LinkName(invited.next.msp_id, invited.next.link_id, invited.next.link_resource),
            "msps/m1/invitations/l1");
  LinkState active = kActiveJoint;
  active.link_resource = LinkResource::kInvitation;
  LinkPlan requested = PlanLinkTransition(active, "c", Request(v1::REQUEST_DELINK, "m1", "d1"));
  EXPECT_EQ(requested.next.link_resource, LinkResource::kDelinkRequest);
  for (auto answer : {v1::REVOKE_DELINK, v1::REJECT_DELINK}) {
    LinkPlan back = PlanLinkTransition(requested.next, "c", Request(answer, "m1", "d1"));
    EXPECT_EQ(back.next.state, v1::ACTIVE);
    EXPECT_EQ(LinkName(back.next.msp_id, back.next.link_id, back.next.link_resource),
              "msps/m1/delinkRequests/d1");
  }
  // A customer the MSP added itself has no link.
  EXPECT_EQ(LinkName("m1", "", LinkResource::kNone), "");
  EXPECT_EQ(LinkName("", "l1", LinkResource::kInvitation), "");
}

TEST(LinkRules, WhereEachTransitionMayStart) {
  EXPECT_EQ(RuleOf(kUnmanaged, Request(v1::INVITE)), "");
  for (auto ended : {v1::REJECTED, v1::CANCELED, v1::EXPIRED, v1::DELINKED}) {
    LinkState s = kPending;
    s.state = ended;
    EXPECT_EQ(RuleOf(s, Request(v1::INVITE, "m2", "l9")), "") << v1::State_Name(ended);
  }
  EXPECT_EQ(RuleOf(kPending, Request(v1::INVITE, "m2", "l2")), "CUSTOMER_HAS_PENDING_INVITATION");
  EXPECT_EQ(RuleOf(kActiveJoint, Request(v1::INVITE, "m2", "l2")), "CUSTOMER_ALREADY_MANAGED");
  EXPECT_EQ(RuleOf(kDelinkRequested, Request(v1::INVITE, "m2", "l2")), "CUSTOMER_ALREADY_MANAGED");

  EXPECT_EQ(RuleOf(kPending, Request(v1::ACCEPT_INVITATION)), "");
  EXPECT_EQ(RuleOf(kPending, Request(v1::ACCEPT_INVITATION, "m1", "other")),
            "INVITATION_NOT_PENDING");
  EXPECT_EQ(RuleOf(kPending, Request(v1::ACCEPT_INVITATION, "m2", "l1")), "INVITATION_NOT_PENDING");
  EXPECT_EQ(RuleOf(kUnmanaged, Request(v1::REJECT_INVITATION)), "INVITATION_NOT_PENDING");

  EXPECT_EQ(RuleOf(kActiveJoint, Request(v1::REQUEST_DELINK, "m1", "d1")), "");
  EXPECT_EQ(RuleOf(kActiveFull, Request(v1::REQUEST_DELINK, "m1", "d1")),
            "DELINK_ONLY_JOINTLY_MANAGED");
  EXPECT_EQ(RuleOf(kPending, Request(v1::REQUEST_DELINK, "m1", "d1")), "CUSTOMER_NOT_ACTIVE");
  EXPECT_EQ(RuleOf(kActiveJoint, Request(v1::REQUEST_DELINK, "m2", "d1")), "CUSTOMER_NOT_MANAGED");
  EXPECT_EQ(RuleOf(kDelinkRequested, Request(v1::REQUEST_DELINK, "m1", "d2")),
            "DELINK_ALREADY_REQUESTED");
  EXPECT_EQ(RuleOf(kDelinkRequested, Request(v1::ACCEPT_DELINK, "m1", "d1")), "");
  EXPECT_EQ(RuleOf(kActiveJoint, Request(v1::REVOKE_DELINK, "m1", "d1")), "DELINK_NOT_REQUESTED");
}

TEST(LinkRules, AcceptingSetsTypeLinkTimeAndPortalAccess) {
  auto full = PlanLinkTransition(kPending, "n",
                                 Request(v1::ACCEPT_INVITATION, "m1", "l1", v1::FULLY_MANAGED));
  EXPECT_EQ(full.next.state, v1::ACTIVE);
  EXPECT_EQ(full.next.management_type, v1::FULLY_MANAGED);
  EXPECT_FALSE(full.next.super_admin_portal_access);
  EXPECT_TRUE(full.set_msp_link_time);
  auto joint = PlanLinkTransition(kPending, "n", Request(v1::ACCEPT_INVITATION));
  EXPECT_TRUE(joint.next.super_admin_portal_access);
  auto delinked = PlanLinkTransition(kDelinkRequested, "n", Request(v1::ACCEPT_DELINK, "m1", "d1"));
  EXPECT_EQ(delinked.next.state, v1::DELINKED);
  EXPECT_TRUE(delinked.next.super_admin_portal_access);
}

TEST(LinkRules, ARepeatWithTheSameLinkIsDone) {
  EXPECT_TRUE(PlanLinkTransition(kPending, "n", Request(v1::INVITE)).already_done);
  EXPECT_TRUE(PlanLinkTransition(kActiveJoint, "n", Request(v1::ACCEPT_INVITATION)).already_done);
  LinkState rejected = kPending;
  rejected.state = v1::REJECTED;
  EXPECT_TRUE(PlanLinkTransition(rejected, "n", Request(v1::REJECT_INVITATION)).already_done);
  // But not a different transition from the same end state.
  EXPECT_EQ(RuleOf(rejected, Request(v1::ACCEPT_INVITATION)), "INVITATION_NOT_PENDING");
}

TEST(LinkRules, RequestsAreChecked) {
  auto bad = Request(v1::INVITE, "", "", v1::MANAGEMENT_TYPE_UNSPECIFIED);
  bad.set_customer_id("x");
  try {
    ValidateTransitionRequest(bad);
    FAIL();
  } catch (const ApiError& e) {
    std::vector<std::string> fields;
    for (const auto& v : e.field_violations()) fields.push_back(v.field);
    EXPECT_EQ(fields,
              (std::vector<std::string>{"customer_id", "msp_id", "link_id", "management_type"}));
  }
  EXPECT_NO_THROW(ValidateTransitionRequest(
      Request(v1::REJECT_INVITATION, "m1", "l1", v1::MANAGEMENT_TYPE_UNSPECIFIED)));
}

}  // namespace
}  // namespace msp::customer
