// Which answers of AssignServices end the delivery of a new customer's services.
#include "assignment_relay.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::customer {
namespace {

grpc::Status Refusal(const std::string& reason) {
  return ApiError::FailedPrecondition(reason, "refused", "msps/m/customers/c")
      .ToStatus("assignment.msp.v1");
}

TEST(AssignmentRefusalTest, ACustomerNoLongerActiveOrATakenTenantIsFinal) {
  EXPECT_TRUE(IsFinalAssignmentRefusal(Refusal("CUSTOMER_NOT_ACTIVE")));
  EXPECT_TRUE(IsFinalAssignmentRefusal(
      ApiError(grpc::StatusCode::ALREADY_EXISTS, "KNOX_MANAGE_TENANT_ID_TAKEN", "taken")
          .ToStatus("assignment")));
  EXPECT_TRUE(IsFinalAssignmentRefusal(
      ApiError::InvalidArgument({{"services", "unknown"}}).ToStatus("assignment")));
}

TEST(AssignmentRefusalTest, APendingDelinkWaitsForTheCustomersAnswer) {
  const grpc::Status pending = Refusal("CUSTOMER_DELINK_REQUESTED");
  ASSERT_EQ(pending.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_EQ(ErrorReasonOf(pending), "CUSTOMER_DELINK_REQUESTED");
  EXPECT_FALSE(IsFinalAssignmentRefusal(pending));
}

TEST(AssignmentRefusalTest, TransientFailuresAreRetried) {
  EXPECT_FALSE(IsFinalAssignmentRefusal(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")));
  EXPECT_FALSE(IsFinalAssignmentRefusal(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow")));
}

}  // namespace
}  // namespace msp::customer
