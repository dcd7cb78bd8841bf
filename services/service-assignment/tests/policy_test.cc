#include <gtest/gtest.h>

#include "assignment_service.h"

namespace msp::assignment {
namespace {

using auth::PrincipalKind;

TEST(AssignmentPolicy, EveryMethodHasAPolicyAndServiceOnlyMethodsRefuseAdmins) {
  const auto policy = ServiceAssignmentImpl::Policy();
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      "msp.assignment.v1.ServiceAssignmentService");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_TRUE(policy.Covers("/" + service->full_name() + "/" + service->method(i)->name()))
        << service->method(i)->name();
  }
  const auth::Principal admin{PrincipalKind::kMspAdmin, "alice", "acme", ""};
  const auth::Principal backend{PrincipalKind::kService, "knox-manage", "", ""};
  const auth::Principal customer{PrincipalKind::kCustomerAdmin, "bob", "", "0123456789"};
  const std::string prefix = "/msp.assignment.v1.ServiceAssignmentService/";
  EXPECT_THROW(policy.Check(prefix + "ReportDeviceCounts", admin), ApiError);
  EXPECT_NO_THROW(policy.Check(prefix + "ReportDeviceCounts", backend));
  EXPECT_THROW(policy.Check(prefix + "EndCustomerServices", admin), ApiError);
  EXPECT_THROW(policy.Check(prefix + "LaunchServiceConsole", backend), ApiError);
  EXPECT_NO_THROW(policy.Check(prefix + "LaunchServiceConsole", admin));
  for (int i = 0; i < service->method_count(); ++i) {
    EXPECT_THROW(policy.Check(prefix + service->method(i)->name(), customer), ApiError);
  }
}

}  // namespace
}  // namespace msp::assignment
