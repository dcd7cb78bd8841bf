#include "domain/console_launch.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::assignment {
namespace {

TEST(ReturnUriPolicy, AllowsOnlyTheListedOrigins) {
  ReturnUriPolicy policy({"https://msp.samsungknox.com", "http://localhost:8080"});
  for (const std::string ok :
       {"https://msp.samsungknox.com", "https://msp.samsungknox.com/",
        "HTTPS://MSP.samsungknox.com/a?b=c#d", "http://localhost:8080/customers"}) {
    EXPECT_NO_THROW(policy.Check(ok)) << ok;
  }
  for (const std::string& bad : std::vector<std::string>{
           "", "https://evil.example/", "http://msp.samsungknox.com/",
           "https://msp.samsungknox.com.evil.example/", "https://msp.samsungknox.com@evil.example/",
           "https://user@msp.samsungknox.com/", "//msp.samsungknox.com/", "javascript:alert(1)",
           "https://msp.samsungknox.com\\@evil/", "https://msp.samsungknox.com/ x",
           "http://localhost:8081/", "https://msp.samsungknox.com:8443/"}) {
    try {
      policy.Check(bad);
      ADD_FAILURE() << "allowed: " << bad;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
      ASSERT_EQ(e.field_violations().size(), 1u);
      EXPECT_EQ(e.field_violations()[0].field, "return_uri");
    }
  }
}

TEST(ReturnUriPolicy, RefusesAMalformedAllowList) {
  EXPECT_THROW(ReturnUriPolicy({"msp.samsungknox.com"}), std::runtime_error);
}

TEST(ConsoleDirectory, DefaultsOverridesAndTheTokenInTheFragment) {
  ConsoleDirectory consoles(
      std::map<std::string, std::string>{{"knox-manage", "https://km.example/console"}});
  EXPECT_EQ(consoles.ConsoleUri(v1::KNOX_MANAGE), "https://km.example/console");
  EXPECT_EQ(consoles.ConsoleUri(v1::KNOX_GUARD),
            "https://central.samsungknox.com/console/knox-guard");
  EXPECT_EQ(ConsoleDirectory::LaunchUri("https://km.example/console", "t.o.k"),
            "https://km.example/console#launch_token=t.o.k");
}

std::string ReasonOf(customer::v1::State customer, v1::AssignedService::State service) {
  try {
    CheckConsoleOpens(customer, service, "msps/m/customers/c/services/knox-guard");
    return "";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::FAILED_PRECONDITION);
    return e.reason();
  }
}

// A DELINKED customer's services are still ACTIVE until their end is delivered: the customer's
// link decides first.
TEST(ConsoleLaunch, OpensOnlyWhileTheMspManagesTheCustomerAndTheServiceIsActive) {
  using S = v1::AssignedService;
  EXPECT_EQ(ReasonOf(customer::v1::ACTIVE, S::ACTIVE), "");
  EXPECT_EQ(ReasonOf(customer::v1::DELINK_REQUESTED, S::ACTIVE), "");  // still managed
  for (auto state : {customer::v1::DELINKED, customer::v1::PENDING, customer::v1::REJECTED,
                     customer::v1::CANCELED, customer::v1::EXPIRED}) {
    EXPECT_EQ(ReasonOf(state, S::ACTIVE), "CUSTOMER_NOT_MANAGED")
        << customer::v1::State_Name(state);
  }
  EXPECT_EQ(ReasonOf(customer::v1::ACTIVE, S::PROVISIONING), "SERVICE_NOT_ACTIVE");
  EXPECT_EQ(ReasonOf(customer::v1::ACTIVE, S::ENDED), "SERVICE_NOT_ACTIVE");
}

}  // namespace
}  // namespace msp::assignment
