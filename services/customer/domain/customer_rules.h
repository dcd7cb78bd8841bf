#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "msp/common/errors.h"
#include "msp/common/knox_services.h"
#include "msp/common/tenancy.h"
#include "msp/customer/v1/customer.pb.h"

// The rules of the domain text for customer accounts, as plain functions over the API's
// messages: no server, no database. Each broken rule is an ApiError with a named reason.
namespace msp::customer {

// Free-mail providers: a contact on one of them can't be jointly managed. An entry without a
// dot ("gmail") matches that provider under any public suffix (gmail.com, gmail.co.uk) and
// any subdomain; an entry with a dot ("mail.ru") matches that domain and its subdomains.
class FreeMailDomains {
 public:
  static std::vector<std::string> Defaults();
  explicit FreeMailDomains(std::vector<std::string> entries = Defaults());
  bool IsFreeMail(std::string_view email) const;

 private:
  std::vector<std::string> entries_;
};

// Trims every text field, upper-cases the country code, lower-cases the email, and reduces
// the phone number to "+" and digits. Validation runs on the normalised form.
void Normalize(v1::Customer& customer);

// Field-level checks of a whole customer (formats, lengths, required fields). Paths are
// prefixed with `prefix`, e.g. "customer.". Empty when everything is well-formed.
std::vector<FieldViolation> ValidateCustomerFields(const v1::Customer& customer,
                                                   const std::string& prefix);

// CreateCustomer: every field, the management type, and the free-mail rule. Throws ApiError.
void ValidateNewCustomer(const v1::Customer& customer, const FreeMailDomains& free_mail);

// CreateCustomer's services (each known, listed once) and the Knox Manage tenant prefix (only
// with KNOX_MANAGE, well-formed). Throws ApiError INVALID_ARGUMENT naming the field.
std::vector<knox::KnoxService> ValidateRequestedServices(const v1::CreateCustomerRequest& request);

// The paths UpdateCustomer accepts, after expanding "company" and "company.address".
std::vector<std::string> ExpandUpdateMask(const std::vector<std::string>& paths);

struct UpdatePlan {
  v1::Customer updated;
  std::vector<std::string> changed_fields;  // leaf paths whose value really changed
};

// UpdateCustomer: checks the state and the editing rules, applies the masked fields of
// `patch` to `current` and validates the result. Throws ApiError.
UpdatePlan PlanUpdate(const v1::Customer& current, const v1::Customer& patch,
                      const std::vector<std::string>& mask_paths);

// An invitation of an existing Knox customer: jointly managed never for a super admin on a
// free-mail domain. Throws FAILED_PRECONDITION FREE_MAIL_DOMAIN_NOT_ALLOWED.
void CheckInvitedManagement(const v1::Customer& customer, v1::ManagementType type,
                            const FreeMailDomains& free_mail);

// UpgradeToJointlyManaged: FULLY -> JOINTLY only, never for a free-mail contact. Throws.
void CheckUpgrade(const v1::Customer& current, const FreeMailDomains& free_mail);
// The upgraded account: jointly managed, its super admin with full access to the Knox portals
// (as a customer created jointly managed has). Throws as CheckUpgrade.
v1::Customer PlanUpgrade(const v1::Customer& current, const FreeMailDomains& free_mail);

// The account can be edited at all (ACTIVE; never while DELINK_REQUESTED). Throws.
void CheckEditable(const v1::Customer& current);

// `msps/{msp}/customers/{customer}`.
std::string CustomerName(const std::string& msp_id, const std::string& customer_id);
// The etag of a stored version of a customer.
std::string CustomerEtag(int64_t version);

// Fills in what the server decides for a new customer: its id and resource name, ACTIVE, the
// times of creation and MSP link (now), the first etag.
void PrepareNewCustomer(v1::Customer& customer, const std::string& msp_id, const std::string& id,
                        int64_t now_micros);

// A new customer id: 10 random characters of lower-case Crockford base32 (50 bits).
std::string NewCustomerId();

bool IsValidCountryCode(std::string_view code);

}  // namespace msp::customer
