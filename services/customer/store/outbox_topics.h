#pragma once

// The customer service's outbox topics, declared once: the relays deliver them, and the SQL
// that writes them names them through these constants. The trigger of migrations/0006 writes
// kCustomerChangedTopic in SQL of its own (a migration is frozen text); customer_store_test
// checks that it is the same name.
namespace msp::customer {

// A new customer's service assignment (key: the customer id; payload: AssignServicesRequest).
inline constexpr char kAssignServicesTopic[] = "assign-services";
// A change event (key: customer id:version; payload: the customer id), written by a trigger on
// every change of an MSP's customer and published onto the change stream.
inline constexpr char kCustomerChangedTopic[] = "customer-changed";
// A jointly managed customer's account-set-up email (key: the customer id; payload: onboarding
// StartAccountSetupRequest).
inline constexpr char kAccountSetupTopic[] = "account-setup";

}  // namespace msp::customer
