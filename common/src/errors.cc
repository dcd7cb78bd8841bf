#include "msp/common/errors.h"

#include <grpcpp/support/error_details.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace msp {
namespace {

// Error trailers must fit the peers' metadata limit (8 KiB for many clients), whatever the
// request held: the message, each detail string and the violations listed are bounded, and the
// number of violations is always told (ErrorInfo metadata violations_total).
constexpr size_t kMaxViolationsShown = 20;
constexpr size_t kViolationBytesBudget = 2500;
constexpr size_t kMaxFieldBytes = 120;
constexpr size_t kMaxDescriptionBytes = 240;
constexpr size_t kMaxMessageBytes = 512;
constexpr size_t kMaxNameBytes = 300;

// At most `max` bytes of `s`, cut at a UTF-8 character boundary, "..." marking a cut.
std::string Bounded(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max - 3;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "...";
}

}  // namespace

ApiError::ApiError(grpc::StatusCode code, std::string reason, std::string message)
    : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

ApiError ApiError::InvalidArgument(std::vector<FieldViolation> violations, std::string reason) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < violations.size() && i < kMaxViolationsShown; ++i) {
    parts.push_back(absl::StrCat(Bounded(violations[i].field, kMaxFieldBytes), ": ",
                                 Bounded(violations[i].description, kMaxDescriptionBytes)));
  }
  if (violations.size() > kMaxViolationsShown) {
    parts.push_back(absl::StrCat("and ", violations.size() - kMaxViolationsShown, " more"));
  }
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
  const std::string message = Bounded(message_, kMaxMessageBytes);
  status.set_message(message);

  google::rpc::ErrorInfo info;
  info.set_reason(reason_);
  info.set_domain(domain);
  for (const auto& [k, v] : metadata_) (*info.mutable_metadata())[k] = Bounded(v, kMaxNameBytes);
  const size_t violations = field_violations_.size() + precondition_violations_.size();
  if (violations > 1) (*info.mutable_metadata())["violations_total"] = std::to_string(violations);
  status.add_details();  // ErrorInfo comes first; packed once the violations shown are known

  size_t shown = 0;
  size_t bytes = 0;
  auto room = [&](size_t more) {
    return shown < kMaxViolationsShown && bytes + more <= kViolationBytesBudget;
  };
  if (!field_violations_.empty()) {
    google::rpc::BadRequest bad_request;
    for (const auto& v : field_violations_) {
      std::string field = Bounded(v.field, kMaxFieldBytes);
      std::string description = Bounded(v.description, kMaxDescriptionBytes);
      if (!room(field.size() + description.size())) break;
      bytes += field.size() + description.size();
      ++shown;
      auto* fv = bad_request.add_field_violations();
      fv->set_field(std::move(field));
      fv->set_description(std::move(description));
    }
    status.add_details()->PackFrom(bad_request);
  }
  if (!precondition_violations_.empty()) {
    google::rpc::PreconditionFailure failure;
    for (const auto& v : precondition_violations_) {
      std::string subject = Bounded(v.subject, kMaxNameBytes);
      std::string description = Bounded(v.description, kMaxDescriptionBytes);
      if (!room(v.type.size() + subject.size() + description.size())) break;
      bytes += v.type.size() + subject.size() + description.size();
      ++shown;
      auto* pv = failure.add_violations();
      pv->set_type(v.type);
      pv->set_subject(std::move(subject));
      pv->set_description(std::move(description));
    }
    status.add_details()->PackFrom(failure);
  }
  if (shown < violations) (*info.mutable_metadata())["violations_shown"] = std::to_string(shown);
  status.mutable_details(0)->PackFrom(info);
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
    resource.set_resource_name(Bounded(resource_name_, kMaxNameBytes));
    status.add_details()->PackFrom(resource);
  }
  grpc::Status out;
  grpc::SetErrorDetails(status, &out);
  return out;
}

grpc::Status WithRequestInfo(grpc::Status status, const std::string& request_id,
                             const std::string& serving_data) {
  if (status.ok()) return status;
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    details.set_code(static_cast<int>(status.error_code()));
    details.set_message(status.error_message());
  }
  google::rpc::RequestInfo info;
  info.set_request_id(request_id);
  info.set_serving_data(serving_data);
  details.add_details()->PackFrom(info);
  grpc::Status out;
  grpc::SetErrorDetails(details, &out);
  return out;
}

bool IsServerFault(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS || code == grpc::StatusCode::UNAVAILABLE;
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
