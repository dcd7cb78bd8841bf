#pragma once

#include <chrono>
#include <vector>

#include "msp/assignment/v1/service_assignment.pb.h"

namespace msp::assignment {

// Checks a batch of device-count reports: at most 1000; each names a customer id and a known
// service, has counts >= 0 with devices needing attention <= devices, and an observe time not
// in the future (beyond `clock_skew`). Throws INVALID_ARGUMENT naming reports[i].field.
void ValidateDeviceCountReports(const v1::ReportDeviceCountsRequest& request,
                                std::chrono::system_clock::time_point now,
                                std::chrono::seconds clock_skew = std::chrono::minutes(5));

// A Knox backend reports its own service's devices only. Throws PERMISSION_DENIED
// REPORT_FOR_ANOTHER_SERVICE naming the first report of another service.
void CheckReportsAreFor(const v1::ReportDeviceCountsRequest& request, v1::KnoxService own);

// Of several reports for one (customer, service) in a batch, the index of the one observed
// last for each report, so only that one is applied and the others count as stale.
std::vector<int> LatestReportIndex(const v1::ReportDeviceCountsRequest& request);

}  // namespace msp::assignment
