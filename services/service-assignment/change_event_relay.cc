#include "change_event_relay.h"

#include "msp/common/change_stream.h"
#include "msp/common/log.h"
#include "msp/common/timestamps.h"
#include "msp/events/v1/change_events.pb.h"
#include "store/assignment_store.h"

namespace msp::assignment {

outbox::Handler ServicesChangedHandler(pg::Pool* pool, redis::Client* redis) {
  return [pool, redis](const outbox::Message& message) {
    std::optional<AssignmentStore::ServicesSnapshot> snapshot;
    {
      pg::Lease conn = pool->Acquire();
      snapshot = AssignmentStore().Snapshot(*conn, message.payload);
    }
    if (!snapshot) return;  // service rows are never deleted
    events::v1::CustomerServicesChanged event;
    event.set_customer_id(message.payload);
    event.set_msp_id(snapshot->msp_id);
    event.set_version(snapshot->version);
    for (auto& service : snapshot->services) *event.add_services() = std::move(service);
    SetTimestamp(event.mutable_change_time(), message.create_time);
    change_stream::Publish(*redis, event);
  };
}

outbox::Handler CustomerEventHandler(CustomerDirectory* customers) {
  return [customers](const outbox::Message& message) {
    customer::v1::RecordCustomerEventRequest event;
    if (!event.ParseFromString(message.payload)) {
      log::Error("unreadable audit event dropped", {{"outbox_id", message.id}});
      return;
    }
    if (!customers->RecordEvent(event, message.on_behalf_of)) {
      log::Warn("audit event for a customer the MSP no longer has dropped",
                {{"customer", event.parent()}, {"action", event.action()}});
    }
  };
}

}  // namespace msp::assignment
