#pragma once

#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/repeated_field.h>

#include "msp/reporting/v1/reporting.pb.h"

// The customer table's columns: which exist, the defaults, an admin's choice, and a row cut
// down to the columns asked for.
namespace msp::reporting {

// NAME, SERVICE_STATUS, CUSTOMER_ID, MANAGEMENT_TYPE, TOTAL_DEVICES, MODIFIED.
const std::vector<v1::Column>& DefaultColumns();

// Columns from a request field, each known and listed once. Throws INVALID_ARGUMENT naming
// `field[i]` for an unknown or repeated column.
std::vector<v1::Column> ParseColumns(const std::string& field,
                                     const google::protobuf::RepeatedField<int>& columns);

// What a query shows: the columns it asks for, else the admin's preference, else the defaults.
std::vector<v1::Column> EffectiveColumns(const std::vector<v1::Column>& requested,
                                         const std::optional<std::vector<v1::Column>>& preference);

// `full` with only the given columns set (customer and state always).
v1::TableRow ProjectRow(const v1::TableRow& full, const std::vector<v1::Column>& columns);

}  // namespace msp::reporting
