#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/customer/v1/customer.pb.h"
#include "msp/events/v1/change_events.pb.h"

// Reporting's copy of a customer, built from change events: the latest account and the latest
// services it heard of, each with the version it came with. Events carry whole states, so
// applying one is "keep it if its version is higher"; duplicates and reordering do no harm.
namespace msp::reporting {

struct ReadModelRow {
  std::string customer_id;
  // The account (customer_version 0: not heard of yet, e.g. services came first; such a row
  // is not shown). `account.services` holds the services asked for at creation that were not
  // assigned yet.
  int64_t customer_version = 0;
  std::string msp_id;  // "" : no MSP manages or invites it now (not shown)
  customer::v1::Customer account;
  // The services, and the MSP they were last changed under.
  int64_t services_version = 0;
  std::string services_msp_id;
  std::vector<assignment::v1::AssignedService> services;
  // When the newest change it reflects was committed at its source (microseconds).
  int64_t change_time_micros = 0;
};

// Each returns false, changing nothing, for an event no newer than what the row has.
bool ApplyCustomerChanged(ReadModelRow& row, const events::v1::CustomerChanged& event);
bool ApplyServicesChanged(ReadModelRow& row, const events::v1::CustomerServicesChanged& event);

// What the table, the details view and the export show of a row.
struct TableFacts {
  // Service/Status: the services under the row's MSP (by service), then those asked for at
  // creation that are not assigned yet (PROVISIONING or PROVISIONING_FAILED).
  std::vector<assignment::v1::AssignedService> services;
  // Devices of the ACTIVE services, Knox Manage's apart; knox_manage_devices is unset ("-")
  // unless Knox Manage is ACTIVE (requested, failed, pending or ended: "-"; active: a number,
  // 0 included).
  int64_t total_devices = 0;
  std::optional<int64_t> knox_manage_devices;
  // Bit (1 << service) for each service the customer has and has not ended (filter).
  int32_t service_mask = 0;
  // Sort key of the Service/Status column: service ids in service order, each with its state.
  std::string service_key;
  // What search looks in, lower case: company name, customer id, contact name and email.
  std::string search_text;
};

TableFacts DeriveFacts(const ReadModelRow& row);

}  // namespace msp::reporting
