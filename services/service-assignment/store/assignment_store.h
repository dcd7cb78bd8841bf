#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/knox_services.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"

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

  // Every service row of the customer (under any MSP) with its services version, for the
  // change event; nullopt when it has none. `msp_id` is that of the latest changed row.
  struct ServicesSnapshot {
    std::string msp_id;
    int64_t version = 0;
    std::vector<v1::AssignedService> services;
  };
  std::optional<ServicesSnapshot> Snapshot(pg::Connection& conn,
                                           const std::string& customer_id) const;

  // Adds the services the customer does not have (an ENDED one comes back ACTIVE). Returns the
  // ones added. Concurrent calls add each service once (the primary key decides).
  std::vector<knox::KnoxService> Assign(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& customer_id,
                                        const std::vector<knox::KnoxService>& services) const;

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

  // Ends every service of the customer under this MSP. Returns the services after; `ended`
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

// The outbox topic of the audit-trail entries QueueCustomerEvent writes (payload: a
// msp.customer.v1.RecordCustomerEventRequest), delivered to the customer service.
inline constexpr char kCustomerEventsTopic[] = "customer-events";

// The assignment schema: migrations/ plus the common idempotency_keys (version 2) and outbox
// (version 3) tables.

// The outbox topic of a change event (payload: the customer id), written by a trigger on every
// change of customer_services (migrations/0004) and published onto the change stream.
inline constexpr char kServicesChangedTopic[] = "services-changed";
const std::vector<Migration>& AssignmentSchemaMigrations();

// msps/{msp}/customers/{customer}/services/{service-id}
std::string ServiceName(const std::string& msp_id, const std::string& customer_id,
                        knox::KnoxService service);

}  // namespace msp::assignment
