#include "domain/csv_export.h"

#include <gtest/gtest.h>

#include <random>

#include "absl/time/time.h"
#include "msp/common/csv_cell.h"

namespace msp::reporting {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(CsvExport, TheHeaderIsTheDomainsColumnsInOrder) {
  EXPECT_EQ(CsvHeader(),
            "Company Name,Active services,Customer ID,Management type,Total devices (excluding "
            "Knox Manage devices),Total devices (Knox Manage),Created,Modified,MSP linked\r\n");
}

TEST(CsvExport, CellsAreQuotedAndFormulasNeutralised) {
  EXPECT_EQ(CsvCell("Plain Ltd"), "Plain Ltd");
  EXPECT_EQ(CsvCell("Smith, Jones & Co"), "\"Smith, Jones & Co\"");
  EXPECT_EQ(CsvCell("The \"Best\" GmbH"), "\"The \"\"Best\"\" GmbH\"");
  EXPECT_EQ(CsvCell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvCell("=HYPERLINK(\"http://evil\")"), "\"'=HYPERLINK(\"\"http://evil\"\")\"");
  EXPECT_EQ(CsvCell("+49 30"), "\"'+49 30\"");
  EXPECT_EQ(CsvCell("-5"), "\"'-5\"");
  EXPECT_EQ(CsvCell("@SUM(A1)"), "\"'@SUM(A1)\"");
  EXPECT_EQ(CsvCell("\tTab"), "\"'\tTab\"");
  EXPECT_EQ(CsvCell("A-B Ltd"), "A-B Ltd");  // a minus inside is no formula
  EXPECT_EQ(CsvCell("\rCR"), "\"'\rCR\"");
  EXPECT_EQ(CsvCell("-"), "-");                            // the "no Knox Manage" marker stays
  EXPECT_EQ(CsvCell("Müller & Söhne"), "Müller & Söhne");  // UTF-8 as it is
  EXPECT_EQ(CsvCell(""), "");
}

// A spreadsheet that splits on ';' (common in Europe), '|' or a tab starts a new cell there:
// a formula after any of them is neutralised, and such cells are quoted, so that they stay one
// cell whatever the separator.
TEST(CsvExport, FormulasAfterAnySeparatorAreNeutralisedAndQuoted) {
  EXPECT_EQ(CsvCell(";=1+1"), "\"';=1+1\"");
  EXPECT_EQ(CsvCell("Acme; =HYPERLINK(1)"), "\"'Acme; =HYPERLINK(1)\"");
  EXPECT_EQ(CsvCell("Acme|@SUM(A1)"), "\"'Acme|@SUM(A1)\"");
  EXPECT_EQ(CsvCell("Acme\t+1"), "\"'Acme\t+1\"");
  EXPECT_EQ(CsvCell("Acme,-1"), "\"'Acme,-1\"");
  EXPECT_EQ(CsvCell("Smith; Jones"), "\"Smith; Jones\"");  // a separator alone: quoted only
  EXPECT_EQ(CsvCell("Pipe|Ltd"), "\"Pipe|Ltd\"");
}

TEST(CsvExport, ARowByteForByte) {
  CsvCustomerRow row;
  row.company_name = "=cmd|' /C calc'!A0, Inc.";
  row.active_services = {assignment::v1::KNOX_MOBILE_ENROLLMENT, assignment::v1::KNOX_MANAGE};
  row.customer_id = "7hq2m4xk9d";
  row.management_type = customer::v1::JOINTLY_MANAGED;
  row.total_devices = 120;
  row.knox_manage_devices = 0;
  row.create_time = system_clock::time_point(seconds(1'795'512'179));
  row.update_time = system_clock::time_point(seconds(1'795'515'779));
  row.msp_link_time = row.create_time;
  EXPECT_EQ(CsvLine(row),
            "\"'=cmd|' /C calc'!A0, Inc.\",\"Knox Mobile Enrollment, Knox Manage\",7hq2m4xk9d,"
            "Jointly managed,120,0,2026-11-24T09:22:59Z,2026-11-24T10:22:59Z,"
            "2026-11-24T09:22:59Z\r\n");
  row.active_services = {assignment::v1::KNOX_CONFIGURE};
  row.knox_manage_devices.reset();
  row.management_type = customer::v1::FULLY_MANAGED;
  row.msp_link_time.reset();
  row.company_name = "Plain Ltd";
  EXPECT_EQ(CsvLine(row),
            "Plain Ltd,Knox Configure,7hq2m4xk9d,Fully managed,120,-,2026-11-24T09:22:59Z,"
            "2026-11-24T10:22:59Z,\r\n");
}

}  // namespace
}  // namespace msp::reporting

namespace msp::reporting {
namespace {

TEST(CsvExport, IsoTimesMatchAbseilsFormattingEverywhere) {
  // The export's own date formatting against absl::FormatTime: leap days, century years, the
  // epoch, the last second of a day, and a spread of random instants from 1970 to 2200.
  std::vector<int64_t> seconds = {0, 86399, 951782400 /* 2000-02-29 */, 4107542399,
                                  1709164800 /* 2024-02-29 */};
  std::mt19937_64 random(7);
  for (int i = 0; i < 20000; ++i) seconds.push_back(static_cast<int64_t>(random() % 7258118400));
  for (int64_t s : seconds) {
    const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(s)) +
                   std::chrono::milliseconds(999);  // fractions are cut, not rounded
    EXPECT_EQ(IsoUtc(t),
              absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(s), absl::UTCTimeZone()))
        << s;
  }
}

}  // namespace
}  // namespace msp::reporting
