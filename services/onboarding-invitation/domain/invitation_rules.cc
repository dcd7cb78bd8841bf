#include "invitation_rules.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "msp/common/errors.h"
#include "msp/common/idempotency.h"
#include "msp/common/invitation_request.h"
#include "msp/common/tenancy.h"

namespace msp::onboarding {
namespace {

constexpr std::string_view kBase32 = "abcdefghijklmnopqrstuvwxyz234567";

std::string FormatDate(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

// Percent-encodes a query value (tokens are base64url already; names have '/').
std::string QueryValue(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

}  // namespace

std::vector<knox::KnoxService> ValidateCreateInvitation(const v1::CreateInvitationRequest& request,
                                                        bool from_service) {
  std::vector<FieldViolation> violations;
  std::vector<knox::KnoxService> services;
  try {
    services = ValidateInvitationTerms(request);
  } catch (const ApiError& e) {
    violations = e.field_violations();
  }
  try {
    idempotency::CheckRequestId(request.request_id(), "request_id", from_service);
  } catch (const ApiError& e) {
    for (const auto& v : e.field_violations()) violations.push_back(v);
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
  return services;
}

std::string NewInvitationId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string id;
  for (unsigned char b : bytes) id.push_back(kBase32[b % 32]);
  return id;
}

bool IsValidInvitationId(std::string_view id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return kBase32.find(c) != std::string_view::npos;
         });
}

std::string InvitationName(const std::string& msp_id, const std::string& invitation_id) {
  return absl::StrCat("msps/", msp_id, "/invitations/", invitation_id);
}

std::optional<std::chrono::seconds> ResendWait(const SendHistory& history,
                                               const ResendLimits& limits,
                                               std::chrono::system_clock::time_point now) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  const auto since_last = now - history.last_send;
  if (since_last < limits.min_interval) {
    return duration_cast<seconds>(limits.min_interval - since_last) + seconds(1);
  }
  const auto day = std::chrono::hours(24);
  if (now - history.window_start < day && history.sends_in_window >= limits.max_per_day) {
    return duration_cast<seconds>(day - (now - history.window_start)) + seconds(1);
  }
  return std::nullopt;
}

std::optional<std::chrono::seconds> RecipientWait(
    const std::vector<std::chrono::system_clock::time_point>& recent_sends,
    const RecipientLimits& limits, std::chrono::system_clock::time_point now) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  std::vector<std::chrono::system_clock::time_point> sends = recent_sends;
  std::sort(sends.begin(), sends.end(), std::greater<>());  // newest first
  std::optional<seconds> wait;
  auto must_wait_for = [&](std::chrono::system_clock::duration window, int allowed) {
    // The `allowed`-th newest send within the window must leave it first.
    if (allowed <= 0 || static_cast<int>(sends.size()) < allowed) return;
    const auto oldest_counted = sends[static_cast<size_t>(allowed - 1)];
    if (now - oldest_counted >= window) return;
    const seconds until = duration_cast<seconds>(window - (now - oldest_counted)) + seconds(1);
    if (!wait || until > *wait) wait = until;
  };
  must_wait_for(limits.burst_window, limits.burst);
  must_wait_for(std::chrono::hours(24), limits.per_day);
  return wait;
}

mail::Email InvitationEmail(const v1::Invitation& invitation, const std::string& msp_id,
                            const std::string& token, const EmailSettings& settings,
                            bool reminder) {
  std::vector<std::string> services;
  for (int s : invitation.services()) {
    services.push_back(std::string(knox::DisplayName(static_cast<knox::KnoxService>(s))));
  }
  const std::string link = absl::StrCat(settings.portal_url, "/invitations/respond?invitation=",
                                        QueryValue(invitation.name()), "&token=", token);
  const bool fully = invitation.management_type() == customer::v1::FULLY_MANAGED;
  mail::Email email;
  email.from = settings.from;
  email.from_name = settings.from_name;
  email.to = invitation.contact().work_email();
  email.subject = absl::StrCat(reminder ? "Reminder: " : "", "MSP ", msp_id,
                               " asks to manage Knox services for ", invitation.company_name());
  email.text_body = absl::StrCat(
      "Hello ", invitation.contact().first_name(), ",\n\n", "The managed service provider ", msp_id,
      " asks to manage these Knox services for ", invitation.company_name(), ":\n  ",
      absl::StrJoin(services, "\n  "), "\n\n",
      fully ? "As a fully managed customer, your super admin will no longer have access to the "
              "Knox service portals: only the MSP will.\n"
            : "As a jointly managed customer, you keep full access to the Knox service portals "
              "and manage your devices together with the MSP.\n",
      "\nTo accept or reject, sign in to the Knox portal and open:\n  ", link, "\n\n",
      "The link works until ", FormatDate(invitation.expire_time()),
      " and only for your account. If you did not expect this email, reject it or ignore "
      "it.\n");
  email.message_id = absl::StrCat(
      "invitation-", invitation.name().substr(invitation.name().rfind('/') + 1), "-",
      invitation.send_count(), reminder ? "-reminder" : "", "@", settings.message_id_domain);
  return email;
}

mail::Email AccountSetupEmail(const std::string& customer_name, const std::string& msp_id,
                              const std::string& company_name,
                              const customer::v1::ContactPerson& contact, const std::string& id,
                              const std::string& token, const EmailSettings& settings) {
  const std::string link = absl::StrCat(
      settings.portal_url, "/account-setup?customer=", QueryValue(customer_name), "&token=", token);
  mail::Email email;
  email.from = settings.from;
  email.from_name = settings.from_name;
  email.to = contact.work_email();
  email.subject = absl::StrCat("Set up the Samsung Knox account of ", company_name);
  email.text_body = absl::StrCat(
      "Hello ", contact.first_name(), ",\n\n", "The managed service provider ", msp_id, " added ",
      company_name,
      " as a jointly managed customer: you and the MSP manage your devices together, and you "
      "have full access to the Knox service portals.\n\nCreate your Samsung Knox account with "
      "this link, then sign in at SamsungKnox.com:\n  ",
      link, "\n");
  email.message_id = absl::StrCat("account-setup-", id, "@", settings.message_id_domain);
  return email;
}

mail::Email DelinkEmail(const std::string& request_name, const std::string& msp_id,
                        const std::string& company_name, const customer::v1::ContactPerson& contact,
                        int send_count, const std::string& token, const EmailSettings& settings) {
  const std::string link = absl::StrCat(
      settings.portal_url, "/delink/respond?request=", QueryValue(request_name), "&token=", token);
  mail::Email email;
  email.from = settings.from;
  email.from_name = settings.from_name;
  email.to = contact.work_email();
  email.subject = absl::StrCat("MSP ", msp_id, " asks to stop managing ", company_name);
  email.text_body = absl::StrCat(
      "Hello ", contact.first_name(), ",\n\n", "The managed service provider ", msp_id,
      " asks to stop managing the Knox services of ", company_name, ".\n\n",
      "If you accept, you manage your Knox services yourself: your super admin gets full "
      "access, sub-admins and licenses stay. If you have no Knox cloud services account yet, "
      "you are guided through creating one. Until you act, the MSP keeps managing your "
      "services.\n\nTo accept or reject, sign in to the Knox portal and open:\n  ",
      link, "\n");
  email.message_id = absl::StrCat("delink-", request_name.substr(request_name.rfind('/') + 1), "-",
                                  send_count, "@", settings.message_id_domain);
  return email;
}

mail::Email DelinkOutcomeEmail(const std::string& request_name, const std::string& msp_id,
                               const std::string& company_name, const std::string& to,
                               const std::string& greeting_name, const std::string& outcome,
                               bool to_customer, const EmailSettings& settings) {
  mail::Email email;
  email.from = settings.from;
  email.from_name = settings.from_name;
  email.to = to;
  const bool accepted = outcome == "accepted";
  email.subject = to_customer ? absl::StrCat("You now manage ", company_name, "'s Knox services")
                              : absl::StrCat(company_name, " ", outcome, " your delink request");
  email.text_body =
      to_customer
          ? absl::StrCat("Hello ", greeting_name, ",\n\n", "You accepted the delink request of ",
                         msp_id, ". The MSP no longer manages ", company_name,
                         "; your super admin has full access to the Knox portals.\n")
          : absl::StrCat("Hello ", msp_id, ",\n\n", company_name,
                         accepted ? " accepted your delink request: you no longer manage the "
                                    "customer or its services.\n"
                                  : " rejected your delink request: you keep managing the "
                                    "customer as before.\n",
                         "Request: ", request_name, "\n");
  email.message_id =
      absl::StrCat("delink-", request_name.substr(request_name.rfind('/') + 1), "-", outcome,
                   to_customer ? "-customer" : "-msp", "@", settings.message_id_domain);
  return email;
}

}  // namespace msp::onboarding
