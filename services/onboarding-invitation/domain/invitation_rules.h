#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "msp/common/knox_services.h"
#include "msp/common/mailer.h"
#include "msp/onboarding/v1/onboarding.pb.h"

namespace msp::onboarding {

// Checks a CreateInvitationRequest's own fields (msp/common/invitation_request.h; the customer
// is checked against the customer service) and its request id (with `from_service`: a
// service's, as a bulk job's row names it). Returns the services, each once. Throws
// INVALID_ARGUMENT naming the fields.
std::vector<knox::KnoxService> ValidateCreateInvitation(const v1::CreateInvitationRequest& request,
                                                        bool from_service = false);

// Invitation ids: 16 random characters of lowercase base32.
std::string NewInvitationId();
bool IsValidInvitationId(std::string_view id);
std::string InvitationName(const std::string& msp_id, const std::string& invitation_id);

// Resends: at most one per `min_interval`, `max_per_day` in a rolling day.
struct ResendLimits {
  std::chrono::seconds min_interval{5 * 60};
  int max_per_day = 10;
};
struct SendHistory {
  std::chrono::system_clock::time_point last_send;
  std::chrono::system_clock::time_point window_start;  // the rolling day's start
  int sends_in_window = 0;
};
// How long until a resend is allowed (nullopt: now).
std::optional<std::chrono::seconds> ResendWait(const SendHistory& history,
                                               const ResendLimits& limits,
                                               std::chrono::system_clock::time_point now);

// Emails an MSP makes the service send to one customer's super admin, across all its
// invitations and delink requests (first emails and resends alike): at most `burst` within
// `burst_window`, and `per_day` in a rolling day. Cancelling and inviting again is no way
// around it. Emails the customer's own answers cause (confirmations, reminders) do not count.
struct RecipientLimits {
  int burst = 3;
  std::chrono::seconds burst_window{10 * 60};
  int per_day = 10;
};
// How long until one more email to the recipient is allowed (nullopt: now), given the times of
// its recent ones (any order).
std::optional<std::chrono::seconds> RecipientWait(
    const std::vector<std::chrono::system_clock::time_point>& recent_sends,
    const RecipientLimits& limits, std::chrono::system_clock::time_point now);

// The email to the customer's super admin with the accept and reject links.
struct EmailSettings {
  std::string from = "noreply@msp-portal.example";
  std::string from_name = "Knox MSP Portal";
  std::string message_id_domain = "msp-portal.example";
  std::string portal_url = "http://localhost:8080";  // where the customer's links lead
  // Where an MSP is told about its delink requests ("{msp}" is replaced by the MSP id).
  std::string msp_notify_address = "msp-{msp}@msp-portal.example";
  // How long a delink email's link works (a resend issues a new one).
  std::chrono::seconds delink_link_ttl{30 * 24 * 3600};
};
mail::Email InvitationEmail(const v1::Invitation& invitation, const std::string& msp_id,
                            const std::string& token, const EmailSettings& settings, bool reminder);

// The account-set-up email of a new jointly managed customer: create the Samsung Knox account
// with this link. `id` numbers its Message-ID.
mail::Email AccountSetupEmail(const std::string& customer_name, const std::string& msp_id,
                              const std::string& company_name,
                              const customer::v1::ContactPerson& contact, const std::string& id,
                              const std::string& token, const EmailSettings& settings);

// The delink request email to the customer's super admin, with the accept / reject link.
// `request_name` is msps/{msp}/delinkRequests/{id}; `send_count` numbers its Message-ID.
mail::Email DelinkEmail(const std::string& request_name, const std::string& msp_id,
                        const std::string& company_name, const customer::v1::ContactPerson& contact,
                        int send_count, const std::string& token, const EmailSettings& settings);

// What happened to a delink request, told by email: to the customer (`to_customer`) or to the
// MSP's notification address. `outcome` is "accepted" or "rejected".
mail::Email DelinkOutcomeEmail(const std::string& request_name, const std::string& msp_id,
                               const std::string& company_name, const std::string& to,
                               const std::string& greeting_name, const std::string& outcome,
                               bool to_customer, const EmailSettings& settings);

}  // namespace msp::onboarding
