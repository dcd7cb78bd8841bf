#include "change_event_relay.h"

#include "domain/services_view.h"
#include "msp/common/change_stream.h"
#include "msp/common/timestamps.h"
#include "msp/events/v1/change_events.pb.h"
#include "store/customer_store.h"

namespace msp::customer {

outbox::Handler CustomerChangedHandler(pg::Pool* pool, redis::Client* redis) {
  return [pool, redis](const outbox::Message& message) {
    std::optional<StoredCustomer> stored;
    {
      pg::Lease conn = pool->Acquire();
      stored = CustomerStore().FindById(*conn, message.payload, false);
    }
    if (!stored) return;  // accounts are never deleted; nothing to tell if it were
    events::v1::CustomerChanged event;
    event.set_customer_id(stored->customer.customer_id());
    event.set_msp_id(stored->msp_id);
    event.set_version(stored->version);
    *event.mutable_customer() = stored->customer;
    for (auto& service : ServicesView(stored->customer.name(), stored->requested_services,
                                      stored->services_error, {})) {
      *event.mutable_customer()->add_services() = std::move(service);
    }
    SetTimestamp(event.mutable_change_time(), message.create_time);
    change_stream::Publish(*redis, event);
  };
}

}  // namespace msp::customer
