#include "assignment_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "msp/common/idempotency.h"
#include "msp/common/outbox.h"
#include "msp/common/resource_names.h"
#include "msp/common/strings.h"
#include "msp/common/timestamps.h"
#include "msp/customer/v1/customer.pb.h"
#include "nlohmann/json.hpp"

namespace msp {
const std::vector<Migration>& AssignmentMigrations();
}

namespace msp::assignment {
namespace {

// The columns every read returns, in the order RowToService expects.
constexpr char kColumns[] =
    "s.customer_id, s.service, s.msp_id, s.state, s.state_reason, s.device_count, "
    "s.devices_needing_attention, (extract(epoch from s.counts_observe_time) * 1000000)::bigint, "
    "(extract(epoch from s.add_time) * 1000000)::bigint, "
    "(extract(epoch from s.update_time) * 1000000)::bigint, "
    "(SELECT t.tenant_id FROM knox_manage_tenants t WHERE s.service = 2 AND "
    "t.customer_id = s.customer_id)";
// The tenant (above) and the version (kVersion) as lookups by key for each row read: a join
// can be planned as a scan of every tenant or version when the statistics have the MSP as new.
constexpr char kFrom[] = "customer_services s";
constexpr char kVersion[] =
    "(SELECT v.version FROM service_versions v WHERE v.customer_id = s.customer_id)";

v1::AssignedService RowToService(const pg::Result& r, int row) {
  v1::AssignedService s;
  const auto service = static_cast<knox::KnoxService>(r.Int64(row, 1));
  s.set_name(ServiceName(r.String(row, 2), r.String(row, 0), service));
  s.set_service(service);
  s.set_state(static_cast<v1::AssignedService::State>(r.Int64(row, 3)));
  s.set_state_reason(r.String(row, 4));
  s.set_device_count(r.Int64(row, 5));
  s.set_devices_needing_attention(r.Int64(row, 6));
  if (!r.IsNull(row, 7))
    SetTimestampMicros(s.mutable_device_counts_observe_time(), r.Int64(row, 7));
  SetTimestampMicros(s.mutable_add_time(), r.Int64(row, 8));
  SetTimestampMicros(s.mutable_update_time(), r.Int64(row, 9));
  if (!r.IsNull(row, 10)) s.set_knox_manage_tenant_id(r.String(row, 10));
  return s;
}

}  // namespace

const std::vector<Migration>& AssignmentSchemaMigrations() {
  static const std::vector<Migration> kAll = CombineMigrations(
      AssignmentMigrations(),
      {idempotency::TableMigration(2), outbox::TableMigration(3), outbox::TopicIndexMigration(5),
       outbox::OnBehalfOfMigration(6), outbox::LeaseMigration(7), outbox::TraceMigration(9)});
  return kAll;
}

std::string ServiceName(const std::string& msp_id, const std::string& customer_id,
                        knox::KnoxService service) {
  return absl::StrCat("msps/", msp_id, "/customers/", customer_id, "/services/",
                      std::string(knox::ServiceId(service)));
}

std::vector<v1::AssignedService> AssignmentStore::List(pg::Connection& conn,
                                                       const std::string& msp_id,
                                                       const std::string& customer_id) const {
  static const std::string kSql = absl::StrCat("SELECT ", kColumns, " FROM ", kFrom,
                                               " WHERE s.msp_id = $1 AND s.customer_id = $2 "
                                               "ORDER BY s.service");
  auto r = conn.Exec(kSql, {msp_id, customer_id});
  std::vector<v1::AssignedService> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(RowToService(r, i));
  return out;
}

std::map<std::string, AssignmentStore::VersionedServices> AssignmentStore::ListMany(
    pg::Connection& conn, const std::string& msp_id,
    const std::vector<std::string>& customer_ids) const {
  static const std::string kSql =
      // By customer id first (the key's leading column), the MSP checked after (OFFSET 0 keeps
      // it out of the scan): a scan of the MSP's index looks cheaper to a planner whose
      // statistics have the MSP as new, and reads all of its services.
      absl::StrCat("SELECT ", kColumns, ", ", kVersion,
                   " FROM (SELECT * FROM customer_services WHERE customer_id = ANY($2::text[]) "
                   "OFFSET 0) s WHERE s.msp_id = $1 ORDER BY s.customer_id, s.service");
  std::map<std::string, VersionedServices> out;
  if (customer_ids.empty()) return out;
  auto r = conn.Exec(kSql, {msp_id, pg::TextArrayLiteral(customer_ids)});
  for (int i = 0; i < r.rows(); ++i) {
    VersionedServices& entry = out[r.String(i, 0)];
    entry.version = r.IsNull(i, 11) ? 0 : r.Int64(i, 11);
    entry.services.push_back(RowToService(r, i));
  }
  return out;
}

std::map<std::string, AssignmentStore::ServicesSnapshot> AssignmentStore::Snapshots(
    pg::Connection& conn, const std::vector<std::string>& customer_ids) const {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns, ", ", kVersion, " FROM ", kFrom,
                   " WHERE s.customer_id = ANY($1::text[]) ORDER BY s.customer_id, s.service");
  auto r = conn.Exec(kSql, {pg::TextArrayLiteral(customer_ids)});
  std::map<std::string, ServicesSnapshot> snapshots;
  std::map<std::string, int64_t> latest;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string customer_id = r.String(i, 0);
    ServicesSnapshot& snapshot = snapshots[customer_id];
    snapshot.version = r.IsNull(i, 11) ? 0 : r.Int64(i, 11);
    auto [it, added] = latest.emplace(customer_id, INT64_MIN);
    if (r.Int64(i, 9) > it->second) {
      it->second = r.Int64(i, 9);
      snapshot.msp_id = r.String(i, 2);
    }
    snapshot.services.push_back(RowToService(r, i));
  }
  return snapshots;
}

std::vector<knox::KnoxService> AssignmentStore::Assign(
    pg::Connection& conn, const std::string& msp_id, const std::string& customer_id,
    const std::vector<knox::KnoxService>& services) const {
  auto r = conn.Exec(
      "INSERT INTO customer_services (customer_id, service, msp_id, state) "
      "SELECT $1, s, $2, $3 FROM unnest($4::smallint[]) AS s "
      "ON CONFLICT (customer_id, service) DO UPDATE SET state = EXCLUDED.state, "
      "msp_id = EXCLUDED.msp_id, state_reason = '', add_time = now(), update_time = now() "
      "WHERE customer_services.state = $5 RETURNING service",
      {customer_id, msp_id, std::to_string(v1::AssignedService::ACTIVE),
       pg::ArrayLiteral(std::vector<int>(services.begin(), services.end())),
       std::to_string(v1::AssignedService::ENDED)});
  std::vector<knox::KnoxService> added;
  for (int i = 0; i < r.rows(); ++i) added.push_back(static_cast<knox::KnoxService>(r.Int64(i, 0)));
  return added;
}

std::vector<AssignmentStore::BatchOutcome> AssignmentStore::AssignBatch(
    pg::Connection& conn, const std::string& msp_id,
    const std::vector<BatchAssignment>& items) const {
  std::vector<BatchOutcome> out(items.size());
  std::vector<size_t> live;  // the items still going
  std::vector<std::string> customer_ids;
  for (const auto& item : items) customer_ids.push_back(item.customer_id);
  const auto ended = LockAndFindEnded(conn, msp_id, customer_ids);
  for (size_t i = 0; i < items.size(); ++i) {
    if (ended.contains(items[i].customer_id)) {
      out[i].error = ApiError::FailedPrecondition(
          "CUSTOMER_NOT_ACTIVE", "services can be added to active customers only", items[i].parent);
    } else {
      live.push_back(i);
    }
  }

  // Request ids: a repeat is answered from its first answer (a twin of this batch waited for
  // it on the customers' locks).
  std::vector<std::string> keys, hashes;
  for (size_t i : live) {
    keys.push_back(items[i].request_key);
    hashes.push_back(items[i].request_hash);
  }
  const auto prior = idempotency::FindResponses(conn, msp_id, keys, "AssignServices", hashes);
  std::vector<size_t> fresh;
  for (size_t k = 0; k < live.size(); ++k) {
    const size_t i = live[k];
    if (prior[k].error) {
      out[i].error = prior[k].error;
    } else if (prior[k].response) {
      out[i].response.ParseFromString(*prior[k].response);
    } else {
      fresh.push_back(i);
    }
  }
  live = fresh;

  // Knox Manage tenants: the one a customer has must be the one asked for; a new one is created
  // unless taken (the unique key decides, between requests of the batch too).
  std::vector<size_t> with_manage;
  std::vector<std::string> with_manage_ids;
  for (size_t i : live) {
    if (std::find(items[i].services.begin(), items[i].services.end(), v1::KNOX_MANAGE) !=
        items[i].services.end()) {
      with_manage.push_back(i);
      with_manage_ids.push_back(items[i].customer_id);
    }
  }
  if (!with_manage.empty()) {
    auto existing = conn.Exec(
        "SELECT customer_id, tenant_id FROM knox_manage_tenants WHERE customer_id = "
        "ANY($1::text[])",
        {pg::TextArrayLiteral(with_manage_ids)});
    std::map<std::string, std::string> tenant_of;
    for (int r = 0; r < existing.rows(); ++r)
      tenant_of[existing.String(r, 0)] = existing.String(r, 1);
    std::vector<std::string> new_ids, new_customers;
    std::map<std::string, size_t> wants;  // customer -> item asking for a new tenant
    for (size_t i : with_manage) {
      const auto& item = items[i];
      const std::string tenant_id =
          knox::TenantId(item.tenant_prefix, knox::EmailDomain(item.work_email));
      auto it = tenant_of.find(item.customer_id);
      if (it != tenant_of.end()) {
        try {
          knox::CheckTenantKept(it->second, item.tenant_prefix, tenant_id, item.parent);
        } catch (const ApiError& e) {
          out[i].error = e;
        }
        continue;
      }
      new_ids.push_back(tenant_id);
      new_customers.push_back(item.customer_id);
      wants[item.customer_id] = i;
    }
    if (!new_ids.empty()) {
      auto created = conn.Exec(
          "INSERT INTO knox_manage_tenants (tenant_id, customer_id, msp_id) "
          "SELECT t, c, $3 FROM unnest($1::text[], $2::text[]) AS u(t, c) "
          "ON CONFLICT DO NOTHING RETURNING customer_id",
          {pg::TextArrayLiteral(new_ids), pg::TextArrayLiteral(new_customers), msp_id});
      std::set<std::string> got;
      for (int r = 0; r < created.rows(); ++r) got.insert(created.String(r, 0));
      for (const auto& [customer_id, i] : wants) {
        if (got.contains(customer_id)) continue;
        const auto& item = items[i];
        out[i].error = TenantTaken(conn, item.tenant_prefix, knox::EmailDomain(item.work_email),
                                   item.company_name);
      }
    }
  }
  // A refused request keeps nothing: a retry is decided again.
  std::erase_if(live, [&](size_t i) { return out[i].error.has_value(); });
  if (live.empty()) return out;

  // The services, and every service of the customers after.
  std::vector<std::string> pair_customers;
  std::vector<int> pair_services;
  std::vector<std::string> ids;
  for (size_t i : live) {
    ids.push_back(items[i].customer_id);
    for (auto service : items[i].services) {
      pair_customers.push_back(items[i].customer_id);
      pair_services.push_back(service);
    }
  }
  // Each customer's services-changed message (written by the trigger) carries its own trace.
  nlohmann::json trace_of = nlohmann::json::object();
  for (size_t i : live) {
    if (!items[i].traceparent.empty()) trace_of[items[i].customer_id] = items[i].traceparent;
  }
  if (!trace_of.empty()) {
    // The setting migrations/0010's trigger reads.
    conn.Exec("SELECT set_config('msp.traceparent_of', $1, true)", {trace_of.dump()});
  }
  auto added = conn.Exec(
      "INSERT INTO customer_services (customer_id, service, msp_id, state) "
      "SELECT c, s, $1, $2 FROM unnest($3::text[], $4::smallint[]) AS u(c, s) "
      "ON CONFLICT (customer_id, service) DO UPDATE SET state = EXCLUDED.state, "
      "msp_id = EXCLUDED.msp_id, state_reason = '', add_time = now(), update_time = now() "
      "WHERE customer_services.state = $5 RETURNING customer_id, service",
      {msp_id, std::to_string(v1::AssignedService::ACTIVE), pg::TextArrayLiteral(pair_customers),
       pg::ArrayLiteral(pair_services), std::to_string(v1::AssignedService::ENDED)});
  std::map<std::string, std::vector<int>> added_of;
  for (int r = 0; r < added.rows(); ++r) {
    added_of[added.String(r, 0)].push_back(static_cast<int>(added.Int64(r, 1)));
  }
  auto after = ListMany(conn, msp_id, ids);
  std::vector<std::string> saved_keys, saved_hashes, saved_answers;
  for (size_t i : live) {
    auto& response = out[i].response;
    auto services_added = added_of[items[i].customer_id];
    std::sort(services_added.begin(), services_added.end());
    for (int service : services_added) {
      response.add_added_services(static_cast<knox::KnoxService>(service));
    }
    for (auto& service : after[items[i].customer_id].services) {
      *response.add_services() = std::move(service);
    }
    saved_keys.push_back(items[i].request_key);
    saved_hashes.push_back(items[i].request_hash);
    saved_answers.push_back(response.SerializeAsString());
  }
  idempotency::SaveNewResponses(conn, msp_id, saved_keys, "AssignServices", saved_hashes,
                                saved_answers);
  return out;
}

ApiError AssignmentStore::TenantTaken(pg::Connection& conn, const std::string& prefix,
                                      const std::string& domain,
                                      const std::string& company_name) const {
  const std::string tenant_id = knox::TenantId(prefix, domain);
  return ApiError(
             grpc::StatusCode::ALREADY_EXISTS, "KNOX_MANAGE_TENANT_ID_TAKEN",
             absl::StrCat("the Knox Manage tenant id ", tenant_id, " is taken: choose a prefix"))
      .WithMetadata("tenant_id", tenant_id)
      .WithMetadata("suggestions",
                    absl::StrJoin(SuggestTenantIds(conn, prefix, domain, company_name), ","));
}

std::vector<std::string> AssignmentStore::SuggestTenantIds(pg::Connection& conn,
                                                           const std::string& prefix,
                                                           const std::string& domain,
                                                           const std::string& company_name) const {
  const auto candidates = knox::TenantIdCandidates(prefix, domain, company_name);
  const auto taken = TakenTenantIds(conn, candidates);
  std::vector<std::string> free;
  for (const auto& id : candidates) {
    if (!taken.contains(id) && free.size() < 3) free.push_back(id);
  }
  return free;
}

std::optional<std::string> AssignmentStore::TenantOf(pg::Connection& conn,
                                                     const std::string& customer_id) const {
  auto r =
      conn.Exec("SELECT tenant_id FROM knox_manage_tenants WHERE customer_id = $1", {customer_id});
  if (r.empty()) return std::nullopt;
  return r.String(0, 0);
}

bool AssignmentStore::CreateTenant(pg::Connection& conn, const std::string& tenant_id,
                                   const std::string& customer_id,
                                   const std::string& msp_id) const {
  auto r = conn.Exec(
      "INSERT INTO knox_manage_tenants (tenant_id, customer_id, msp_id) VALUES ($1, $2, $3) "
      "ON CONFLICT DO NOTHING RETURNING 1",
      {tenant_id, customer_id, msp_id});
  return !r.empty();
}

std::set<std::string> AssignmentStore::TakenTenantIds(
    pg::Connection& conn, const std::vector<std::string>& tenant_ids) const {
  std::set<std::string> taken;
  if (tenant_ids.empty()) return taken;
  auto r = conn.Exec("SELECT tenant_id FROM knox_manage_tenants WHERE tenant_id = ANY($1::text[])",
                     {pg::TextArrayLiteral(tenant_ids)});
  for (int i = 0; i < r.rows(); ++i) taken.insert(r.String(i, 0));
  return taken;
}

std::vector<v1::ReportDeviceCountsResponse::Result> AssignmentStore::ApplyDeviceCounts(
    pg::Connection& conn, const v1::ReportDeviceCountsRequest& request,
    const std::vector<bool>& apply) const {
  std::vector<std::string> ids, services, devices, attention, observed;
  for (int i = 0; i < request.reports_size(); ++i) {
    const auto& r = request.reports(i);
    ids.push_back(r.customer_id());
    services.push_back(std::to_string(r.service()));
    devices.push_back(std::to_string(r.device_count()));
    attention.push_back(std::to_string(r.devices_needing_attention()));
    // A report kept out of the batch (NULL) never updates: a later one for it is in the batch.
    observed.push_back(
        apply[static_cast<size_t>(i)] ? std::to_string(TimestampMicros(r.observe_time())) : "NULL");
  }
  // One statement for the batch. A report counts only if it is newer than what is stored, so
  // a late or replayed report never moves the counts back in time.
  auto result = conn.Exec(
      "WITH r AS (SELECT * FROM unnest($1::text[], $2::smallint[], $3::bigint[], $4::bigint[], "
      "$5::bigint[]) WITH ORDINALITY AS r(customer_id, service, devices, attention, observed, "
      "ord)), "
      "u AS (UPDATE customer_services s SET device_count = r.devices, "
      "devices_needing_attention = r.attention, counts_observe_time = 'epoch'::timestamptz + "
      "r.observed * interval '1 microsecond', update_time = now() FROM r "
      "WHERE s.customer_id = r.customer_id AND s.service = r.service AND r.observed IS NOT NULL "
      "AND "
      "(s.counts_observe_time IS NULL OR s.counts_observe_time < 'epoch'::timestamptz + "
      "r.observed * interval '1 microsecond') RETURNING r.ord) "
      "SELECT EXISTS (SELECT 1 FROM u WHERE u.ord = r.ord), EXISTS (SELECT 1 FROM "
      "customer_services s WHERE s.customer_id = r.customer_id AND s.service = r.service) "
      "FROM r ORDER BY r.ord",
      {pg::TextArrayLiteral(ids), pg::ArrayLiteral(services), pg::ArrayLiteral(devices),
       pg::ArrayLiteral(attention), pg::ArrayLiteral(observed)});
  std::vector<v1::ReportDeviceCountsResponse::Result> out;
  for (int i = 0; i < result.rows(); ++i) {
    if (result.Bool(i, 0)) {
      out.push_back(v1::ReportDeviceCountsResponse::APPLIED);
    } else if (result.Bool(i, 1)) {
      out.push_back(v1::ReportDeviceCountsResponse::STALE);
    } else {
      out.push_back(v1::ReportDeviceCountsResponse::UNKNOWN_SERVICE);
    }
  }
  return out;
}

std::set<std::string> AssignmentStore::LockAndFindEnded(
    pg::Connection& conn, const std::string& msp_id,
    const std::vector<std::string>& customer_ids) const {
  conn.Exec(
      "SELECT pg_advisory_xact_lock(hashtext(c)) FROM "
      "(SELECT DISTINCT c FROM unnest($1::text[]) AS c ORDER BY c) ordered",
      {pg::TextArrayLiteral(customer_ids)});
  auto r = conn.Exec(
      "SELECT customer_id FROM ended_links WHERE msp_id = $1 AND customer_id = ANY($2::text[])",
      {msp_id, pg::TextArrayLiteral(customer_ids)});
  std::set<std::string> ended;
  for (int i = 0; i < r.rows(); ++i) ended.insert(r.String(i, 0));
  return ended;
}

std::vector<v1::AssignedService> AssignmentStore::EndAll(
    pg::Connection& conn, const std::string& msp_id, const std::string& customer_id,
    const std::string& reason, std::vector<knox::KnoxService>* ended) const {
  conn.Exec("SELECT pg_advisory_xact_lock(hashtext($1))", {customer_id});
  conn.Exec("INSERT INTO ended_links (customer_id, msp_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            {customer_id, msp_id});
  auto r = conn.Exec(
      "UPDATE customer_services SET state = $3, state_reason = $4, update_time = now() "
      "WHERE msp_id = $1 AND customer_id = $2 AND state <> $3 RETURNING service",
      {msp_id, customer_id, std::to_string(v1::AssignedService::ENDED), reason});
  if (ended != nullptr) {
    for (int i = 0; i < r.rows(); ++i) {
      ended->push_back(static_cast<knox::KnoxService>(r.Int64(i, 0)));
    }
  }
  return List(conn, msp_id, customer_id);
}

void AssignmentStore::QueueCustomerEvent(pg::Connection& conn, const std::string& msp_id,
                                         const std::string& customer_id, const std::string& action,
                                         const std::string& actor,
                                         const std::vector<knox::KnoxService>& services,
                                         const std::string& request_id) const {
  customer::v1::RecordCustomerEventRequest event;
  event.set_parent(CustomerName(msp_id, customer_id));
  event.set_action(action);
  std::vector<knox::KnoxService> sorted = services;
  std::sort(sorted.begin(), sorted.end());
  for (auto s : sorted)
    event.add_changed_fields(absl::StrCat("services.", AbslView(knox::ServiceId(s))));
  event.set_request_id(request_id);
  SetTimestampMicros(event.mutable_event_time(),
                     std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  // The key makes a redelivery harmless: one per queued event (random here, so that queueing
  // costs no round trip of its own inside the assignment's transaction).
  unsigned char random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) throw std::runtime_error("no random bytes");
  const std::string key = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
  event.set_event_key(absl::StrCat("assignment:", key));
  // Whom it was for travels in the outbox row, and reaches the customer service in the relay's
  // signed token, never in the request.
  outbox::Enqueue(conn, msp_id, kCustomerEventsTopic, key, event.SerializeAsString(), actor);
}

}  // namespace msp::assignment
