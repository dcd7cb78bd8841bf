#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/errors.h"
#include "msp/common/knox_services.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"
#include "outbox_topics.h"

// SQL for the assignment schema. Stateless: every call runs on the connection (and so the
// transaction) it is given.
namespace msp::assignment {

class AssignmentStore {
 public:
  // The customer's services under this MSP, in service order.
  std::vector<v1::AssignedService> List(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& customer_id) const;
  // The services of many customers of one MSP in one statement, by customer id, each with the
  // customer's services version.
  struct VersionedServices {
    int64_t version = 0;
    std::vector<v1::AssignedService> services;
  };
  std::map<std::string, VersionedServices> ListMany(
      pg::Connection& conn, const std::string& msp_id,
      const std::vector<std::string>& customer_ids) const;

  // Every service row of these customers (under any MSP) with their services versions, for
  // change events, in one statement; customers with none are absent. `msp_id` is that of the
  // latest changed row.
  struct ServicesSnapshot {
    std::string msp_id;
    int64_t version = 0;
    std::vector<v1::AssignedService> services;
  };
  std::map<std::string, ServicesSnapshot> Snapshots(
      pg::Connection& conn, const std::vector<std::string>& customer_ids) const;

  // Adds the services the customer does not have (an ENDED one comes back ACTIVE). Returns the
  // ones added. Concurrent calls add each service once (the primary key decides).
  std::vector<knox::KnoxService> Assign(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& customer_id,
                                        const std::vector<knox::KnoxService>& services) const;

  // One request of a batch, checked, with its customer as the caller has it.
  struct BatchAssignment {
    std::string customer_id;
    std::vector<knox::KnoxService> services;  // no repeats
    std::string tenant_prefix;                // with KNOX_MANAGE among the services
    std::string work_email;                   // the contact's: the tenant id's domain
    std::string company_name;                 // for tenant id suggestions
    std::string request_key;                  // as kept (idempotency::KeyOf)
    std::string request_hash;
    std::string parent;  // msps/{msp}/customers/{customer}, for errors
    // The work it continues (a traceparent; empty: the transaction's): its services-changed
    // message carries it.
    std::string traceparent;
  };
  // Each request's answer, or its error (nothing of its own written).
  struct BatchOutcome {
    v1::AssignServicesResponse response;
    std::optional<ApiError> error;
  };
  // Assigns a batch of one MSP's customers in the caller's transaction, in a few statements
  // whatever its size: the customers' locks and ended links (LockAndFindEnded: a customer a
  // delink ended gets nothing; the locks make twins of the batch wait), the request ids (a
  // repeat gets its first answer), the tenants
  // (a taken id refuses that request alone), the services, the answers. Readers of the
  // outcomes get one per item, in order.
  std::vector<BatchOutcome> AssignBatch(pg::Connection& conn, const std::string& msp_id,
                                        const std::vector<BatchAssignment>& items) const;
  // ALREADY_EXISTS KNOX_MANAGE_TENANT_ID_TAKEN for the tenant id a prefix and domain make, with
  // free alternatives.
  ApiError TenantTaken(pg::Connection& conn, const std::string& prefix, const std::string& domain,
                       const std::string& company_name) const;
  // Up to three free tenant ids like the one a prefix and domain make.
  std::vector<std::string> SuggestTenantIds(pg::Connection& conn, const std::string& prefix,
                                            const std::string& domain,
                                            const std::string& company_name) const;

  // The customer's Knox Manage tenant id, if it has one.
  std::optional<std::string> TenantOf(pg::Connection& conn, const std::string& customer_id) const;
  // Creates the tenant; false when the id is taken (the unique key decides, also between
  // concurrent transactions: the second waits for the first and then sees it taken).
  bool CreateTenant(pg::Connection& conn, const std::string& tenant_id,
                    const std::string& customer_id, const std::string& msp_id) const;
  // Which of `tenant_ids` exist.
  std::set<std::string> TakenTenantIds(pg::Connection& conn,
                                       const std::vector<std::string>& tenant_ids) const;

  // Applies device-count reports in one statement. `apply[i]` false: report i is not applied
  // (a later one for the same service is in the batch). Returns one result per report.
  std::vector<v1::ReportDeviceCountsResponse::Result> ApplyDeviceCounts(
      pg::Connection& conn, const v1::ReportDeviceCountsRequest& request,
      const std::vector<bool>& apply) const;

  // Takes the customers' advisory locks (in one order, for the caller's transaction), which
  // EndAll takes too; returns the ones whose services a delink of this MSP ended.
  std::set<std::string> LockAndFindEnded(pg::Connection& conn, const std::string& msp_id,
                                         const std::vector<std::string>& customer_ids) const;

  // Ends every service of the customer under this MSP, and records that its link ended (under
  // the customer's advisory lock). Returns the services after; `ended`
  // gets the ones this call ended.
  std::vector<v1::AssignedService> EndAll(pg::Connection& conn, const std::string& msp_id,
                                          const std::string& customer_id, const std::string& reason,
                                          std::vector<knox::KnoxService>* ended = nullptr) const;

  // Queues, in the caller's transaction, an entry of the customer's audit trail (kept by the
  // customer service) about services this service changed: `action` with the services'
  // ids as the changed fields.
  void QueueCustomerEvent(pg::Connection& conn, const std::string& msp_id,
                          const std::string& customer_id, const std::string& action,
                          const std::string& actor, const std::vector<knox::KnoxService>& services,
                          const std::string& request_id) const;
};

// The assignment schema: migrations/ plus the common idempotency_keys (version 2) and outbox
// (version 3) tables.

const std::vector<Migration>& AssignmentSchemaMigrations();

// msps/{msp}/customers/{customer}/services/{service-id}
std::string ServiceName(const std::string& msp_id, const std::string& customer_id,
                        knox::KnoxService service);

}  // namespace msp::assignment
