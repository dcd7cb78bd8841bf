#pragma once

#include "msp/customer/v1/customer.pb.h"
#include "msp/onboarding/v1/onboarding.pb.h"

// What an MSP may see of an existing Knox customer it invited before the customer consents
// (PENDING) and after a refusal (REJECTED, CANCELED, EXPIRED): what LookupCustomer shows (the
// customer id, company name and country), the invitation's own terms (management type,
// services, state, times, the reason of a rejection), the dates of the table's columns and, to
// follow a rejection up, the name of the super admin the invitation went to. Not the rest of
// the account: company size, industries, address, website, the contact's email, phone and job
// title. Applied wherever an MSP reads a customer or an invitation: the customer
// service's reads, the reporting read model (table, details, export, search) and the
// invitation itself.
namespace msp {

// Whether the customer has agreed to be this MSP's (ACTIVE, DELINK_REQUESTED, DELINKED: it was
// managed), as opposed to invited or having refused.
bool HasConsented(customer::v1::State state);

// Clears what an MSP may not see of a customer that has not consented; no-op otherwise.
void RedactUnconsented(customer::v1::Customer& customer);

// The same for an invitation: its contact keeps the names only until it is ACCEPTED.
void RedactUnconsented(onboarding::v1::Invitation& invitation);

}  // namespace msp
