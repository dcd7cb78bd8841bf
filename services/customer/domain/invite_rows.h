#pragma once

#include <map>
#include <string>
#include <vector>

#include "domain/customer_rules.h"
#include "domain/import_rows.h"
#include "domain/link_rules.h"
#include "msp/onboarding/v1/onboarding.pb.h"

// A bulk job's invitations (BulkJob INVITE_CUSTOMERS): the invitation template's columns, each
// row made into the CreateInvitation request it stands for, and the dry run's checks, with the
// same rules as the call: the request's own (msp/common/invitation_request.h), then the
// customer's as the customer service stores it (the link rules of TransitionCustomer's INVITE,
// the free-mail rule of jointly managed customers).
namespace msp::customer {

// customer_id, management_type, services, knox_manage_tenant_prefix.
const std::vector<ImportColumn>& InviteColumns();
// The column a CreateInvitationRequest field comes from ("services[1]" -> "services").
std::string InviteColumnOf(const std::string& field);

struct InviteRow {
  int row = 0;
  int line = 0;
  onboarding::v1::CreateInvitationRequest request;  // parent and request_id are the caller's
  std::vector<FieldViolation> problems;
};

// One record of a file whose header (MatchTemplateHeader with InviteColumns()) has no problems.
InviteRow ParseInviteRow(const ImportHeader& header, const CsvRecord& record, int number);

// The checks that need nothing but the file, a row at a time in file order: the request's
// fields, and a customer an earlier valid row invites already.
class InviteRowChecker {
 public:
  void Check(InviteRow& row);

 private:
  std::map<std::string, int> first_row_of_;  // customer id -> its row
};

// An existing customer as the customer service stores it: what an invitation's rules read.
struct InviteTarget {
  v1::Customer customer;  // name and contact
  LinkState link;
  bool has_own_knox_manage = false;  // the account has a Knox Manage tenant of its own
};

// The checks against the stored customer, for a row without problems: it exists, no MSP
// manages or invites it, jointly managed only without a free-mail super admin. Adds to
// `problems`; returns the Knox Manage tenant id the row would make ("" when it makes none: no
// KNOX_MANAGE, no prefix, or the account has its tenant already, which it keeps).
std::string CheckInviteTarget(const onboarding::v1::CreateInvitationRequest& request,
                              const std::string& msp_id, const InviteTarget* target,
                              const FreeMailDomains& free_mail,
                              std::vector<FieldViolation>& problems);

}  // namespace msp::customer
