#include "audit_events.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/strings.h"

namespace msp::customer {
namespace {

bool IsUpperSnake(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isupper(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

void ValidateRecordedEvent(const v1::RecordCustomerEventRequest& request) {
  std::vector<FieldViolation> violations;
  if (!IsUpperSnake(request.action())) {
    violations.push_back({"action", "UPPER_SNAKE, at most 64 characters"});
  }
  if (request.event_key().empty() || request.event_key().size() > 200 ||
      UnsafeTextProblem(request.event_key())) {
    violations.push_back({"event_key", "required: 1-200 characters"});
  }
  if (request.changed_fields_size() > 20) {
    violations.push_back({"changed_fields", "at most 20"});
  }
  for (int i = 0; i < request.changed_fields_size(); ++i) {
    const auto& field = request.changed_fields(i);
    if (field.empty() || field.size() > 100 || UnsafeTextProblem(field)) {
      violations.push_back({absl::StrCat("changed_fields[", i, "]"), "1-100 characters"});
    }
  }
  if (!request.has_event_time()) violations.push_back({"event_time", "required"});
  if (!request.request_id().empty() && request.request_id().size() > 200) {
    violations.push_back({"request_id", "at most 200 characters"});
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
}

}  // namespace msp::customer
