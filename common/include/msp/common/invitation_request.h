#pragma once

#include <vector>

#include "msp/common/knox_services.h"
#include "msp/onboarding/v1/onboarding.pb.h"

// CreateInvitation's rules for the request's own fields, shared by the onboarding service (the
// call) and the customer service (a bulk job's dry run of invitation rows): the customer is
// checked where it is stored.
namespace msp {

// The customer id, the management type, the services (at least one, each known and once, Knox
// Guard not offered to existing customers) and the Knox Manage tenant prefix (only with
// KNOX_MANAGE, well-formed). Returns the services, each once. Throws INVALID_ARGUMENT naming
// the fields. The request id is the caller's to check (idempotency::CheckRequestId).
std::vector<knox::KnoxService> ValidateInvitationTerms(
    const onboarding::v1::CreateInvitationRequest& request);

}  // namespace msp
