#include "msp/common/policy.h"

#include <gtest/gtest.h>

#include "api_error_code.h"
#include "msp/common/errors.h"
#include "msp/common/tenancy.h"

namespace msp::auth {
namespace {

using testing::CodeOf;

Principal Service(const std::string& identity, std::optional<OnBehalfOf> obo = std::nullopt) {
  Principal p{PrincipalKind::kService, identity, "", ""};
  p.on_behalf_of = std::move(obo);
  return p;
}

TEST(MethodPolicyTest, DeniesByDefaultByKindAndByServiceIdentity) {
  MethodPolicy policy;
  policy.Allow("/svc/Read", {MspAdmin(), auth::Service("reporting")});
  Principal admin{PrincipalKind::kMspAdmin, "a", "acme", ""};
  Principal customer_admin{PrincipalKind::kCustomerAdmin, "c", "", "c0ffee0000"};
  EXPECT_EQ(policy.Check("/svc/Read", admin), TenantScope::kOwn);
  EXPECT_EQ(policy.Check("/svc/Read", Service("reporting")), TenantScope::kNamed);
  auto backend = Service("knox-manage");
  EXPECT_EQ(CodeOf([&] { policy.Check("/svc/Read", backend); }),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CodeOf([&] { policy.Check("/svc/Read", customer_admin); }),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CodeOf([&] { policy.Check("/svc/Unlisted", admin); }),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(policy.Covers("/svc/Read"));
  EXPECT_FALSE(policy.Covers("/svc/Unlisted"));
}

TEST(MethodPolicyTest, AServiceRelaysOnlyForWhomItsGrantSays) {
  MethodPolicy policy;
  policy.Allow("/svc/Answer",
               {auth::Service("onboarding").ActingFor({PrincipalKind::kCustomerAdmin})});
  policy.Allow("/svc/Own", {auth::Service("onboarding")});
  auto for_customer =
      Service("onboarding", OnBehalfOf{PrincipalKind::kCustomerAdmin, "bob", "", "c0ffee0000"});
  EXPECT_NO_THROW(policy.Check("/svc/Answer", for_customer));
  auto for_msp_admin =
      Service("onboarding", OnBehalfOf{PrincipalKind::kMspAdmin, "alice", "acme", ""});
  EXPECT_EQ(CodeOf([&] { policy.Check("/svc/Answer", for_msp_admin); }),
            grpc::StatusCode::PERMISSION_DENIED);
  // A method that is the service's own work admits no delegation.
  EXPECT_EQ(CodeOf([&] { policy.Check("/svc/Own", for_customer); }),
            grpc::StatusCode::PERMISSION_DENIED);
  // Another service may not relay for anyone.
  auto other = Service("knox-manage", for_customer.on_behalf_of);
  EXPECT_EQ(CodeOf([&] { policy.Check("/svc/Answer", other); }),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST(MethodPolicyTest, OnlyAnAllTenantsGrantNamesEveryMsp) {
  MethodPolicy policy;
  policy.Allow("/svc/List", {MspAdmin(), auth::Service("rebuild", TenantScope::kAll),
                             auth::Service("customer")});
  auto rebuild = Service("rebuild");
  rebuild.tenants = policy.Check("/svc/List", rebuild);
  EXPECT_EQ(RequireMspParent("parent", "msps/-", rebuild), "-");
  auto customer = Service("customer");
  customer.tenants = policy.Check("/svc/List", customer);
  EXPECT_EQ(RequireMspParent("parent", "msps/acme", customer), "acme");
  EXPECT_EQ(CodeOf([&] { RequireMspParent("parent", "msps/-", customer); }),
            grpc::StatusCode::NOT_FOUND);
  Principal admin{PrincipalKind::kMspAdmin, "a", "acme", ""};
  admin.tenants = policy.Check("/svc/List", admin);
  EXPECT_EQ(CodeOf([&] { RequireMspParent("parent", "msps/-", admin); }),
            grpc::StatusCode::NOT_FOUND);
}

TEST(TenancyTest, ARelayedCallStaysWithinItsPersonsTenant) {
  auto for_alice = Service("customer", OnBehalfOf{PrincipalKind::kMspAdmin, "alice", "acme", ""});
  for_alice.tenants = TenantScope::kNamed;
  EXPECT_NO_THROW(RequireCustomerName("parent", "msps/acme/customers/c0ffee0000", for_alice));
  EXPECT_EQ(
      CodeOf([&] { RequireCustomerName("parent", "msps/other/customers/c0ffee0000", for_alice); }),
      grpc::StatusCode::NOT_FOUND);
  auto for_bob =
      Service("onboarding", OnBehalfOf{PrincipalKind::kCustomerAdmin, "bob", "", "c0ffee0000"});
  for_bob.tenants = TenantScope::kNamed;
  EXPECT_NO_THROW(RequireActingFor(for_bob, {"acme", "c0ffee0000"}));
  EXPECT_EQ(CodeOf([&] {
              RequireActingFor(for_bob, {"acme", "deadbeef00"});
            }),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace msp::auth
