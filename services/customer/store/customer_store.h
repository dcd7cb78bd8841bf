#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../domain/link_rules.h"
#include "../domain/list_query.h"
#include "msp/common/knox_services.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/customer.pb.h"
#include "outbox_topics.h"

// SQL for the customer schema. Stateless: every call runs on the connection (and so the
// transaction) it is given.
namespace msp::customer {

struct StoredCustomer {
  v1::Customer customer;  // name and etag filled in
  int64_t version = 0;
  // The services asked for with the customer, and why their assignment failed for good ("").
  std::vector<knox::KnoxService> requested_services;
  std::string services_error;
  std::string msp_id;   // "" when no MSP manages or invites the customer
  std::string link_id;  // the invitation or delink request of its state
  LinkResource link_resource = LinkResource::kNone;  // which of the two link_id names
  std::vector<knox::KnoxService> own_services;       // an existing Knox customer's own services
};

// The customer's link with an MSP, as the link rules read it.
LinkState LinkStateOf(const StoredCustomer& stored);

// Services a customer's assignment added, for its trail.
struct ServicesAdded {
  std::string customer_id;
  std::vector<knox::KnoxService> services;
  std::string request_id;  // the assignment's
};

struct CustomerPage {
  std::vector<StoredCustomer> customers;
  // Sort value (text) and id of the last row when there is a next page.
  std::optional<std::pair<std::string, std::string>> next_after;
};

struct EventPage {
  std::vector<v1::CustomerEvent> events;
  int64_t next_after_event_id = 0;  // 0: last page
};

// A new customer as it will be stored and answered, built before the write so that the answer
// can be saved for retries in the same statement.
struct NewCustomer {
  std::string msp_id;
  v1::Customer customer;  // normalised input with id, name, state, times and etag set
  std::string actor;
  std::string request_id;                       // empty: no idempotency record
  std::string request_hash;                     // with request_id
  std::vector<knox::KnoxService> services;      // to assign after the commit
  std::string assignment_payload;               // with services: the outbox message
  std::string account_setup_payload;            // jointly managed: the account-set-up email
  std::vector<knox::KnoxService> own_services;  // existing Knox customers only
};

struct ListSql {
  std::string sql;
  std::vector<pg::Param> params;
};

enum class CreateOutcome {
  kCreated,
  kCustomerIdTaken,  // nothing written: draw another id
  kRequestSeen,      // nothing written: the request id has an answer already
  // A concurrent insert took the id between the check and the insert: the claim was written
  // without its customer. Undo it with ReleaseRequestId, then draw another id.
  kClaimedWithoutCustomer,
};

// The customer schema: migrations/ plus the common outbox table (version 2).
const std::vector<Migration>& CustomerSchemaMigrations();

class CustomerStore {
 public:
  // Find in parts, for the pipelined reader: the statement, its parameters, the answer.
  static const std::string& FindSql(bool for_update);
  static std::vector<pg::Param> FindParams(const std::string& msp_id,
                                           const std::string& customer_id);
  static std::optional<StoredCustomer> FromFindResult(const pg::Result& result);

  // A customer of this MSP, or nullopt (absent, or another MSP's).
  std::optional<StoredCustomer> Find(pg::Connection& conn, const std::string& msp_id,
                                     const std::string& customer_id, bool for_update) const;

  // One atomic statement, so no transaction around it: claims the request id (when there is
  // one) with the serialized answer, inserts the customer and its CUSTOMER_CREATED event.
  CreateOutcome Create(pg::Connection& conn, const NewCustomer& created) const;
  // Create in two steps, for the group-commit pipeline: its one statement (atomic alone), and
  // the outcome from its result.
  static pg::Statement CreateStatement(const NewCustomer& created);
  static CreateOutcome CreateOutcomeOf(const pg::Result& result, const NewCustomer& created);
  // Removes a claim written by kClaimedWithoutCustomer (and only that claim).
  static pg::Statement ReleaseRequestIdStatement(const NewCustomer& created);

  // Writes the editable fields and the management type, bumps version and update_time.
  StoredCustomer Update(pg::Connection& conn, const std::string& msp_id,
                        const v1::Customer& customer) const;

  void AppendEvent(pg::Connection& conn, const std::string& msp_id, const std::string& customer_id,
                   const std::string& action, const std::string& actor,
                   const std::vector<std::string>& changed_fields,
                   const std::string& request_id) const;

  // Records another service's event once per event_key. False when the customer is not the
  // MSP's (nothing recorded).
  bool RecordEvent(pg::Connection& conn, const std::string& msp_id, const std::string& customer_id,
                   const v1::RecordCustomerEventRequest& event, const std::string& actor) const;

  // Records SERVICES_ADDED in the trails of these customers of the MSP, in one statement, once
  // per customer and request id (a redelivered batch adds nothing).
  void RecordServicesAdded(pg::Connection& conn, const std::string& msp_id,
                           const std::vector<ServicesAdded>& added, const std::string& actor) const;

  CustomerPage List(pg::Connection& conn, const std::string& msp_id, const ListQuery& query) const;
  // The keyset query List runs (exposed so that tests can check its plan).
  static ListSql BuildListSql(const std::string& msp_id, const ListQuery& query);

  // Any customer by id, whichever MSP manages or invites it (internal reads).
  std::optional<StoredCustomer> FindById(pg::Connection& conn, const std::string& customer_id,
                                         bool for_update) const;
  // Several customers by id, 1,000 a query (the relays' batches, a bulk job's invitations);
  // absent ids are left out.
  std::vector<StoredCustomer> FindByIds(pg::Connection& conn,
                                        const std::vector<std::string>& customer_ids) const;
  // Writes the customer's link with an MSP (TransitionCustomer), bumps version and update_time.
  StoredCustomer ApplyLink(pg::Connection& conn, const std::string& customer_id,
                           const LinkState& next, bool set_msp_link_time) const;

  // Records why a new customer's services could not be assigned (a permanent refusal), and
  // bumps the version (the account's services view changed: read models hear of it).
  void SetServicesError(pg::Connection& conn, const std::string& msp_id,
                        const std::string& customer_id, const std::string& error) const;

  EventPage ListEvents(pg::Connection& conn, const std::string& msp_id,
                       const std::string& customer_id, int page_size,
                       int64_t before_event_id) const;
};

}  // namespace msp::customer
