#include "device_counts.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/knox_services.h"
#include "msp/common/strings.h"
#include "msp/common/tenancy.h"
#include "msp/common/timestamps.h"

namespace msp::assignment {
namespace {}  // namespace

void CheckReportsAreFor(const v1::ReportDeviceCountsRequest& request, v1::KnoxService own) {
  for (int i = 0; i < request.reports_size(); ++i) {
    if (request.reports(i).service() != own) {
      throw ApiError::PermissionDenied(
          "REPORT_FOR_ANOTHER_SERVICE",
          absl::StrCat("reports[", i, "].service: the ", AbslView(knox::ServiceId(own)),
                       " backend reports ", AbslView(knox::DisplayName(own)), " devices only"));
    }
  }
}

void ValidateDeviceCountReports(const v1::ReportDeviceCountsRequest& request,
                                std::chrono::system_clock::time_point now,
                                std::chrono::seconds clock_skew) {
  if (request.reports().empty()) {
    throw ApiError::InvalidArgument({{"reports", "at least one report"}});
  }
  if (request.reports_size() > 1000) {
    throw ApiError::InvalidArgument({{"reports", "at most 1000 reports a call"}});
  }
  const int64_t latest_allowed =
      std::chrono::duration_cast<std::chrono::microseconds>((now + clock_skew).time_since_epoch())
          .count();
  std::vector<FieldViolation> violations;
  for (int i = 0; i < request.reports_size(); ++i) {
    const auto& r = request.reports(i);
    const std::string at = absl::StrCat("reports[", i, "].");
    if (!IsValidCustomerId(r.customer_id())) {
      violations.push_back({at + "customer_id", "a customer id: 10 characters"});
    }
    if (!knox::IsKnownService(r.service())) {
      violations.push_back({at + "service", "a Knox service"});
    }
    if (r.device_count() < 0) violations.push_back({at + "device_count", "must be >= 0"});
    if (r.devices_needing_attention() < 0 || r.devices_needing_attention() > r.device_count()) {
      violations.push_back(
          {at + "devices_needing_attention", "must be between 0 and device_count"});
    }
    if (!r.has_observe_time() || r.observe_time().seconds() <= 0 || r.observe_time().nanos() < 0 ||
        r.observe_time().nanos() > 999999999) {
      violations.push_back({at + "observe_time", "required: when the counts were taken"});
    } else if (TimestampMicros(r.observe_time()) > latest_allowed) {
      violations.push_back({at + "observe_time", "is in the future"});
    }
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
}

std::vector<int> LatestReportIndex(const v1::ReportDeviceCountsRequest& request) {
  std::map<std::pair<std::string, int>, int> latest;
  for (int i = 0; i < request.reports_size(); ++i) {
    const auto& r = request.reports(i);
    auto [it, inserted] = latest.try_emplace({r.customer_id(), r.service()}, i);
    if (!inserted && TimestampMicros(r.observe_time()) >
                         TimestampMicros(request.reports(it->second).observe_time())) {
      it->second = i;
    }
  }
  std::vector<int> out(static_cast<size_t>(request.reports_size()));
  for (int i = 0; i < request.reports_size(); ++i) {
    const auto& r = request.reports(i);
    out[static_cast<size_t>(i)] = latest[{r.customer_id(), r.service()}];
  }
  return out;
}

}  // namespace msp::assignment
