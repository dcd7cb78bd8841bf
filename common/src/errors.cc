#include "msp/common/errors.h"

#include <grpcpp/support/error_details.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace msp {

ApiError::ApiError(grpc::StatusCode code, std::string reason, std::string message)
    : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

ApiError ApiError::InvalidArgument(std::vector<FieldViolation> violations, std::string reason) {
  std::vector<std::string> parts;
  for (const auto& v : violations) parts.push_back(absl::StrCat(v.field, ": ", v.description));
  ApiError error(grpc::StatusCode::INVALID_ARGUMENT, std::move(reason),
                 absl::StrCat("invalid request: ", absl::StrJoin(parts, "; ")));
  error.field_violations_ = std::move(violations);
  return error;
}

ApiError ApiError::FailedPrecondition(std::string reason, std::string message,
                                      std::string subject) {
  ApiError error(grpc::StatusCode::FAILED_PRECONDITION, reason, message);
  error.precondition_violations_.push_back({reason, std::move(subject), std::move(message)});
  return error;
}

ApiError ApiError::NotFound(std::string resource_type, std::string resource_name) {
  ApiError error(grpc::StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND",
                 absl::StrCat(resource_name, " not found"));
  error.resource_type_ = std::move(resource_type);
  error.resource_name_ = std::move(resource_name);
  return error;
}

ApiError ApiError::Aborted(std::string reason, std::string message) {
  return ApiError(grpc::StatusCode::ABORTED, std::move(reason), std::move(message));
}

ApiError ApiError::Unauthenticated(std::string reason, std::string message) {
  return ApiError(grpc::StatusCode::UNAUTHENTICATED, std::move(reason), std::move(message));
}

ApiError ApiError::PermissionDenied(std::string reason, std::string message) {
  return ApiError(grpc::StatusCode::PERMISSION_DENIED, std::move(reason), std::move(message));
}

ApiError ApiError::ResourceExhausted(std::string reason, std::string message,
                                     std::chrono::milliseconds retry_delay) {
  ApiError error(grpc::StatusCode::RESOURCE_EXHAUSTED, std::move(reason), std::move(message));
  error.retry_delay_ = retry_delay;
  return error;
}

ApiError ApiError::Unavailable(std::string reason, std::string message) {
  return ApiError(grpc::StatusCode::UNAVAILABLE, std::move(reason), std::move(message));
}

ApiError ApiError::Internal(std::string message) {
  return ApiError(grpc::StatusCode::INTERNAL, "INTERNAL", std::move(message));
}

ApiError& ApiError::WithMetadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
  return *this;
}

ApiError& ApiError::WithResource(std::string type, std::string name) {
  resource_type_ = std::move(type);
  resource_name_ = std::move(name);
  return *this;
}

grpc::Status ApiError::ToStatus(const std::string& domain) const {
  google::rpc::Status status;
  status.set_code(static_cast<int>(code_));
  status.set_message(message_);

  google::rpc::ErrorInfo info;
  info.set_reason(reason_);
  info.set_domain(domain);
  for (const auto& [k, v] : metadata_) (*info.mutable_metadata())[k] = v;
  status.add_details()->PackFrom(info);

  if (!field_violations_.empty()) {
    google::rpc::BadRequest bad_request;
    for (const auto& v : field_violations_) {
      auto* fv = bad_request.add_field_violations();
      fv->set_field(v.field);
      fv->set_description(v.description);
    }
    status.add_details()->PackFrom(bad_request);
  }
  if (!precondition_violations_.empty()) {
    google::rpc::PreconditionFailure failure;
    for (const auto& v : precondition_violations_) {
      auto* pv = failure.add_violations();
      pv->set_type(v.type);
      pv->set_subject(v.subject);
      pv->set_description(v.description);
    }
    status.add_details()->PackFrom(failure);
  }
  if (retry_delay_) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(retry_delay_->count() / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int>(retry_delay_->count() % 1000) *
                                           1000000);
    status.add_details()->PackFrom(retry);
  }
  if (!resource_name_.empty()) {
    google::rpc::ResourceInfo resource;
    resource.set_resource_type(resource_type_);
    resource.set_resource_name(resource_name_);
    status.add_details()->PackFrom(resource);
  }
  grpc::Status out;
  grpc::SetErrorDetails(status, &out);
  return out;
}

bool IsPermanentRefusal(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::FAILED_PRECONDITION ||
         code == grpc::StatusCode::ALREADY_EXISTS || code == grpc::StatusCode::OUT_OF_RANGE;
}

std::string ErrorReasonOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return "";
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

}  // namespace msp
