#include <gtest/gtest.h>

#include "customer_service.h"

namespace msp::customer {
namespace {

// Deny by default means a new RPC without a policy entry is unreachable: catch that here.
TEST(PolicyTest, EveryMethodOfTheServiceHasAPolicy) {
  const auto policy = CustomerServiceImpl::Policy();
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      v1::CustomerService::service_full_name());
  ASSERT_NE(service, nullptr);
  ASSERT_GT(service->method_count(), 0);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string full = "/" + service->full_name() + "/" + service->method(i)->name();
    EXPECT_TRUE(policy.Covers(full)) << full;
  }
}

TEST(PolicyTest, OnlyMspAdminsManageCustomersAndServicesMayReadThem) {
  const auto policy = CustomerServiceImpl::Policy();
  auth::Principal customer{auth::PrincipalKind::kCustomerAdmin, "bob", "", "c1"};
  auth::Principal service{auth::PrincipalKind::kService, "service-assignment", "", ""};
  auth::Principal admin{auth::PrincipalKind::kMspAdmin, "alice", "acme", ""};
  const std::string get = "/msp.customer.v1.CustomerService/GetCustomer";
  const std::string create = "/msp.customer.v1.CustomerService/CreateCustomer";
  const std::string update = "/msp.customer.v1.CustomerService/UpdateCustomer";
  EXPECT_NO_THROW(policy.Check(get, admin));
  EXPECT_THROW(policy.Check(get, customer), ApiError);
  // Internal services read customers (assignment checks state and contact email)...
  EXPECT_NO_THROW(policy.Check(get, service));
  // ...but never write them.
  EXPECT_THROW(policy.Check(create, service), ApiError);
  EXPECT_THROW(policy.Check(update, service), ApiError);
  EXPECT_NO_THROW(policy.Check(create, admin));
}

}  // namespace
}  // namespace msp::customer
