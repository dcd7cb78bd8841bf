#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace msp {

// Matches a resource name against a pattern such as "msps/{msp}/customers/{customer}" and
// returns the variable segments in order. Segments are 1-63 characters of [a-z0-9-_] (AIP-122).
std::optional<std::vector<std::string>> ParseResourceName(std::string_view pattern,
                                                          std::string_view name);
bool IsValidResourceId(std::string_view id);
// "msps/{msp}/customers/{customer}".
std::string CustomerName(std::string_view msp_id, std::string_view customer_id);

}  // namespace msp
