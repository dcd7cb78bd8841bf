#pragma once

#include "customer_directory.h"
#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"

namespace msp::assignment {

// Delivers kServicesChangedTopic outbox messages a batch at a time: reads the customers'
// services as they are now (with their versions) in one statement and publishes them as
// msp.events.v1.CustomerServicesChanged onto the change stream in one round trip. Readers keep
// the highest version, so repeats and reordering are harmless.
outbox::BatchHandler ServicesChangedHandler(pg::Pool* pool, redis::Client* redis);

// Delivers kCustomerEventsTopic outbox messages (audit-trail entries) to the customer service.
// An entry for a customer that is no longer the MSP's is dropped (logged): nobody's trail.
outbox::Handler CustomerEventHandler(CustomerDirectory* customers);

}  // namespace msp::assignment
