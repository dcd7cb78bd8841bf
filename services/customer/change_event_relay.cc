#include "change_event_relay.h"

#include <map>

#include "domain/services_view.h"
#include "msp/common/change_stream.h"
#include "msp/common/timestamps.h"
#include "msp/events/v1/change_events.pb.h"
#include "store/customer_store.h"

namespace msp::customer {

outbox::BatchHandler CustomerChangedHandler(pg::Pool* pool, redis::Client* redis) {
  return [pool, redis](const std::vector<outbox::Message>& messages, std::vector<std::string>*) {
    std::vector<std::string> ids;
    for (const auto& message : messages) ids.push_back(message.payload);
    std::vector<StoredCustomer> found;
    {
      pg::Lease conn = pool->Acquire();
      found = CustomerStore().FindByIds(*conn, ids);
    }
    std::map<std::string, const StoredCustomer*> by_id;
    for (const auto& stored : found) by_id[stored.customer.customer_id()] = &stored;
    // One event per message (a message per committed change), each with the account as it is
    // now; accounts are never deleted, so a missing one has nothing to tell.
    std::vector<events::v1::CustomerChanged> events;
    std::vector<std::string> traces;  // each event's: its message's
    events.reserve(messages.size());
    for (const auto& message : messages) {
      auto it = by_id.find(message.payload);
      if (it == by_id.end()) continue;
      const StoredCustomer& stored = *it->second;
      auto& event = events.emplace_back();
      traces.push_back(message.traceparent);
      event.set_customer_id(stored.customer.customer_id());
      event.set_msp_id(stored.msp_id);
      event.set_version(stored.version);
      *event.mutable_customer() = stored.customer;
      for (auto& service : ServicesView(stored.customer.name(), stored.requested_services,
                                        stored.services_error, {})) {
        *event.mutable_customer()->add_services() = std::move(service);
      }
      SetTimestamp(event.mutable_change_time(), message.create_time);
    }
    std::vector<change_stream::Outgoing> to_publish;
    for (size_t e = 0; e < events.size(); ++e) to_publish.push_back({&events[e], traces[e]});
    change_stream::PublishAll(*redis, to_publish);
  };
}

}  // namespace msp::customer
