#include "table_columns.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"

namespace msp::reporting {

const std::vector<v1::Column>& DefaultColumns() {
  static const std::vector<v1::Column> kDefaults = {v1::NAME,          v1::SERVICE_STATUS,
                                                    v1::CUSTOMER_ID,   v1::MANAGEMENT_TYPE,
                                                    v1::TOTAL_DEVICES, v1::MODIFIED};
  return kDefaults;
}

std::vector<v1::Column> ParseColumns(const std::string& field,
                                     const google::protobuf::RepeatedField<int>& columns) {
  std::vector<v1::Column> out;
  std::vector<FieldViolation> violations;
  for (int i = 0; i < columns.size(); ++i) {
    const int value = columns.Get(i);
    const std::string at = absl::StrCat(field, "[", i, "]");
    if (value == v1::COLUMN_UNSPECIFIED || !v1::Column_IsValid(value)) {
      violations.push_back({at,
                            "not a column: NAME, SERVICE_STATUS, CUSTOMER_ID, "
                            "MANAGEMENT_TYPE, TOTAL_DEVICES, MODIFIED, CREATED or MSP_LINKED"});
      continue;
    }
    const auto column = static_cast<v1::Column>(value);
    if (std::find(out.begin(), out.end(), column) != out.end()) {
      violations.push_back({at, "listed twice"});
      continue;
    }
    out.push_back(column);
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
  return out;
}

std::vector<v1::Column> EffectiveColumns(const std::vector<v1::Column>& requested,
                                         const std::optional<std::vector<v1::Column>>& preference) {
  if (!requested.empty()) return requested;
  if (preference && !preference->empty()) return *preference;
  return DefaultColumns();
}

v1::TableRow ProjectRow(const v1::TableRow& full, const std::vector<v1::Column>& columns) {
  v1::TableRow row;
  row.set_customer(full.customer());
  row.set_state(full.state());
  for (auto column : columns) {
    switch (column) {
      case v1::NAME:
        row.set_company_name(full.company_name());
        break;
      case v1::SERVICE_STATUS:
        *row.mutable_services() = full.services();
        break;
      case v1::CUSTOMER_ID:
        row.set_customer_id(full.customer_id());
        break;
      case v1::MANAGEMENT_TYPE:
        row.set_management_type(full.management_type());
        break;
      case v1::TOTAL_DEVICES:
        row.set_total_devices(full.total_devices());
        if (full.has_knox_manage_devices()) row.set_knox_manage_devices(full.knox_manage_devices());
        break;
      case v1::MODIFIED:
        *row.mutable_update_time() = full.update_time();
        break;
      case v1::CREATED:
        *row.mutable_create_time() = full.create_time();
        break;
      case v1::MSP_LINKED:
        if (full.has_msp_link_time()) *row.mutable_msp_link_time() = full.msp_link_time();
        break;
      default:
        break;
    }
  }
  return row;
}

}  // namespace msp::reporting
