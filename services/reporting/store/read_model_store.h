#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../domain/csv_export.h"
#include "../domain/read_model.h"
#include "../domain/table_query.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"
#include "msp/events/v1/change_events.pb.h"
#include "msp/reporting/v1/reporting.pb.h"

// SQL for the reporting schema. Stateless: every call runs on the connection (and so the
// transaction) it is given.
namespace msp::reporting {

// The reporting schema: migrations/.
const std::vector<Migration>& ReportingSchemaMigrations();

struct ChangeBatch {
  std::vector<events::v1::CustomerChanged> customers;
  std::vector<events::v1::CustomerServicesChanged> services;
  bool empty() const { return customers.empty() && services.empty(); }
};

struct ApplyOutcome {
  int applied = 0;  // events that changed a row
  int stale = 0;    // events no newer than what the row had (repeats, reordering)
  // When each applied event's change committed at its source (microseconds), for the lag.
  std::vector<int64_t> applied_change_us;
};

struct TablePage {
  std::vector<v1::TableRow> rows;  // every column filled
  // Sort value (text) and id of the last row when there is a next page.
  std::optional<std::pair<std::string, std::string>> next_after;
};

struct QuerySql {
  std::string sql;
  std::vector<pg::Param> params;
};

class ReadModelStore {
 public:
  // Applies the events to the rows they concern: locks them (in customer id order, so that
  // concurrent consumers cannot deadlock), keeps each event only if it is newer, rewrites the
  // changed rows. Run it in a transaction and commit before acknowledging the events.
  ApplyOutcome Apply(pg::Connection& conn, const ChangeBatch& batch) const;

  // One page of the MSP's table. `with_services`: fill TableRow.services (costs a second read).
  TablePage Query(pg::Connection& conn, const std::string& msp_id, const TableQuery& query,
                  bool with_services) const;
  // The keyset query Query runs (exposed so that tests can check its plan).
  static QuerySql BuildQuerySql(const std::string& msp_id, const TableQuery& query);

  // The customer's events as last heard, if the MSP's table shows it.
  std::optional<ReadModelRow> FindShown(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& customer_id) const;

  // Every matching row of the MSP in name order, read in keyset pages of `page_rows` (the next
  // page is fetched on a thread of its own while `row` runs for the last): run it in a
  // REPEATABLE READ transaction and all pages come from one snapshot. `conn` is used by that
  // thread only until this returns.
  void ForEachCsvRow(pg::Connection& conn, const std::string& msp_id, const TableQuery& query,
                     int page_rows, const std::function<void(const CsvCustomerRow&)>& row) const;

  // An admin's chosen columns (Column numbers), if it chose any.
  std::optional<std::vector<int>> FindPreference(pg::Connection& conn, const std::string& msp_id,
                                                 const std::string& admin_id) const;
  void SavePreference(pg::Connection& conn, const std::string& msp_id, const std::string& admin_id,
                      const std::vector<int>& columns) const;

  // Rows shown in all (for the lag check of the rebuild and the benchmark).
  int64_t CountShown(pg::Connection& conn, const std::string& msp_id) const;
};

}  // namespace msp::reporting
