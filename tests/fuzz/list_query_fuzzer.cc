// The list and table request parsers (filter, order_by, search, page size, page token) of the
// customer list, the events list, the reporting table and the CSV export: any text is either
// parsed or refused with INVALID_ARGUMENT naming one of those fields; never a crash, never
// another exception.
#include <cstdint>
#include <string>

#include "domain/list_query.h"
#include "domain/table_query.h"
#include "fuzz_support.h"
#include "msp/common/list_filter.h"

namespace {
namespace cv1 = msp::customer::v1;
namespace rv1 = msp::reporting::v1;
using msp::fuzz::Check;
using msp::fuzz::RefusesCleanly;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  // filter, order_by, search, page_token, page size (decimal)
  const auto f = msp::fuzz::Fields(data, size, 5);
  int page_size = 0;
  for (char c : f[4].substr(0, 9)) page_size = page_size * 10 + (c & 0x0F);
  if (!f[4].empty() && f[4][0] == '-') page_size = -page_size;
  const std::vector<std::string> list_fields = {"filter", "order_by", "search", "page_size",
                                                "page_token"};

  cv1::ListCustomersRequest list;
  list.set_parent("msps/fuzz");
  list.set_filter(f[0]);
  list.set_order_by(f[1]);
  list.set_search(f[2]);
  list.set_page_token(f[3]);
  list.set_page_size(page_size);
  msp::customer::ListQuery query;
  if (!RefusesCleanly([&] { query = msp::customer::ParseListCustomersRequest(list, "fuzz"); },
                      list_fields)) {
    Check(query.page_size >= 1 && query.page_size <= msp::customer::kMaxPageSize,
          "page size out of range");
    Check(page_size >= 0, "a negative page size was accepted");
  }

  RefusesCleanly(
      [&] { msp::customer::DecodeEventPageToken(f[3], "fuzz", "msps/fuzz/customers/c"); },
      {"page_token"});

  rv1::QueryCustomerTableRequest table;
  table.set_parent("msps/fuzz");
  table.set_filter(f[0]);
  table.set_order_by(f[1]);
  table.set_search(f[2]);
  table.set_page_token(f[3]);
  table.set_page_size(page_size);
  msp::reporting::TableQuery parsed;
  if (!RefusesCleanly([&] { parsed = msp::reporting::ParseTableQuery(table, "fuzz"); },
                      list_fields)) {
    Check(parsed.page_size >= 1 && parsed.page_size <= msp::reporting::kMaxTablePageSize,
          "table page size out of range");
    // A token the parser accepted continues the same query: encoding its row gives a token the
    // parser accepts again, for the same row.
    if (parsed.after) {
      table.set_page_token(msp::reporting::EncodeTablePageToken(table, "fuzz", parsed.after->first,
                                                                parsed.after->second));
      const auto reparsed = msp::reporting::ParseTableQuery(table, "fuzz");
      Check(reparsed.after == parsed.after, "a page token does not round-trip");
    }
  }
  rv1::ExportCustomersCsvRequest export_request;
  export_request.set_parent("msps/fuzz");
  export_request.set_filter(f[0]);
  export_request.set_search(f[2]);
  RefusesCleanly([&] { msp::reporting::ParseExportQuery(export_request); }, {"filter", "search"});

  // The shared filter grammar on its own, with a field that accepts any upper-case word.
  RefusesCleanly(
      [&] {
        msp::ParseEnumFilter(f[0], {{"state", [](const std::string& v) -> std::optional<int> {
                                       if (v.empty() || v.size() > 20) return std::nullopt;
                                       return static_cast<int>(v.size());
                                     }}});
      },
      {"filter"});
  return 0;
}
