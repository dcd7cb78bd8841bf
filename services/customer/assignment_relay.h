#pragma once

#include "msp/common/assignment_client.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"

namespace msp::customer {

// Delivers kAssignServicesTopic outbox messages, a batch at a time (one MSP's, for one admin:
// outbox::TopicHandler::batch_per_actor): one BatchAssignServices call with each message's own
// request id (so a repeat after a crash is answered, not applied twice), and each customer as
// this service has it now (no call back for it). Each customer's outcome is its own: added
// services go into its trail here, in one statement for the batch; a refusal no retry can
// change (a taken Knox Manage tenant id, a customer that is no longer active) is recorded on
// the customer, whose services then show PROVISIONING_FAILED, and its message is done; any
// other failure retries that message.
outbox::TopicHandler AssignServicesHandler(AssignmentClient* client, pg::Pool* pool);

// Whether AssignServices' refusal is final for the services a new customer asked for. A delink
// awaiting the customer's answer is not: if the customer accepts, the services are refused for
// good (CUSTOMER_NOT_ACTIVE); if it rejects, they are assigned. Until then the message waits,
// retried with backoff, instead of the services being lost to a delink that never happened.
bool IsFinalAssignmentRefusal(const grpc::Status& status);

}  // namespace msp::customer
