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

// Whether AssignServices' refusal is final for the services a new customer asked for. A delink
// awaiting the customer's answer is not: if the customer accepts, the services are refused for
// good (CUSTOMER_NOT_ACTIVE); if it rejects, they are assigned. Until then the message waits,
// retried with backoff, instead of the services being lost to a delink that never happened.
bool IsFinalAssignmentRefusal(const grpc::Status& status);

}  // namespace msp::customer
