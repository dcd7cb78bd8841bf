#pragma once

#include "msp/common/assignment_client.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"

namespace msp::customer {

// Delivers kAssignServicesTopic outbox messages: AssignServices with the message's own request
// id (so a repeat after a crash is answered, not applied twice), retried by the relay until it
// succeeds. A refusal that no retry can change (a taken Knox Manage tenant id, a customer that
// is no longer active) is recorded on the customer, whose services then show
// PROVISIONING_FAILED, and the message is done.
outbox::Handler AssignServicesHandler(AssignmentClient* client, pg::Pool* pool);

}  // namespace msp::customer
