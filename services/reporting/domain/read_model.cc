#include "read_model.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/consent.h"
#include "msp/common/knox_services.h"
#include "msp/common/strings.h"
#include "msp/common/timestamps.h"

namespace msp::reporting {
namespace {

using assignment::v1::AssignedService;

bool BelongsTo(const AssignedService& service, const std::string& msp_id) {
  // msps/{msp}/customers/{customer}/services/{service}
  const std::string prefix = absl::StrCat("msps/", msp_id, "/");
  return !msp_id.empty() && service.name().compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

bool ApplyCustomerChanged(ReadModelRow& row, const events::v1::CustomerChanged& event) {
  if (event.version() <= row.customer_version) return false;
  row.customer_id = event.customer_id();
  row.customer_version = event.version();
  row.msp_id = event.msp_id();
  row.account = event.customer();
  // The read model keeps only what the MSP may see (no address or contact details before the
  // customer consents): the table, details, export and search never hold the rest.
  RedactUnconsented(row.account);
  row.change_time_micros = std::max(row.change_time_micros, TimestampMicros(event.change_time()));
  return true;
}

bool ApplyServicesChanged(ReadModelRow& row, const events::v1::CustomerServicesChanged& event) {
  if (event.version() <= row.services_version) return false;
  row.customer_id = event.customer_id();
  row.services_version = event.version();
  row.services_msp_id = event.msp_id();
  row.services.assign(event.services().begin(), event.services().end());
  row.change_time_micros = std::max(row.change_time_micros, TimestampMicros(event.change_time()));
  return true;
}

TableFacts DeriveFacts(const ReadModelRow& row) {
  TableFacts facts;
  // Services of an MSP the customer has left (ended at delink) are not this MSP's to show.
  for (const auto& s : row.services) {
    if (BelongsTo(s, row.msp_id)) facts.services.push_back(s);
  }
  for (const auto& requested : row.account.services()) {
    const bool assigned =
        std::any_of(facts.services.begin(), facts.services.end(),
                    [&](const AssignedService& s) { return s.service() == requested.service(); });
    if (!assigned) facts.services.push_back(requested);
  }
  std::stable_sort(
      facts.services.begin(), facts.services.end(),
      [](const AssignedService& a, const AssignedService& b) { return a.service() < b.service(); });
  for (const auto& s : facts.services) {
    const auto service = static_cast<knox::KnoxService>(s.service());
    if (!facts.service_key.empty()) facts.service_key += ",";
    absl::StrAppend(&facts.service_key, AbslView(knox::ServiceId(service)), ":",
                    AssignedService::State_Name(s.state()));
    if (s.state() == AssignedService::ENDED) continue;
    facts.service_mask |= 1 << s.service();
    // Devices count, and Knox Manage is "in use", only for an ACTIVE service: one requested
    // (PROVISIONING), awaiting the customer (PENDING_CUSTOMER_APPROVAL) or never provisioned
    // (PROVISIONING_FAILED) has no tenant to enrol devices in, like the Active services column.
    if (s.state() != AssignedService::ACTIVE) continue;
    if (s.service() == assignment::v1::KNOX_MANAGE) {
      facts.knox_manage_devices = s.device_count();
    } else {
      facts.total_devices += s.device_count();
    }
  }
  const auto& a = row.account;
  facts.search_text = absl::AsciiStrToLower(
      absl::StrCat(a.company().display_name(), " ", a.customer_id(), " ", a.contact().first_name(),
                   " ", a.contact().last_name(), " ", a.contact().work_email()));
  return facts;
}

}  // namespace msp::reporting
