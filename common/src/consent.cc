#include "msp/common/consent.h"

namespace msp {

bool HasConsented(customer::v1::State state) {
  return state == customer::v1::ACTIVE || state == customer::v1::DELINK_REQUESTED ||
         state == customer::v1::DELINKED;
}

void RedactUnconsented(customer::v1::Customer& customer) {
  if (HasConsented(customer.state())) return;
  auto* company = customer.mutable_company();
  company->clear_size();
  company->clear_industries();
  company->clear_address();
  company->clear_website_uri();
  auto* contact = customer.mutable_contact();
  contact->clear_work_email();
  contact->clear_phone();
  contact->clear_job_title();
}

void RedactUnconsented(onboarding::v1::Invitation& invitation) {
  if (invitation.state() == onboarding::v1::Invitation::ACCEPTED) return;
  auto* contact = invitation.mutable_contact();
  contact->clear_work_email();
  contact->clear_phone();
  contact->clear_job_title();
}

}  // namespace msp
