#include "domain/device_counts.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::assignment {
namespace {

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

v1::DeviceCountReport Report(int64_t seconds, const std::string& customer = "0123456789") {
  v1::DeviceCountReport r;
  r.set_customer_id(customer);
  r.set_service(v1::KNOX_MANAGE);
  r.set_device_count(10);
  r.set_devices_needing_attention(2);
  r.mutable_observe_time()->set_seconds(seconds);
  return r;
}

std::vector<std::string> FieldsOf(const v1::ReportDeviceCountsRequest& request) {
  try {
    ValidateDeviceCountReports(request, kNow);
  } catch (const ApiError& e) {
    std::vector<std::string> fields;
    for (const auto& v : e.field_violations()) fields.push_back(v.field);
    return fields;
  }
  return {};
}

TEST(DeviceCounts, ValidReportsPass) {
  v1::ReportDeviceCountsRequest request;
  *request.add_reports() = Report(1'799'999'000);
  *request.add_reports() = Report(1'800'000'100);  // within the clock skew
  EXPECT_TRUE(FieldsOf(request).empty());
}

TEST(DeviceCounts, EachBadFieldIsNamed) {
  v1::ReportDeviceCountsRequest request;
  EXPECT_EQ(FieldsOf(request), std::vector<std::string>{"reports"});
  auto r = Report(1'799'999'000, "bad");
  r.set_service(static_cast<v1::KnoxService>(0));
  r.set_device_count(-1);
  r.clear_observe_time();
  *request.add_reports() = r;
  auto future = Report(1'800'001'000);
  future.set_devices_needing_attention(11);
  *request.add_reports() = future;
  EXPECT_EQ(FieldsOf(request),
            (std::vector<std::string>{
                "reports[0].customer_id", "reports[0].service", "reports[0].device_count",
                "reports[0].devices_needing_attention", "reports[0].observe_time",
                "reports[1].devices_needing_attention", "reports[1].observe_time"}));
  v1::ReportDeviceCountsRequest too_many;
  for (int i = 0; i < 1001; ++i) *too_many.add_reports() = Report(1'799'999'000);
  EXPECT_EQ(FieldsOf(too_many), std::vector<std::string>{"reports"});
}

TEST(DeviceCounts, OnlyTheLatestReportOfABatchCountsPerService) {
  v1::ReportDeviceCountsRequest request;
  *request.add_reports() = Report(100);
  *request.add_reports() = Report(300);
  *request.add_reports() = Report(200);
  *request.add_reports() = Report(50, "abcdefghjk");
  EXPECT_EQ(LatestReportIndex(request), (std::vector<int>{1, 1, 1, 3}));
}

}  // namespace
}  // namespace msp::assignment
