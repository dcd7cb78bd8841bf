#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../domain/list_query.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/customer.pb.h"

// SQL for the customer schema. Stateless: every call runs on the connection (and so the
// transaction) it is given.
namespace msp::customer {

struct StoredCustomer {
  v1::Customer customer;  // name and etag filled in
  int64_t version = 0;
};

struct CustomerPage {
  std::vector<v1::Customer> customers;
  // Sort value (text) and id of the last row when there is a next page.
  std::optional<std::pair<std::string, std::string>> next_after;
};

struct EventPage {
  std::vector<v1::CustomerEvent> events;
  int64_t next_after_event_id = 0;  // 0: last page
};

class CustomerStore {
 public:
  static std::string Etag(int64_t version);
  static std::string ResourceName(const std::string& msp_id, const std::string& customer_id);

  // A customer of this MSP, or nullopt (absent, or another MSP's).
  std::optional<StoredCustomer> Find(pg::Connection& conn, const std::string& msp_id,
                                     const std::string& customer_id, bool for_update) const;

  // Inserts a new customer linked to `msp_id`, now. nullopt when the id is already taken.
  std::optional<StoredCustomer> Insert(pg::Connection& conn, const std::string& msp_id,
                                       const std::string& customer_id, const v1::Customer& customer,
                                       v1::State state) const;

  // Writes the editable fields and the management type, bumps version and update_time.
  StoredCustomer Update(pg::Connection& conn, const std::string& msp_id,
                        const v1::Customer& customer) const;

  void AppendEvent(pg::Connection& conn, const std::string& msp_id, const std::string& customer_id,
                   const std::string& action, const std::string& actor,
                   const std::vector<std::string>& changed_fields,
                   const std::string& request_id) const;

  CustomerPage List(pg::Connection& conn, const std::string& msp_id, const ListQuery& query) const;

  EventPage ListEvents(pg::Connection& conn, const std::string& msp_id,
                       const std::string& customer_id, int page_size, int64_t before_event_id) const;

  // Idempotency: claims (msp, request_id) inside the caller's transaction. Returns the stored
  // response if the request was answered before. Throws INVALID_ARGUMENT when the same id
  // came with a different request.
  std::optional<std::string> ClaimRequestId(pg::Connection& conn, const std::string& msp_id,
                                            const std::string& request_id, const std::string& method,
                                            const std::string& request_hash) const;
  void SaveResponse(pg::Connection& conn, const std::string& msp_id, const std::string& request_id,
                    const std::string& response) const;
};

}  // namespace msp::customer
