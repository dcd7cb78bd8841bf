#include "customer_rules.h"

#include <openssl/rand.h>

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "msp/common/strings.h"

namespace msp::customer {
namespace {

constexpr char kCrockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

// ISO 3166-1 alpha-2, officially assigned codes.
constexpr std::string_view kCountryCodes =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW";

std::string Trimmed(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Counts UTF-8 code points, so limits mean characters, not bytes.
size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

void CheckText(std::vector<FieldViolation>& out, const std::string& path, const std::string& value,
               bool required, size_t max_chars) {
  if (value.empty()) {
    if (required) out.push_back({path, "required"});
    return;
  }
  if (Utf8Length(value) > max_chars) {
    out.push_back({path, absl::StrCat("at most ", max_chars, " characters")});
  } else if (auto problem = UnsafeTextProblem(value)) {
    out.push_back({path, *problem});
  }
}

bool IsDomainLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
    return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::vector<absl::string_view> labels = absl::StrSplit(AbslView(host), '.');
  if (labels.size() < 2) return false;
  for (auto l : labels) {
    if (!IsDomainLabel(std::string_view(l.data(), l.size()))) return false;
  }
  const auto tld = labels.back();
  return tld.size() >= 2 && std::all_of(tld.begin(), tld.end(), [](char c) {
           return absl::ascii_isalpha(static_cast<unsigned char>(c));
         });
}

bool IsEmail(std::string_view email) {
  if (email.size() > 254) return false;
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const auto local = email.substr(0, at);
  if (local.size() > 64 || local.front() == '.' || local.back() == '.' ||
      absl::StrContains(AbslView(local), "..")) {
    return false;
  }
  for (char c : local) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("!#$%&'*+/=?^_`{|}~.-").find(c) != std::string_view::npos)) {
      return false;
    }
  }
  return IsHostName(email.substr(at + 1));
}

bool IsPhone(std::string_view phone) {
  if (phone.size() < 8 || phone.size() > 16 || phone.front() != '+') return false;
  return std::all_of(phone.begin() + 1, phone.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

bool IsZip(std::string_view zip) {
  if (zip.size() < 2 || zip.size() > 12) return false;
  bool alnum = false;
  for (char c : zip) {
    const bool a = absl::ascii_isalnum(static_cast<unsigned char>(c));
    alnum |= a;
    if (!a && c != ' ' && c != '-') return false;
  }
  return alnum;
}

bool IsWebsite(std::string_view uri) {
  if (uri.size() > 2048) return false;
  std::string_view rest;
  if (absl::StartsWithIgnoreCase(AbslView(uri), "https://")) {
    rest = uri.substr(8);
  } else if (absl::StartsWithIgnoreCase(AbslView(uri), "http://")) {
    rest = uri.substr(7);
  } else {
    return false;
  }
  if (std::any_of(rest.begin(), rest.end(), [](char c) {
        return absl::ascii_isspace(static_cast<unsigned char>(c)) ||
               static_cast<unsigned char>(c) < 0x20;
      })) {
    return false;
  }
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.find('@') != std::string_view::npos) return false;  // no credentials in the URL
  host = host.substr(0, host.find(':'));
  return IsHostName(absl::AsciiStrToLower(AbslView(host)));
}

struct Leaf {
  const char* path;
  std::function<void(const v1::Customer& from, v1::Customer& to)> copy;
};

// Every field UpdateCustomer may touch, each with how to copy it.
const std::vector<Leaf>& Leaves() {
  static const auto* leaves = new std::vector<Leaf>{
      {"company.display_name",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->set_display_name(f.company().display_name());
       }},
      {"company.size", [](const v1::Customer& f,
                          v1::Customer& t) { t.mutable_company()->set_size(f.company().size()); }},
      {"company.industries",
       [](const v1::Customer& f, v1::Customer& t) {
         *t.mutable_company()->mutable_industries() = f.company().industries();
       }},
      {"company.country_code",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->set_country_code(f.company().country_code());
       }},
      {"company.address.address_line1",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->mutable_address()->set_address_line1(
             f.company().address().address_line1());
       }},
      {"company.address.address_line2",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->mutable_address()->set_address_line2(
             f.company().address().address_line2());
       }},
      {"company.address.city",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->mutable_address()->set_city(f.company().address().city());
       }},
      {"company.address.state",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->mutable_address()->set_state(f.company().address().state());
       }},
      {"company.address.zip_code",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->mutable_address()->set_zip_code(f.company().address().zip_code());
       }},
      {"company.website_uri",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_company()->set_website_uri(f.company().website_uri());
       }},
      {"contact.first_name",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_contact()->set_first_name(f.contact().first_name());
       }},
      {"contact.last_name",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_contact()->set_last_name(f.contact().last_name());
       }},
      {"contact.work_email",
       [](const v1::Customer& f, v1::Customer& t) {
         t.mutable_contact()->set_work_email(f.contact().work_email());
       }},
  };
  return *leaves;
}

const Leaf* FindLeaf(std::string_view path) {
  for (const auto& leaf : Leaves()) {
    if (path == leaf.path) return &leaf;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> FreeMailDomains::Defaults() {
  return {"gmail", "googlemail", "outlook",     "hotmail", "live", "msn",    "yahoo",
          "ymail", "aol",        "icloud",      "me",      "mac",  "proton", "protonmail",
          "pm.me", "gmx",        "mail.ru",     "yandex",  "qq",   "163",    "126",
          "zoho",  "web.de",     "t-online.de", "mail.com"};
}

FreeMailDomains::FreeMailDomains(std::vector<std::string> entries) {
  for (auto& e : entries) {
    std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(e));
    if (!lower.empty()) entries_.push_back(std::move(lower));
  }
}

bool FreeMailDomains::IsFreeMail(std::string_view email) const {
  const auto at = email.rfind('@');
  const std::string domain =
      absl::AsciiStrToLower(AbslView(at == std::string_view::npos ? email : email.substr(at + 1)));
  std::vector<std::string> labels = absl::StrSplit(domain, '.');
  for (const auto& entry : entries_) {
    if (entry.find('.') != std::string::npos) {
      if (domain == entry || absl::EndsWith(domain, "." + entry)) return true;
      continue;
    }
    // The provider's label followed by a public suffix of one or two short labels
    // (com, de, co.uk, com.au).
    for (size_t i = 0; i + 1 < labels.size(); ++i) {
      if (labels[i] != entry) continue;
      const size_t suffix_labels = labels.size() - i - 1;
      bool short_suffix = suffix_labels <= 2;
      for (size_t j = i + 1; j < labels.size() && short_suffix; ++j)
        short_suffix = labels[j].size() <= 3;
      if (short_suffix) return true;
    }
  }
  return false;
}

void Normalize(v1::Customer& c) {
  auto* company = c.mutable_company();
  company->set_display_name(Trimmed(company->display_name()));
  company->set_country_code(absl::AsciiStrToUpper(Trimmed(company->country_code())));
  company->set_website_uri(Trimmed(company->website_uri()));
  auto* address = company->mutable_address();
  address->set_address_line1(Trimmed(address->address_line1()));
  address->set_address_line2(Trimmed(address->address_line2()));
  address->set_city(Trimmed(address->city()));
  address->set_state(Trimmed(address->state()));
  address->set_zip_code(absl::AsciiStrToUpper(Trimmed(address->zip_code())));
  auto* contact = c.mutable_contact();
  contact->set_first_name(Trimmed(contact->first_name()));
  contact->set_last_name(Trimmed(contact->last_name()));
  contact->set_work_email(absl::AsciiStrToLower(Trimmed(contact->work_email())));
  contact->set_job_title(Trimmed(contact->job_title()));
  // Phone: keep "+" and digits; separators people type are dropped. Anything else stays so
  // that validation can name it.
  std::string phone;
  for (char ch : contact->phone()) {
    if (absl::ascii_isspace(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' ||
        ch == '(' || ch == ')') {
      continue;
    }
    phone.push_back(ch);
  }
  contact->set_phone(phone);
}

std::vector<FieldViolation> ValidateCustomerFields(const v1::Customer& c, const std::string& p) {
  std::vector<FieldViolation> out;
  const auto& company = c.company();
  CheckText(out, p + "company.display_name", company.display_name(), true, 200);
  if (company.size() == v1::COMPANY_SIZE_UNSPECIFIED || !v1::CompanySize_IsValid(company.size())) {
    out.push_back(
        {p + "company.size", "required: one of COMPANY_SIZE_0_19 ... COMPANY_SIZE_1000_PLUS"});
  }
  if (company.industries_size() == 0) {
    out.push_back({p + "company.industries", "required: at least one industry"});
  } else {
    std::set<int> seen;
    for (int industry : company.industries()) {
      if (industry == v1::INDUSTRY_UNSPECIFIED || !v1::Industry_IsValid(industry)) {
        out.push_back({p + "company.industries", absl::StrCat("unknown industry ", industry)});
        break;
      }
      if (!seen.insert(industry).second) {
        out.push_back({p + "company.industries", "an industry is listed twice"});
        break;
      }
    }
  }
  if (company.country_code().empty()) {
    out.push_back({p + "company.country_code", "required"});
  } else if (!IsValidCountryCode(company.country_code())) {
    out.push_back({p + "company.country_code", "must be an ISO 3166-1 alpha-2 code, e.g. DE"});
  }
  const auto& address = company.address();
  CheckText(out, p + "company.address.address_line1", address.address_line1(), true, 200);
  CheckText(out, p + "company.address.address_line2", address.address_line2(), false, 200);
  CheckText(out, p + "company.address.city", address.city(), true, 100);
  CheckText(out, p + "company.address.state", address.state(), true, 100);
  if (address.zip_code().empty()) {
    out.push_back({p + "company.address.zip_code", "required"});
  } else if (!IsZip(address.zip_code())) {
    out.push_back({p + "company.address.zip_code", "2 to 12 letters, digits, spaces or hyphens"});
  }
  if (!company.website_uri().empty() && !IsWebsite(company.website_uri())) {
    out.push_back({p + "company.website_uri", "must be an http or https URL with a host name"});
  }
  const auto& contact = c.contact();
  CheckText(out, p + "contact.first_name", contact.first_name(), true, 100);
  CheckText(out, p + "contact.last_name", contact.last_name(), true, 100);
  if (contact.work_email().empty()) {
    out.push_back({p + "contact.work_email", "required"});
  } else if (!IsEmail(contact.work_email())) {
    out.push_back({p + "contact.work_email", "must be an email address such as name@company.com"});
  }
  if (contact.phone().empty()) {
    out.push_back({p + "contact.phone", "required"});
  } else if (!IsPhone(contact.phone())) {
    out.push_back({p + "contact.phone", "international format: + then 7 to 15 digits"});
  }
  CheckText(out, p + "contact.job_title", contact.job_title(), false, 100);
  return out;
}

void ValidateNewCustomer(const v1::Customer& customer, const FreeMailDomains& free_mail) {
  auto violations = ValidateCustomerFields(customer, "customer.");
  if (customer.management_type() == v1::MANAGEMENT_TYPE_UNSPECIFIED ||
      !v1::ManagementType_IsValid(customer.management_type())) {
    violations.push_back(
        {"customer.management_type", "required: FULLY_MANAGED or JOINTLY_MANAGED"});
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
  if (customer.management_type() == v1::JOINTLY_MANAGED &&
      free_mail.IsFreeMail(customer.contact().work_email())) {
    throw ApiError::InvalidArgument(
        {{"customer.contact.work_email",
          "a jointly managed customer needs a work email, not a free-mail address"}},
        "FREE_MAIL_DOMAIN_NOT_ALLOWED");
  }
}

std::vector<knox::KnoxService> ValidateRequestedServices(const v1::CreateCustomerRequest& request) {
  auto services = knox::ParseServiceList("services", request.services());
  const bool with_manage =
      std::find(services.begin(), services.end(), assignment::v1::KNOX_MANAGE) != services.end();
  const std::string& prefix = request.knox_manage_tenant_prefix();
  if (!prefix.empty() && !with_manage) {
    throw ApiError::InvalidArgument(
        {{"knox_manage_tenant_prefix", "only when KNOX_MANAGE is among the services"}});
  }
  if (auto problem = knox::TenantPrefixProblem(prefix)) {
    throw ApiError::InvalidArgument({{"knox_manage_tenant_prefix", *problem}});
  }
  return services;
}

std::vector<std::string> ExpandUpdateMask(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const auto& path : paths) {
    if (path == "company" || path == "company.address") {
      for (const auto& leaf : Leaves()) {
        if (absl::StartsWith(leaf.path, path + ".")) add(leaf.path);
      }
    } else {
      add(path);
    }
  }
  return out;
}

void CheckEditable(const v1::Customer& current) {
  if (current.state() == v1::DELINK_REQUESTED) {
    throw ApiError::FailedPrecondition(
        "CUSTOMER_DELINK_REQUESTED", "the account can't be changed while a delink request is open",
        current.name());
  }
  if (current.state() != v1::ACTIVE) {
    throw ApiError::FailedPrecondition(
        "CUSTOMER_NOT_ACTIVE",
        absl::StrCat("only an ACTIVE customer can be changed; this one is ",
                     v1::State_Name(current.state())),
        current.name());
  }
}

UpdatePlan PlanUpdate(const v1::Customer& current, const v1::Customer& patch,
                      const std::vector<std::string>& mask_paths) {
  if (mask_paths.empty()) {
    throw ApiError::InvalidArgument({{"update_mask", "required: name the fields to change"}},
                                    "UPDATE_MASK_REQUIRED");
  }
  std::vector<FieldViolation> mask_violations;
  const auto paths = ExpandUpdateMask(mask_paths);
  bool touches_contact = false;
  for (const auto& path : paths) {
    if (FindLeaf(path) != nullptr) {
      touches_contact |= absl::StartsWith(path, "contact.");
      continue;
    }
    if (path == "management_type") {
      mask_violations.push_back(
          {"update_mask", "management_type changes only through UpgradeToJointlyManaged"});
    } else if (path == "contact" || path == "contact.phone" || path == "contact.job_title") {
      mask_violations.push_back(
          {"update_mask", absl::StrCat("'", path,
                                       "' can't be changed by the MSP: only contact.first_name, "
                                       "contact.last_name and contact.work_email")});
    } else if (path == "name" || path == "customer_id" || path == "state" ||
               path == "create_time" || path == "update_time" || path == "msp_link_time" ||
               path == "etag") {
      mask_violations.push_back({"update_mask", absl::StrCat("'", path, "' is output only")});
    } else {
      mask_violations.push_back({"update_mask", absl::StrCat("unknown field path '", path, "'")});
    }
  }
  if (!mask_violations.empty()) {
    throw ApiError::InvalidArgument(std::move(mask_violations), "INVALID_UPDATE_MASK");
  }
  CheckEditable(current);
  if (touches_contact && current.management_type() == v1::JOINTLY_MANAGED) {
    throw ApiError::FailedPrecondition(
        "CONTACT_MANAGED_BY_CUSTOMER",
        "the contact person of a jointly managed customer can only be changed by the customer",
        current.name());
  }
  UpdatePlan plan;
  plan.updated = current;
  v1::Customer normalized_patch = patch;
  Normalize(normalized_patch);
  for (const auto& path : paths) {
    const Leaf* leaf = FindLeaf(path);
    v1::Customer before_leaf;
    v1::Customer after_leaf;
    leaf->copy(plan.updated, before_leaf);
    leaf->copy(normalized_patch, plan.updated);
    leaf->copy(plan.updated, after_leaf);
    if (before_leaf.SerializeAsString() != after_leaf.SerializeAsString()) {
      plan.changed_fields.push_back(path);
    }
  }
  auto violations = ValidateCustomerFields(plan.updated, "customer.");
  // Only what the caller sent can be wrong; stored values were valid when written.
  std::vector<FieldViolation> relevant;
  for (auto& v : violations) {
    for (const auto& path : paths) {
      if (v.field == "customer." + path) relevant.push_back(v);
    }
  }
  if (!relevant.empty()) throw ApiError::InvalidArgument(std::move(relevant));
  return plan;
}

v1::Customer PlanUpgrade(const v1::Customer& current, const FreeMailDomains& free_mail) {
  CheckUpgrade(current, free_mail);
  v1::Customer upgraded = current;
  upgraded.set_management_type(v1::JOINTLY_MANAGED);
  // A jointly managed customer's super admin has full access to the Knox portals, like the MSP.
  upgraded.set_super_admin_portal_access(true);
  return upgraded;
}

void CheckInvitedManagement(const v1::Customer& customer, v1::ManagementType type,
                            const FreeMailDomains& free_mail) {
  if (type == v1::JOINTLY_MANAGED && free_mail.IsFreeMail(customer.contact().work_email())) {
    throw ApiError::FailedPrecondition(
        "FREE_MAIL_DOMAIN_NOT_ALLOWED",
        "the customer's super admin has a free-mail address: it can't be jointly managed; "
        "invite it as fully managed",
        customer.name());
  }
}

void CheckUpgrade(const v1::Customer& current, const FreeMailDomains& free_mail) {
  CheckEditable(current);
  if (current.management_type() == v1::JOINTLY_MANAGED) {
    throw ApiError::FailedPrecondition("ALREADY_JOINTLY_MANAGED",
                                       "the customer is already jointly managed", current.name());
  }
  if (free_mail.IsFreeMail(current.contact().work_email())) {
    throw ApiError::FailedPrecondition(
        "FREE_MAIL_DOMAIN_NOT_ALLOWED",
        "a contact on a free-mail domain can't be jointly managed; change the contact's work "
        "email first",
        current.name());
  }
}

std::string CustomerName(const std::string& msp_id, const std::string& customer_id) {
  // AIP-159's "-" stands for "no MSP" (an existing Knox customer nobody manages).
  return absl::StrCat("msps/", msp_id.empty() ? "-" : msp_id, "/customers/", customer_id);
}

std::string CustomerEtag(int64_t version) { return absl::StrCat("\"", version, "\""); }

void PrepareNewCustomer(v1::Customer& c, const std::string& msp_id, const std::string& id,
                        int64_t now_micros) {
  c.set_customer_id(id);
  c.set_name(CustomerName(msp_id, id));
  c.set_state(v1::ACTIVE);
  for (auto* ts : {c.mutable_create_time(), c.mutable_update_time(), c.mutable_msp_link_time()}) {
    ts->set_seconds(now_micros / 1000000);
    ts->set_nanos(static_cast<int32_t>((now_micros % 1000000) * 1000));
  }
  if (msp_id.empty()) c.clear_msp_link_time();  // no MSP: never linked
  c.set_super_admin_portal_access(msp_id.empty() || c.management_type() == v1::JOINTLY_MANAGED);
  c.set_etag(CustomerEtag(1));
}

std::string NewCustomerId() {
  unsigned char bytes[10];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string id;
  for (unsigned char b : bytes) id.push_back(kCrockford[b & 31]);
  return id;
}

bool IsValidCountryCode(std::string_view code) {
  if (code.size() != 2) return false;
  for (size_t i = 0; i + 1 < kCountryCodes.size(); i += 3) {
    if (kCountryCodes.substr(i, 2) == code) return true;
  }
  return false;
}

}  // namespace msp::customer
