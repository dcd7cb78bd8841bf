#pragma once

// The service-assignment service's outbox topics, declared once: the relay delivers them, and
// the code that writes them names them through these constants. The trigger of
// migrations/0004 (replaced by 0010) writes kServicesChangedTopic in SQL of its own (a migration
// is frozen text); assignment_store_test checks that it is the same name.
namespace msp::assignment {

// An audit-trail entry for the customer service (payload: a
// msp.customer.v1.RecordCustomerEventRequest), written by AssignmentStore::QueueCustomerEvent.
inline constexpr char kCustomerEventsTopic[] = "customer-events";
// A change event (key: customer id:version; payload: the customer id), written by a trigger on
// every change of customer_services and published onto the change stream.
inline constexpr char kServicesChangedTopic[] = "services-changed";

}  // namespace msp::assignment
