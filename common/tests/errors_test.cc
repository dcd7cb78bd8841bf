#include "msp/common/errors.h"

#include <grpcpp/support/error_details.h>
#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace msp {
namespace {

google::rpc::Status Details(const grpc::Status& status) {
  google::rpc::Status out;
  EXPECT_TRUE(grpc::ExtractErrorDetails(status, &out).ok());
  return out;
}

TEST(ErrorsTest, InvalidArgumentCarriesReasonAndEveryFieldViolation) {
  auto status =
      ApiError::InvalidArgument({{"a.b", "required"}, {"c", "too long"}}).ToStatus("test.v1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto details = Details(status);
  EXPECT_EQ(details.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(details.details_size(), 2);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "INVALID_FIELDS");
  EXPECT_EQ(info.domain(), "test.v1");
  google::rpc::BadRequest bad;
  ASSERT_TRUE(details.details(1).UnpackTo(&bad));
  ASSERT_EQ(bad.field_violations_size(), 2);
  EXPECT_EQ(bad.field_violations(0).field(), "a.b");
  EXPECT_EQ(bad.field_violations(1).field(), "c");
}

TEST(ErrorsTest, PreconditionRetryAndResourceDetails) {
  auto pre =
      Details(ApiError::FailedPrecondition("RULE_X", "no", "msps/a/customers/b").ToStatus("d"));
  google::rpc::PreconditionFailure failure;
  ASSERT_TRUE(pre.details(1).UnpackTo(&failure));
  EXPECT_EQ(failure.violations(0).type(), "RULE_X");
  EXPECT_EQ(failure.violations(0).subject(), "msps/a/customers/b");

  auto retry =
      Details(ApiError::ResourceExhausted("SLOW_DOWN", "later", std::chrono::milliseconds(1500))
                  .ToStatus("d"));
  google::rpc::RetryInfo info;
  ASSERT_TRUE(retry.details(1).UnpackTo(&info));
  EXPECT_EQ(info.retry_delay().seconds(), 1);
  EXPECT_EQ(info.retry_delay().nanos(), 500000000);

  auto missing = Details(ApiError::NotFound("customer", "msps/a/customers/b").ToStatus("d"));
  google::rpc::ResourceInfo resource;
  ASSERT_TRUE(missing.details(1).UnpackTo(&resource));
  EXPECT_EQ(resource.resource_name(), "msps/a/customers/b");
}

}  // namespace
}  // namespace msp
