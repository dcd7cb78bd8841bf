#include "read_model_store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "msp/common/knox_services.h"
#include "msp/common/resource_names.h"
#include "msp/common/tenancy.h"
#include "msp/common/timestamps.h"

namespace msp {
const std::vector<Migration>& ReportingMigrations();
}

namespace msp::reporting {
namespace {

constexpr char kSourceColumns[] =
    "customer_id, customer_version, msp_id, account, services_version, services_msp_id, "
    "services, change_us";

ReadModelRow SourceFromResult(const pg::Result& r, int row) {
  ReadModelRow out;
  out.customer_id = r.String(row, 0);
  out.customer_version = r.Int64(row, 1);
  out.msp_id = r.String(row, 2);
  if (!r.IsNull(row, 3)) out.account.ParseFromString(r.Bytes(row, 3));
  out.services_version = r.Int64(row, 4);
  out.services_msp_id = r.String(row, 5);
  if (!r.IsNull(row, 6)) {
    assignment::v1::CustomerServices services;
    services.ParseFromString(r.Bytes(row, 6));
    out.services.assign(services.services().begin(), services.services().end());
  }
  out.change_time_micros = r.Int64(row, 7);
  return out;
}

bool Shown(const ReadModelRow& row) { return row.customer_version > 0 && !row.msp_id.empty(); }

int32_t ActiveMask(const TableFacts& facts) {
  int32_t mask = 0;
  for (const auto& s : facts.services) {
    if (s.state() == assignment::v1::AssignedService::ACTIVE) mask |= 1 << s.service();
  }
  return mask;
}

// The column an order key sorts by, and the SQL type of its keyset value.
std::pair<const char*, const char*> OrderColumn(OrderKey key) {
  switch (key) {
    case OrderKey::kName:
      return {"name_key", "text"};
    case OrderKey::kServiceStatus:
      return {"service_key", "text"};
    case OrderKey::kCustomerId:
      return {"customer_id", "text"};
    case OrderKey::kManagementType:
      return {"management_type", "smallint"};
    case OrderKey::kTotalDevices:
      return {"all_devices", "bigint"};
    case OrderKey::kModified:
      return {"update_us", "bigint"};
    case OrderKey::kCreated:
      return {"create_us", "bigint"};
    case OrderKey::kMspLinked:
      return {"link_us", "bigint"};
  }
  return {"name_key", "text"};
}

// Appends the WHERE terms of the filter and search (after `msp_id = $1`).
void AppendFilter(const TableQuery& query, std::vector<pg::Param>& params, std::string& where) {
  pg::AppendAnyOf(where, params, "state", query.states);
  pg::AppendAnyOf(where, params, "management_type", query.management_types);
  if (query.service_mask != 0) {
    params.push_back(std::to_string(query.service_mask));
    absl::StrAppend(&where, " AND service_mask & $", params.size(), "::integer <> 0");
  }
  pg::AppendContains(where, params, "search_text", query.search);
}

constexpr char kRowColumns[] =
    "customer_id, state, company_name, management_type, total_devices, knox_manage_devices, "
    "create_us, update_us, link_us";

v1::TableRow TableRowFrom(const pg::Result& r, int row, const std::string& msp_id) {
  v1::TableRow out;
  const std::string id = r.String(row, 0);
  out.set_customer(CustomerName(msp_id, id));
  out.set_state(static_cast<customer::v1::State>(r.Int64(row, 1)));
  out.set_company_name(r.String(row, 2));
  out.set_customer_id(id);
  out.set_management_type(static_cast<customer::v1::ManagementType>(r.Int64(row, 3)));
  out.set_total_devices(r.Int64(row, 4));
  if (!r.IsNull(row, 5)) out.set_knox_manage_devices(r.Int64(row, 5));
  SetTimestampMicros(out.mutable_create_time(), r.Int64(row, 6));
  SetTimestampMicros(out.mutable_update_time(), r.Int64(row, 7));
  if (r.Int64(row, 8) != 0) SetTimestampMicros(out.mutable_msp_link_time(), r.Int64(row, 8));
  return out;
}

}  // namespace

const std::vector<Migration>& ReportingSchemaMigrations() { return ReportingMigrations(); }

ApplyOutcome ReadModelStore::Apply(pg::Connection& conn, const ChangeBatch& batch) const {
  ApplyOutcome outcome;
  if (batch.empty()) return outcome;
  std::set<std::string> id_set;
  for (const auto& e : batch.customers) id_set.insert(e.customer_id());
  for (const auto& e : batch.services) id_set.insert(e.customer_id());
  const std::vector<std::string> ids(id_set.begin(), id_set.end());
  const std::string id_array = pg::TextArrayLiteral(ids);
  // Rows first heard of now get an empty source row, so that every row of the batch can be
  // locked, and a concurrent consumer waits for this one rather than racing its insert.
  conn.Exec(
      "INSERT INTO customer_sources (customer_id) SELECT unnest($1::text[]) ORDER BY 1 "
      "ON CONFLICT DO NOTHING",
      {id_array});
  auto r = conn.Exec(absl::StrCat("SELECT ", kSourceColumns,
                                  " FROM customer_sources WHERE customer_id = ANY($1::text[]) "
                                  "ORDER BY customer_id FOR UPDATE"),
                     {id_array});
  std::map<std::string, ReadModelRow> rows;
  for (int i = 0; i < r.rows(); ++i) rows.emplace(r.String(i, 0), SourceFromResult(r, i));

  std::set<std::string> changed;
  auto count = [&](bool applied, const std::string& id, const google::protobuf::Timestamp& at) {
    if (!applied) {
      ++outcome.stale;
      return;
    }
    ++outcome.applied;
    changed.insert(id);
    outcome.applied_change_us.push_back(TimestampMicros(at));
  };
  for (const auto& e : batch.customers) {
    count(ApplyCustomerChanged(rows[e.customer_id()], e), e.customer_id(), e.change_time());
  }
  for (const auto& e : batch.services) {
    count(ApplyServicesChanged(rows[e.customer_id()], e), e.customer_id(), e.change_time());
  }
  if (changed.empty()) return outcome;

  // The sources, then the rows the table reads (or their removal when no longer shown).
  std::vector<std::string> s_ids, s_cv, s_msp, s_account, s_sv, s_smsp, s_services, s_change;
  std::vector<std::string> w_ids, w_msp, w_name, w_state, w_type, w_skey, w_smask, w_amask, w_total,
      w_km, w_all, w_create, w_update, w_link, w_search;
  std::vector<std::string> hidden;
  for (const auto& id : changed) {
    const ReadModelRow& row = rows[id];
    s_ids.push_back(id);
    s_cv.push_back(std::to_string(row.customer_version));
    s_msp.push_back(row.msp_id);
    s_account.push_back(pg::ToHex(row.account.SerializeAsString()));
    s_sv.push_back(std::to_string(row.services_version));
    s_smsp.push_back(row.services_msp_id);
    assignment::v1::CustomerServices services;
    for (const auto& s : row.services) *services.add_services() = s;
    s_services.push_back(pg::ToHex(services.SerializeAsString()));
    s_change.push_back(std::to_string(row.change_time_micros));
    if (!Shown(row)) {
      hidden.push_back(id);
      continue;
    }
    const TableFacts facts = DeriveFacts(row);
    const auto& a = row.account;
    w_ids.push_back(id);
    w_msp.push_back(row.msp_id);
    w_name.push_back(a.company().display_name());
    w_state.push_back(std::to_string(a.state()));
    w_type.push_back(std::to_string(a.management_type()));
    w_skey.push_back(facts.service_key);
    w_smask.push_back(std::to_string(facts.service_mask));
    w_amask.push_back(std::to_string(ActiveMask(facts)));
    w_total.push_back(std::to_string(facts.total_devices));
    w_km.push_back(facts.knox_manage_devices ? std::to_string(*facts.knox_manage_devices) : "NULL");
    w_all.push_back(std::to_string(facts.total_devices + facts.knox_manage_devices.value_or(0)));
    w_create.push_back(std::to_string(TimestampMicros(a.create_time())));
    w_update.push_back(std::to_string(TimestampMicros(a.update_time())));
    w_link.push_back(
        std::to_string(a.has_msp_link_time() ? TimestampMicros(a.msp_link_time()) : 0));
    w_search.push_back(facts.search_text);
  }
  conn.Exec(
      "UPDATE customer_sources s SET customer_version = u.cv, msp_id = u.msp, "
      "account = u.account, services_version = u.sv, services_msp_id = u.smsp, "
      "services = u.services, change_us = u.change_us FROM unnest($1::text[], $2::bigint[], "
      "$3::text[], $4::bytea[], $5::bigint[], $6::text[], $7::bytea[], $8::bigint[]) "
      "AS u(customer_id, cv, msp, account, sv, smsp, services, change_us) "
      "WHERE s.customer_id = u.customer_id",
      {pg::TextArrayLiteral(s_ids), pg::ArrayLiteral(s_cv), pg::TextArrayLiteral(s_msp),
       pg::TextArrayLiteral(s_account), pg::ArrayLiteral(s_sv), pg::TextArrayLiteral(s_smsp),
       pg::TextArrayLiteral(s_services), pg::ArrayLiteral(s_change)});
  if (!w_ids.empty()) {
    conn.Exec(
        "INSERT INTO customer_rows (customer_id, msp_id, company_name, name_key, state, "
        "management_type, service_key, service_mask, active_mask, total_devices, "
        "knox_manage_devices, all_devices, create_us, update_us, link_us, search_text) "
        // Names sort case-insensitively, as PostgreSQL lower-cases them (not only ASCII).
        "SELECT id, msp, name, lower(name), state, type, skey, smask, amask, total, km, alldev, "
        "created, updated, linked, lower(search) FROM unnest($1::text[], $2::text[], $3::text[], "
        "$4::smallint[], $5::smallint[], $6::text[], $7::integer[], $8::integer[], $9::bigint[], "
        "$10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[]) "
        "AS u(id, msp, name, state, type, skey, smask, amask, total, km, alldev, created, "
        "updated, linked, search) "
        "ON CONFLICT (customer_id) DO UPDATE SET msp_id = EXCLUDED.msp_id, "
        "company_name = EXCLUDED.company_name, name_key = EXCLUDED.name_key, "
        "state = EXCLUDED.state, management_type = EXCLUDED.management_type, "
        "service_key = EXCLUDED.service_key, service_mask = EXCLUDED.service_mask, "
        "active_mask = EXCLUDED.active_mask, total_devices = EXCLUDED.total_devices, "
        "knox_manage_devices = EXCLUDED.knox_manage_devices, "
        "all_devices = EXCLUDED.all_devices, create_us = EXCLUDED.create_us, "
        "update_us = EXCLUDED.update_us, link_us = EXCLUDED.link_us, "
        "search_text = EXCLUDED.search_text",
        {pg::TextArrayLiteral(w_ids), pg::TextArrayLiteral(w_msp), pg::TextArrayLiteral(w_name),
         pg::ArrayLiteral(w_state), pg::ArrayLiteral(w_type), pg::TextArrayLiteral(w_skey),
         pg::ArrayLiteral(w_smask), pg::ArrayLiteral(w_amask), pg::ArrayLiteral(w_total),
         pg::ArrayLiteral(w_km), pg::ArrayLiteral(w_all), pg::ArrayLiteral(w_create),
         pg::ArrayLiteral(w_update), pg::ArrayLiteral(w_link), pg::TextArrayLiteral(w_search)});
  }
  if (!hidden.empty()) {
    conn.Exec("DELETE FROM customer_rows WHERE customer_id = ANY($1::text[])",
              {pg::TextArrayLiteral(hidden)});
  }
  return outcome;
}

QuerySql ReadModelStore::BuildQuerySql(const std::string& msp_id, const TableQuery& query) {
  std::vector<pg::Param> params = {msp_id};
  std::string where = "msp_id = $1";
  AppendFilter(query, params, where);
  const auto [column, type] = OrderColumn(query.order);
  const char* cmp = query.descending ? "<" : ">";
  const char* dir = query.descending ? "DESC" : "ASC";
  const bool by_id = query.order == OrderKey::kCustomerId;
  if (query.after) {
    params.push_back(query.after->second);
    const std::string id_param = absl::StrCat("$", params.size());
    if (by_id) {
      absl::StrAppend(&where, " AND customer_id ", cmp, " ", id_param);
    } else {
      params.push_back(query.after->first);
      absl::StrAppend(&where, " AND (", column, ", customer_id) ", cmp, " ($", params.size(),
                      "::", type, ", ", id_param, ")");
    }
  }
  std::string sql = absl::StrCat(
      "SELECT ", kRowColumns, ", ", column, "::text AS sort_value FROM customer_rows WHERE ", where,
      " ORDER BY ", column, " ", dir, by_id ? "" : absl::StrCat(", customer_id ", dir), " LIMIT ",
      query.page_size + 1);
  return {std::move(sql), std::move(params)};
}

TablePage ReadModelStore::Query(pg::Connection& conn, const std::string& msp_id,
                                const TableQuery& query, bool with_services) const {
  TablePage page;
  if (query.matches_nothing) return page;
  const QuerySql q = BuildQuerySql(msp_id, query);
  auto r = conn.Exec(q.sql, q.params);
  const int rows = std::min(r.rows(), query.page_size);
  std::vector<std::string> ids;
  for (int i = 0; i < rows; ++i) {
    page.rows.push_back(TableRowFrom(r, i, msp_id));
    ids.push_back(r.String(i, 0));
  }
  if (r.rows() > query.page_size) {
    page.next_after = std::make_pair(r.String(rows - 1, 9), r.String(rows - 1, 0));
  }
  if (with_services && !ids.empty()) {
    auto s = conn.Exec(absl::StrCat("SELECT ", kSourceColumns,
                                    " FROM customer_sources WHERE customer_id = ANY($1::text[])"),
                       {pg::TextArrayLiteral(ids)});
    std::map<std::string, ReadModelRow> sources;
    for (int i = 0; i < s.rows(); ++i) sources.emplace(s.String(i, 0), SourceFromResult(s, i));
    for (auto& row : page.rows) {
      auto it = sources.find(row.customer_id());
      if (it == sources.end()) continue;
      for (auto& service : DeriveFacts(it->second).services) {
        *row.add_services() = std::move(service);
      }
    }
  }
  return page;
}

std::optional<ReadModelRow> ReadModelStore::FindShown(pg::Connection& conn,
                                                      const std::string& msp_id,
                                                      const std::string& customer_id) const {
  auto r = conn.Exec(absl::StrCat("SELECT ", kSourceColumns,
                                  " FROM customer_sources WHERE customer_id = $1 AND msp_id = $2 "
                                  "AND customer_version > 0"),
                     {customer_id, msp_id});
  if (r.empty()) return std::nullopt;
  return SourceFromResult(r, 0);
}

void ReadModelStore::ForEachCsvRow(pg::Connection& conn, const std::string& msp_id,
                                   const TableQuery& query, int page_rows,
                                   const std::function<void(const CsvCustomerRow&)>& row) const {
  if (query.matches_nothing) return;
  std::vector<pg::Param> params = {msp_id};
  std::string where = "msp_id = $1";
  AppendFilter(query, params, where);
  const std::string select = absl::StrCat(
      "SELECT company_name, active_mask, customer_id, management_type, total_devices, "
      "knox_manage_devices, create_us, update_us, link_us, name_key FROM customer_rows WHERE ",
      where);
  const std::string first_page =
      absl::StrCat(select, " ORDER BY name_key, customer_id LIMIT ", page_rows);
  const std::string next_page =
      absl::StrCat(select, " AND (name_key, customer_id) > ($", params.size() + 1, "::text, $",
                   params.size() + 2, ") ORDER BY name_key, customer_id LIMIT ", page_rows);

  // A reader thread fetches the next page while this one turns the last into rows: the
  // database and the formatting overlap (two cores, two halves of the work). At most two
  // pages wait, so memory stays flat.
  std::mutex mu;
  std::condition_variable changed;
  std::deque<pg::Result> pages;
  bool done = false;
  bool stop = false;
  std::exception_ptr failure;
  std::thread reader([&] {
    try {
      std::vector<pg::Param> next_params = params;
      next_params.resize(params.size() + 2);
      for (bool first = true;; first = false) {
        pg::Result r = first ? conn.Exec(first_page, params) : conn.Exec(next_page, next_params);
        const bool last = r.rows() < page_rows;
        if (!last) {
          next_params[params.size()] = r.String(r.rows() - 1, 9);
          next_params[params.size() + 1] = r.String(r.rows() - 1, 2);
        }
        std::unique_lock<std::mutex> lock(mu);
        changed.wait(lock, [&] { return stop || pages.size() < 2; });
        if (stop) return;
        pages.push_back(std::move(r));
        changed.notify_all();
        if (last) break;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      failure = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    changed.notify_all();
  });
  auto finish_reader = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
      changed.notify_all();
    }
    reader.join();
  };
  CsvCustomerRow csv;
  try {
    while (true) {
      std::optional<pg::Result> page;
      {
        std::unique_lock<std::mutex> lock(mu);
        changed.wait(lock, [&] { return !pages.empty() || done; });
        if (pages.empty()) break;
        page.emplace(std::move(pages.front()));
        pages.pop_front();
        changed.notify_all();
      }
      const pg::Result& r = *page;
      for (int i = 0; i < r.rows(); ++i) {
        csv.company_name.assign(r.Text(i, 0));
        const int64_t active = r.Int64(i, 1);
        csv.active_services.clear();
        for (auto service : knox::AllServices()) {
          if (active & (int64_t{1} << static_cast<int>(service))) {
            csv.active_services.push_back(service);
          }
        }
        csv.customer_id.assign(r.Text(i, 2));
        csv.management_type = static_cast<customer::v1::ManagementType>(r.Int64(i, 3));
        csv.total_devices = r.Int64(i, 4);
        csv.knox_manage_devices =
            r.IsNull(i, 5) ? std::nullopt : std::optional<int64_t>(r.Int64(i, 5));
        csv.create_time = TimePointOfMicros(r.Int64(i, 6));
        csv.update_time = TimePointOfMicros(r.Int64(i, 7));
        const int64_t link = r.Int64(i, 8);
        csv.msp_link_time = link == 0 ? std::nullopt : std::optional(TimePointOfMicros(link));
        row(csv);
      }
    }
  } catch (...) {
    finish_reader();
    throw;
  }
  finish_reader();
  if (failure) std::rethrow_exception(failure);
}

std::optional<std::vector<int>> ReadModelStore::FindPreference(pg::Connection& conn,
                                                               const std::string& msp_id,
                                                               const std::string& admin_id) const {
  auto r = conn.Exec("SELECT columns FROM table_preferences WHERE msp_id = $1 AND admin_id = $2",
                     {msp_id, admin_id});
  if (r.empty()) return std::nullopt;
  return pg::ParseIntArray(r.Text(0, 0));
}

void ReadModelStore::SavePreference(pg::Connection& conn, const std::string& msp_id,
                                    const std::string& admin_id,
                                    const std::vector<int>& columns) const {
  conn.Exec(
      "INSERT INTO table_preferences (msp_id, admin_id, columns) VALUES ($1, $2, $3::smallint[]) "
      "ON CONFLICT (msp_id, admin_id) DO UPDATE SET columns = EXCLUDED.columns, "
      "update_time = now()",
      {msp_id, admin_id, pg::ArrayLiteral(columns)});
}

int64_t ReadModelStore::CountShown(pg::Connection& conn, const std::string& msp_id) const {
  return conn.Exec("SELECT count(*) FROM customer_rows WHERE msp_id = $1", {msp_id}).Int64(0, 0);
}

}  // namespace msp::reporting
