#pragma once

#include "customer_directory.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"

namespace msp::assignment {

// Delivers kServicesChangedTopic outbox messages: reads the customer's services as they are now
// (with their version) and publishes them as msp.events.v1.CustomerServicesChanged onto the
// change stream. Readers keep the highest version, so repeats and reordering are harmless.
outbox::Handler ServicesChangedHandler(pg::Pool* pool, redis::Client* redis);

// Delivers kCustomerEventsTopic outbox messages (audit-trail entries) to the customer service.
// An entry for a customer that is no longer the MSP's is dropped (logged): nobody's trail.
outbox::Handler CustomerEventHandler(CustomerDirectory* customers);

}  // namespace msp::assignment
