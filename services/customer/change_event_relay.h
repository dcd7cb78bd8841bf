#pragma once

#include "msp/common/outbox.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"

namespace msp::customer {

// Delivers kCustomerChangedTopic outbox messages: reads the account as it is now and publishes
// it as msp.events.v1.CustomerChanged onto the change stream. Reading at delivery rather than
// carrying the state in the message means a burst of changes publishes the latest state each
// time; readers keep the highest version, so repeats are harmless.
// A batch at a time: one query for all its accounts and one Redis round trip for all its
// events, rather than two round trips per change.
outbox::BatchHandler CustomerChangedHandler(pg::Pool* pool, redis::Client* redis);

}  // namespace msp::customer
