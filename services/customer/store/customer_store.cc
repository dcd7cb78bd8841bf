#include "customer_store.h"

#include <algorithm>

#include "../domain/customer_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "msp/common/errors.h"
#include "msp/common/outbox.h"
#include "msp/common/strings.h"
#include "msp/common/tenancy.h"
#include "msp/common/timestamps.h"

namespace msp {
const std::vector<Migration>& CustomerMigrations();
}

namespace msp::customer {
namespace {

// The columns every read returns, in the order RowToCustomer expects.
constexpr char kColumns[] =
    "customer_id, company_name, company_size, industries, country_code, address_line1, "
    "address_line2, city, region, zip_code, website_uri, contact_first_name, contact_last_name, "
    "contact_email, contact_phone, contact_job_title, management_type, state, "
    "(extract(epoch from create_time) * 1000000)::bigint, "
    "(extract(epoch from update_time) * 1000000)::bigint, "
    "(extract(epoch from msp_link_time) * 1000000)::bigint, version, msp_id, requested_services, "
    "services_error, link_id, super_admin_portal_access, own_services, link_resource";
constexpr int kColumnCount = 29;

StoredCustomer RowToCustomer(const pg::Result& r, int row, int offset = 0) {
  StoredCustomer out;
  auto& c = out.customer;
  const std::string customer_id = r.String(row, offset + 0);
  const std::string msp_id = r.IsNull(row, offset + 22) ? "" : r.String(row, offset + 22);
  c.set_customer_id(customer_id);
  c.set_name(CustomerName(msp_id, customer_id));
  auto* company = c.mutable_company();
  company->set_display_name(r.String(row, offset + 1));
  company->set_size(static_cast<v1::CompanySize>(r.Int64(row, offset + 2)));
  for (int industry : pg::ParseIntArray(r.Text(row, offset + 3))) {
    company->add_industries(static_cast<v1::Industry>(industry));
  }
  company->set_country_code(r.String(row, offset + 4));
  auto* address = company->mutable_address();
  address->set_address_line1(r.String(row, offset + 5));
  address->set_address_line2(r.String(row, offset + 6));
  address->set_city(r.String(row, offset + 7));
  address->set_state(r.String(row, offset + 8));
  address->set_zip_code(r.String(row, offset + 9));
  company->set_website_uri(r.String(row, offset + 10));
  auto* contact = c.mutable_contact();
  contact->set_first_name(r.String(row, offset + 11));
  contact->set_last_name(r.String(row, offset + 12));
  contact->set_work_email(r.String(row, offset + 13));
  contact->set_phone(r.String(row, offset + 14));
  contact->set_job_title(r.String(row, offset + 15));
  c.set_management_type(static_cast<v1::ManagementType>(r.Int64(row, offset + 16)));
  c.set_state(static_cast<v1::State>(r.Int64(row, offset + 17)));
  SetTimestampMicros(c.mutable_create_time(), r.Int64(row, offset + 18));
  SetTimestampMicros(c.mutable_update_time(), r.Int64(row, offset + 19));
  if (!r.IsNull(row, offset + 20))
    SetTimestampMicros(c.mutable_msp_link_time(), r.Int64(row, offset + 20));
  out.version = r.Int64(row, offset + 21);
  for (int service : pg::ParseIntArray(r.Text(row, offset + 23))) {
    out.requested_services.push_back(static_cast<knox::KnoxService>(service));
  }
  out.services_error = r.String(row, offset + 24);
  for (int service : pg::ParseIntArray(r.Text(row, offset + 27))) {
    out.own_services.push_back(static_cast<knox::KnoxService>(service));
  }
  out.link_id = r.String(row, offset + 25);
  out.msp_id = msp_id;
  out.link_resource = static_cast<LinkResource>(r.Int64(row, offset + 28));
  c.set_link(LinkName(msp_id, out.link_id, out.link_resource));
  c.set_super_admin_portal_access(r.Bool(row, offset + 26));
  c.set_etag(CustomerEtag(out.version));
  return out;
}

std::string SortColumn(SortKey key) {
  switch (key) {
    case SortKey::kCompanyName:
      return "company_name_key";
    case SortKey::kCreateTime:
      return "create_time";
    case SortKey::kUpdateTime:
      return "update_time";
    case SortKey::kCustomerId:
      return "customer_id";
  }
  return "customer_id";
}

// The cursor's text form of a sort value, and the SQL that turns it back into the column's type.
std::string SortValueSql(SortKey key, const std::string& param) {
  if (key == SortKey::kCreateTime || key == SortKey::kUpdateTime) {
    return absl::StrCat("('epoch'::timestamptz + ", param, "::bigint * interval '1 microsecond')");
  }
  return param;
}

std::string SortValueOf(SortKey key, const pg::Result& r, int row) {
  switch (key) {
    case SortKey::kCompanyName:
      return r.String(row, kColumnCount);
    case SortKey::kCreateTime:
      return r.String(row, 18);
    case SortKey::kUpdateTime:
      return r.String(row, 19);
    case SortKey::kCustomerId:
      return r.String(row, 0);
  }
  return "";
}

}  // namespace

const std::vector<Migration>& CustomerSchemaMigrations() {
  static const std::vector<Migration> kAll = CombineMigrations(
      CustomerMigrations(),
      {outbox::TableMigration(2), outbox::TopicIndexMigration(7), outbox::OnBehalfOfMigration(10),
       outbox::LeaseMigration(11), outbox::TraceMigration(12)});
  return kAll;
}

std::optional<StoredCustomer> CustomerStore::FindById(pg::Connection& conn,
                                                      const std::string& customer_id,
                                                      bool for_update) const {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns, " FROM customers WHERE customer_id = $1");
  static const std::string kSqlForUpdate = kSql + " FOR UPDATE";
  return FromFindResult(conn.Exec(for_update ? kSqlForUpdate : kSql, {customer_id}));
}

std::vector<StoredCustomer> CustomerStore::FindByIds(
    pg::Connection& conn, const std::vector<std::string>& customer_ids) const {
  static const std::string kSql =
      absl::StrCat("SELECT ", kColumns, " FROM customers WHERE customer_id = ANY($1::text[])");
  constexpr size_t kPerQuery = 1000;
  std::vector<StoredCustomer> found;
  for (size_t begin = 0; begin < customer_ids.size(); begin += kPerQuery) {
    const auto first = customer_ids.begin() + static_cast<std::ptrdiff_t>(begin);
    const auto last = customer_ids.begin() +
                      static_cast<std::ptrdiff_t>(std::min(customer_ids.size(), begin + kPerQuery));
    auto r = conn.Exec(kSql, {pg::TextArrayLiteral(std::vector<std::string>(first, last))});
    for (int i = 0; i < r.rows(); ++i) found.push_back(RowToCustomer(r, i));
  }
  return found;
}

LinkState LinkStateOf(const StoredCustomer& stored) {
  return {stored.msp_id,
          stored.customer.state(),
          stored.customer.management_type(),
          stored.link_id,
          stored.customer.super_admin_portal_access(),
          stored.link_resource};
}

StoredCustomer CustomerStore::ApplyLink(pg::Connection& conn, const std::string& customer_id,
                                        const LinkState& next, bool set_msp_link_time) const {
  auto r = conn.Exec(
      absl::StrCat("UPDATE customers SET msp_id = NULLIF($2, ''), state = $3, management_type = "
                   "$4, link_id = $5, super_admin_portal_access = $6, link_resource = $8, "
                   "msp_link_time = CASE WHEN "
                   "$7 THEN now() ELSE msp_link_time END, version = version + 1, update_time = "
                   "greatest(now(), update_time + interval '1 microsecond') WHERE customer_id = "
                   "$1 RETURNING ",
                   kColumns),
      {customer_id, next.msp_id, std::to_string(next.state), std::to_string(next.management_type),
       next.link_id, next.super_admin_portal_access ? "true" : "false",
       set_msp_link_time ? "true" : "false", std::to_string(static_cast<int>(next.link_resource))});
  if (r.empty()) throw ApiError::NotFound("customer", CustomerName("", customer_id));
  return RowToCustomer(r, 0);
}

void CustomerStore::SetServicesError(pg::Connection& conn, const std::string& msp_id,
                                     const std::string& customer_id,
                                     const std::string& error) const {
  conn.Exec(
      "UPDATE customers SET services_error = $3, version = version + 1 WHERE customer_id = $1 "
      "AND msp_id = $2",
      {customer_id, msp_id, error});
}

const std::string& CustomerStore::FindSql(bool for_update) {
  static const std::string kFind =
      absl::StrCat("SELECT ", kColumns, " FROM customers WHERE customer_id = $1 AND msp_id = $2");
  static const std::string kFindForUpdate = kFind + " FOR UPDATE";
  return for_update ? kFindForUpdate : kFind;
}

std::vector<pg::Param> CustomerStore::FindParams(const std::string& msp_id,
                                                 const std::string& customer_id) {
  return {customer_id, msp_id};
}

std::optional<StoredCustomer> CustomerStore::FromFindResult(const pg::Result& result) {
  if (result.empty()) return std::nullopt;
  return RowToCustomer(result, 0);
}

std::optional<StoredCustomer> CustomerStore::Find(pg::Connection& conn, const std::string& msp_id,
                                                  const std::string& customer_id,
                                                  bool for_update) const {
  return FromFindResult(conn.Exec(FindSql(for_update), FindParams(msp_id, customer_id)));
}

pg::Statement CustomerStore::CreateStatement(const NewCustomer& created) {
  const auto& c = created.customer;
  const auto& company = c.company();
  const auto& contact = c.contact();
  const int64_t micros = TimestampMicros(c.create_time());
  std::vector<pg::Param> params = {c.customer_id(),
                                   created.msp_id,
                                   company.display_name(),
                                   std::to_string(company.size()),
                                   pg::ArrayLiteral(company.industries()),
                                   company.country_code(),
                                   company.address().address_line1(),
                                   company.address().address_line2(),
                                   company.address().city(),
                                   company.address().state(),
                                   company.address().zip_code(),
                                   company.website_uri(),
                                   contact.first_name(),
                                   contact.last_name(),
                                   contact.work_email(),
                                   contact.phone(),
                                   contact.job_title(),
                                   std::to_string(c.management_type()),
                                   std::to_string(c.state()),
                                   std::to_string(micros),
                                   created.actor,
                                   created.request_id};
  std::vector<int> requested;
  for (auto service : created.services) requested.push_back(static_cast<int>(service));
  params.push_back(pg::ArrayLiteral(requested));
  const std::string requested_param = absl::StrCat("$", params.size());
  params.push_back(pg::ToHex(created.assignment_payload));
  const std::string payload_param = absl::StrCat("$", params.size());
  params.push_back(c.super_admin_portal_access() ? "true" : "false");
  const std::string portal_param = absl::StrCat("$", params.size());
  params.push_back(pg::ToHex(created.account_setup_payload));
  const std::string setup_param = absl::StrCat("$", params.size());
  std::vector<int> own;
  for (auto service : created.own_services) own.push_back(static_cast<int>(service));
  params.push_back(pg::ArrayLiteral(own));
  const std::string own_param = absl::StrCat("$", params.size());
  const std::string insert_customer =
      "INSERT INTO customers (customer_id, msp_id, company_name, company_size, industries, "
      "country_code, address_line1, address_line2, city, region, zip_code, website_uri, "
      "contact_first_name, contact_last_name, contact_email, contact_phone, contact_job_title, "
      "management_type, state, create_time, update_time, msp_link_time, requested_services, "
      "super_admin_portal_access, own_services) "
      "SELECT $1, NULLIF($2, ''), $3, $4, $5::smallint[], $6, $7, $8, $9, $10, $11, $12, $13, "
      "$14, $15, $16, $17, $18, $19, t, t, CASE WHEN $2 = '' THEN NULL ELSE t END, " +
      requested_param + "::smallint[], " + portal_param + "::boolean, " + own_param +
      "::smallint[] FROM (SELECT 'epoch'::timestamptz + $20::bigint * interval '1 microsecond' "
      "AS t) now_ts ";
  const std::string insert_event =
      "e AS (INSERT INTO customer_events (msp_id, customer_id, action, actor, request_id, "
      "create_time) SELECT $2, customer_id, 'CUSTOMER_CREATED', $21, $22, create_time FROM c), "
      // The assignment of the requested services, delivered by the outbox relay.
      "o AS (" +
      outbox::InsertRows(absl::StrCat("SELECT $2, ", outbox::TopicLiteral(kAssignServicesTopic),
                                      ", customer_id, ", payload_param, "::bytea, $21 FROM c ",
                                      "WHERE cardinality(", requested_param, "::smallint[]) > 0")) +
      "), "
      // A jointly managed customer's account-set-up email, sent by the onboarding service.
      "o2 AS (" +
      outbox::InsertRows(absl::StrCat("SELECT $2, ", outbox::TopicLiteral(kAccountSetupTopic),
                                      ", customer_id, ", setup_param, "::bytea, '' FROM c ",
                                      "WHERE length(", setup_param, "::bytea) > 0")) +
      ") ";
  const std::string id_taken = "EXISTS (SELECT 1 FROM customers WHERE customer_id = $1)";
  std::string sql;
  if (created.request_id.empty()) {
    sql = absl::StrCat("WITH c AS (", insert_customer,
                       "ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id, create_time), ",
                       insert_event, "SELECT 1, (SELECT count(*) FROM c), ", id_taken);
  } else {
    params.push_back(pg::ToHex(created.request_hash));
    const std::string hash_param = absl::StrCat("$", params.size());
    params.push_back(pg::ToHex(c.SerializeAsString()));
    const std::string response_param = absl::StrCat("$", params.size());
    // The claim is made only for a free id, so that a taken id leaves nothing behind.
    sql = absl::StrCat(
        "WITH claim AS (INSERT INTO idempotency_keys (msp_id, request_id, method, request_hash, "
        "response) SELECT $2, $22, 'CreateCustomer', ",
        hash_param, "::bytea, ", response_param, "::bytea WHERE NOT ", id_taken,
        " ON CONFLICT DO NOTHING RETURNING 1), c AS (", insert_customer,
        "WHERE EXISTS (SELECT 1 FROM claim) ON CONFLICT (customer_id) DO NOTHING RETURNING "
        "customer_id, create_time), ",
        insert_event, "SELECT (SELECT count(*) FROM claim), (SELECT count(*) FROM c), ", id_taken);
  }
  return {std::move(sql), std::move(params)};
}

CreateOutcome CustomerStore::CreateOutcomeOf(const pg::Result& r, const NewCustomer& created) {
  const bool claimed = r.Int64(0, 0) == 1;
  const bool inserted = r.Int64(0, 1) == 1;
  const bool taken_before = r.Bool(0, 2);
  if (claimed && inserted) return CreateOutcome::kCreated;
  if (taken_before) return CreateOutcome::kCustomerIdTaken;
  if (!claimed) return CreateOutcome::kRequestSeen;
  return created.request_id.empty() ? CreateOutcome::kCustomerIdTaken
                                    : CreateOutcome::kClaimedWithoutCustomer;
}

CreateOutcome CustomerStore::Create(pg::Connection& conn, const NewCustomer& created) const {
  pg::Statement create = CreateStatement(created);
  // Without a request id the statement is not safe to send twice.
  return CreateOutcomeOf(
      conn.Exec(create.sql, create.params,
                created.request_id.empty() ? pg::Resend::kNever : pg::Resend::kIfStale),
      created);
}

pg::Statement CustomerStore::ReleaseRequestIdStatement(const NewCustomer& created) {
  return {
      "DELETE FROM idempotency_keys WHERE msp_id = $1 AND request_id = $2 AND response = $3::bytea",
      {created.msp_id, created.request_id, pg::ToHex(created.customer.SerializeAsString())}};
}

StoredCustomer CustomerStore::Update(pg::Connection& conn, const std::string& msp_id,
                                     const v1::Customer& c) const {
  const auto& company = c.company();
  const auto& contact = c.contact();
  auto r = conn.Exec(
      absl::StrCat(
          "UPDATE customers SET company_name = $3, company_size = $4, industries = $5::smallint[], "
          "country_code = $6, address_line1 = $7, address_line2 = $8, city = $9, region = $10, "
          "zip_code = $11, website_uri = $12, contact_first_name = $13, contact_last_name = $14, "
          "contact_email = $15, management_type = $16, super_admin_portal_access = $17, "
          "version = version + 1, "
          "update_time = greatest(now(), update_time + interval '1 microsecond') "
          "WHERE customer_id = $1 AND msp_id = $2 RETURNING ",
          kColumns),
      {c.customer_id(), msp_id, company.display_name(), std::to_string(company.size()),
       pg::ArrayLiteral(company.industries()), company.country_code(),
       company.address().address_line1(), company.address().address_line2(),
       company.address().city(), company.address().state(), company.address().zip_code(),
       company.website_uri(), contact.first_name(), contact.last_name(), contact.work_email(),
       std::to_string(c.management_type()), c.super_admin_portal_access() ? "true" : "false"});
  if (r.empty()) throw ApiError::NotFound("customer", CustomerName(msp_id, c.customer_id()));
  return RowToCustomer(r, 0);
}

void CustomerStore::AppendEvent(pg::Connection& conn, const std::string& msp_id,
                                const std::string& customer_id, const std::string& action,
                                const std::string& actor,
                                const std::vector<std::string>& changed_fields,
                                const std::string& request_id) const {
  conn.Exec(
      "INSERT INTO customer_events (msp_id, customer_id, action, actor, changed_fields, "
      "request_id) VALUES ($1, $2, $3, $4, $5::text[], $6)",
      {msp_id, customer_id, action, actor, pg::TextArrayLiteral(changed_fields), request_id});
}

ListSql CustomerStore::BuildListSql(const std::string& msp_id, const ListQuery& query) {
  std::vector<pg::Param> params = {msp_id};
  // msps/-: every MSP's customers (by customer id, through the primary key).
  std::string where = msp_id == kAnyMsp ? "$1::text = '-' AND msp_id IS NOT NULL" : "msp_id = $1";
  auto next = [&](std::string value) {
    params.push_back(std::move(value));
    return absl::StrCat("$", params.size());
  };
  pg::AppendAnyOf(where, params, "state", query.states);
  pg::AppendAnyOf(where, params, "management_type", query.management_types);
  pg::AppendContains(where, params, "search_text", query.search);
  if (!query.search.empty()) {
    // The contact's email is not the MSP's to see before the customer consents (consent.h):
    // nor to probe by searching. Such customers match on the rest only.
    absl::StrAppend(&where, " AND (state IN (", v1::ACTIVE, ", ", v1::DELINK_REQUESTED, ", ",
                    v1::DELINKED,
                    ") OR lower(company_name || ' ' || customer_id || ' ' || contact_first_name "
                    "|| ' ' || contact_last_name) LIKE lower($",
                    params.size(), "))");
  }
  const std::string column = SortColumn(query.sort_key);
  const char* cmp = query.descending ? "<" : ">";
  const char* dir = query.descending ? "DESC" : "ASC";
  if (query.after) {
    if (query.sort_key == SortKey::kCustomerId) {
      absl::StrAppend(&where, " AND customer_id ", cmp, " ", next(query.after->second));
    } else {
      const std::string value = SortValueSql(query.sort_key, next(query.after->first));
      absl::StrAppend(&where, " AND (", column, ", customer_id) ", cmp, " (", value, ", ",
                      next(query.after->second), ")");
    }
  }
  std::string sql = absl::StrCat(
      "SELECT ", kColumns, ", company_name_key FROM customers WHERE ", where, " ORDER BY ", column,
      " ", dir, (query.sort_key == SortKey::kCustomerId ? "" : absl::StrCat(", customer_id ", dir)),
      " LIMIT ", query.page_size + 1);
  return {std::move(sql), std::move(params)};
}

CustomerPage CustomerStore::List(pg::Connection& conn, const std::string& msp_id,
                                 const ListQuery& query) const {
  CustomerPage page;
  if (query.matches_nothing) return page;
  const ListSql list = BuildListSql(msp_id, query);
  auto r = conn.Exec(list.sql, list.params);
  const int rows = std::min(r.rows(), query.page_size);
  for (int i = 0; i < rows; ++i) page.customers.push_back(RowToCustomer(r, i));
  if (r.rows() > query.page_size) {
    page.next_after =
        std::make_pair(SortValueOf(query.sort_key, r, rows - 1), r.String(rows - 1, 0));
  }
  return page;
}

bool CustomerStore::RecordEvent(pg::Connection& conn, const std::string& msp_id,
                                const std::string& customer_id,
                                const v1::RecordCustomerEventRequest& event,
                                const std::string& actor) const {
  // Only for a customer the MSP has: the trail is the MSP's.
  auto r = conn.Exec(
      "INSERT INTO customer_events (msp_id, customer_id, action, actor, changed_fields, "
      "request_id, create_time, event_key) SELECT $1, $2, $3, $4, $5::text[], $6, "
      "'epoch'::timestamptz + $7::bigint * interval '1 microsecond', $8 "
      "WHERE EXISTS (SELECT 1 FROM customers WHERE customer_id = $2 AND msp_id = $1) "
      "ON CONFLICT (event_key) WHERE event_key IS NOT NULL DO NOTHING RETURNING event_id",
      {msp_id, customer_id, event.action(), actor,
       pg::TextArrayLiteral(
           std::vector<std::string>(event.changed_fields().begin(), event.changed_fields().end())),
       event.request_id(), std::to_string(TimestampMicros(event.event_time())), event.event_key()});
  if (!r.empty()) return true;
  // Recorded before (a redelivery), or not this MSP's customer.
  return !conn.Exec("SELECT 1 FROM customer_events WHERE event_key = $1 AND msp_id = $2",
                    {event.event_key(), msp_id})
              .empty();
}

void CustomerStore::RecordServicesAdded(pg::Connection& conn, const std::string& msp_id,
                                        const std::vector<ServicesAdded>& added,
                                        const std::string& actor) const {
  std::vector<std::string> ids, fields, request_ids;
  for (const auto& entry : added) {
    std::vector<knox::KnoxService> sorted = entry.services;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::string> names;
    for (auto s : sorted) names.push_back(absl::StrCat("services.", AbslView(knox::ServiceId(s))));
    ids.push_back(entry.customer_id);
    fields.push_back(pg::TextArrayLiteral(names));
    request_ids.push_back(entry.request_id);
  }
  conn.Exec(
      "INSERT INTO customer_events (msp_id, customer_id, action, actor, changed_fields, "
      "request_id, event_key) SELECT $1, a.customer_id, 'SERVICES_ADDED', $2, a.fields::text[], "
      "a.request_id, 'services-added:' || a.customer_id || ':' || a.request_id "
      "FROM unnest($3::text[], $4::text[], $5::text[]) AS a(customer_id, fields, request_id) "
      // The MSP's customers by key, the MSP checked after (OFFSET 0 keeps it out of the scan):
      // a scan of the MSP's index looks cheaper to a planner whose statistics have it as new.
      "WHERE a.customer_id IN (SELECT c.customer_id FROM (SELECT customer_id, msp_id FROM "
      "customers WHERE customer_id = ANY($3::text[]) OFFSET 0) c WHERE c.msp_id = $1) "
      "ON CONFLICT (event_key) WHERE event_key IS NOT NULL DO NOTHING",
      {msp_id, actor, pg::TextArrayLiteral(ids), pg::TextArrayLiteral(fields),
       pg::TextArrayLiteral(request_ids)});
}

EventPage CustomerStore::ListEvents(pg::Connection& conn, const std::string& msp_id,
                                    const std::string& customer_id, int page_size,
                                    int64_t before_event_id) const {
  auto r = conn.Exec(
      "SELECT event_id, action, actor, changed_fields, request_id, "
      "(extract(epoch from create_time) * 1000000)::bigint FROM customer_events "
      "WHERE msp_id = $1 AND customer_id = $2 AND event_id < $3 ORDER BY event_id DESC LIMIT $4",
      {msp_id, customer_id, std::to_string(before_event_id > 0 ? before_event_id : INT64_MAX),
       std::to_string(page_size + 1)});
  EventPage page;
  const int rows = std::min(r.rows(), page_size);
  for (int i = 0; i < rows; ++i) {
    v1::CustomerEvent e;
    e.set_name(absl::StrCat(CustomerName(msp_id, customer_id), "/events/", r.String(i, 0)));
    e.set_action(r.String(i, 1));
    e.set_actor(r.String(i, 2));
    std::string_view fields = r.Text(i, 3);
    if (fields.size() > 2) {
      for (auto f : absl::StrSplit(AbslView(fields.substr(1, fields.size() - 2)), ',')) {
        std::string field(f);
        if (field.size() >= 2 && field.front() == '"') field = field.substr(1, field.size() - 2);
        e.add_changed_fields(field);
      }
    }
    e.set_request_id(r.String(i, 4));
    SetTimestampMicros(e.mutable_create_time(), r.Int64(i, 5));
    page.events.push_back(std::move(e));
  }
  if (r.rows() > page_size) page.next_after_event_id = r.Int64(rows - 1, 0);
  return page;
}

}  // namespace msp::customer
