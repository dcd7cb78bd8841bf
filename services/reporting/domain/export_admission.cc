#include "export_admission.h"

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"

namespace msp::reporting {

ExportAdmission::Ticket ExportAdmission::Admit(const std::string& msp_id) {
  std::lock_guard<std::mutex> lock(mu_);
  int& mine = by_tenant_[msp_id];
  if (mine >= limits_.per_tenant) {
    if (mine == 0) by_tenant_.erase(msp_id);
    throw ApiError::ResourceExhausted(
        "TOO_MANY_EXPORTS",
        absl::StrCat("at most ", limits_.per_tenant,
                     " export(s) of one MSP run at once: wait for yours to finish"),
        std::chrono::seconds(2));
  }
  if (running_ >= limits_.total) {
    if (mine == 0) by_tenant_.erase(msp_id);
    throw ApiError::ResourceExhausted(
        "TOO_MANY_EXPORTS",
        absl::StrCat("at most ", limits_.total, " exports run at once here; retry shortly"),
        std::chrono::seconds(2));
  }
  ++mine;
  ++running_;
  return Ticket(this, msp_id);
}

void ExportAdmission::Release(const std::string& msp_id) {
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  if (--by_tenant_[msp_id] <= 0) by_tenant_.erase(msp_id);
}

}  // namespace msp::reporting
