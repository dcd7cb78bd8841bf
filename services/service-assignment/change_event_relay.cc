#include "change_event_relay.h"

#include <map>

#include "msp/common/change_stream.h"
#include "msp/common/log.h"
#include "msp/common/timestamps.h"
#include "msp/events/v1/change_events.pb.h"
#include "store/assignment_store.h"

namespace msp::assignment {

outbox::BatchHandler ServicesChangedHandler(pg::Pool* pool, redis::Client* redis) {
  return [pool, redis](const std::vector<outbox::Message>& messages, std::vector<std::string>*) {
    std::vector<std::string> ids;
    for (const auto& message : messages) ids.push_back(message.payload);
    std::map<std::string, AssignmentStore::ServicesSnapshot> snapshots;
    {
      pg::Lease conn = pool->Acquire();
      snapshots = AssignmentStore().Snapshots(*conn, ids);
    }
    // One event per message, each with the services as they are now; service rows are never
    // deleted, so a customer without any has nothing to tell.
    std::vector<events::v1::CustomerServicesChanged> events;
    std::vector<std::string> traces;  // each event's: its message's
    events.reserve(messages.size());
    for (const auto& message : messages) {
      auto it = snapshots.find(message.payload);
      if (it == snapshots.end()) continue;
      auto& event = events.emplace_back();
      traces.push_back(message.traceparent);
      event.set_customer_id(message.payload);
      event.set_msp_id(it->second.msp_id);
      event.set_version(it->second.version);
      for (const auto& service : it->second.services) *event.add_services() = service;
      SetTimestamp(event.mutable_change_time(), message.create_time);
    }
    std::vector<change_stream::Outgoing> to_publish;
    for (size_t e = 0; e < events.size(); ++e) to_publish.push_back({&events[e], traces[e]});
    change_stream::PublishAll(*redis, to_publish);
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
