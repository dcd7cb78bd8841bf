#pragma once

// The onboarding-invitation service's outbox topics, declared once: the relay delivers them,
// and the SQL that writes them names them through these constants.
namespace msp::onboarding {

// Invitation emails (key: the invitation id; payload "first" or "reminder").
inline constexpr char kInvitationEmailTopic[] = "invitation-email";
// The services an accepted invitation assigns (payload: AssignServicesRequest).
inline constexpr char kAssignServicesTopic[] = "assign-services";
// Ends a delinked customer's services (payload: EndCustomerServicesRequest).
inline constexpr char kEndServicesTopic[] = "end-services";
// Tells the customer and the MSP how a delink request ended (key: its id; payload "accepted"
// or "rejected").
inline constexpr char kDelinkNoticeTopic[] = "delink-notice";

}  // namespace msp::onboarding
