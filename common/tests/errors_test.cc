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

// Sixty long names of another MSP's customers, or twenty long unknown update_mask paths, used
// to make trailers past the clients' 8 KiB metadata limit (RESOURCE_EXHAUSTED in C++, a hang
// in grpc-js). The message, each string and the violations shown are bounded, and the total is
// told.
TEST(ErrorsTest, DetailsStayBoundedWhateverTheRequestHeld) {
  std::vector<FieldViolation> many;
  for (int i = 0; i < 60; ++i) {
    many.push_back({"customers[" + std::to_string(i) + "]" + std::string(300, 'f'),
                    "must be a customer of the parent: " + std::string(400, 'x')});
  }
  const grpc::Status status = ApiError::InvalidArgument(many).ToStatus("test.v1");
  EXPECT_LE(status.error_message().size(), 512u);
  EXPECT_LE(status.error_details().size(), 4096u);
  const auto details = Details(status);
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.metadata().at("violations_total"), "60");
  google::rpc::BadRequest bad;
  ASSERT_TRUE(details.details(1).UnpackTo(&bad));
  EXPECT_GT(bad.field_violations_size(), 0);
  EXPECT_LE(bad.field_violations_size(), 20);
  EXPECT_EQ(info.metadata().at("violations_shown"), std::to_string(bad.field_violations_size()));
  for (const auto& v : bad.field_violations()) {
    EXPECT_LE(v.field().size(), 120u);
    EXPECT_LE(v.description().size(), 240u);
  }
  // A cut never splits a UTF-8 character.
  std::string text;
  for (int i = 0; i < 400; ++i) text += "\xc3\xbc";  // ü
  const auto cut = ApiError::FailedPrecondition("RULE", text, text).ToStatus("d");
  EXPECT_LE(cut.error_message().size(), 512u);
  google::rpc::Status decoded;
  EXPECT_TRUE(decoded.ParseFromString(cut.error_details()));  // proto3 strings: valid UTF-8
}

}  // namespace
}  // namespace msp
