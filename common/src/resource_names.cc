#include "msp/common/resource_names.h"

#include "absl/strings/str_split.h"
#include "msp/common/strings.h"

namespace msp {

bool IsValidResourceId(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::vector<std::string>> ParseResourceName(std::string_view pattern,
                                                          std::string_view name) {
  std::vector<absl::string_view> want = absl::StrSplit(AbslView(pattern), '/');
  std::vector<absl::string_view> got = absl::StrSplit(AbslView(name), '/');
  if (want.size() != got.size()) return std::nullopt;
  std::vector<std::string> vars;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!want[i].empty() && want[i].front() == '{') {
      if (!IsValidResourceId(std::string_view(got[i].data(), got[i].size()))) return std::nullopt;
      vars.emplace_back(got[i].data(), got[i].size());
    } else if (want[i] != got[i]) {
      return std::nullopt;
    }
  }
  return vars;
}

std::string CustomerName(std::string_view msp_id, std::string_view customer_id) {
  std::string name = "msps/";
  name.append(msp_id).append("/customers/").append(customer_id);
  return name;
}

}  // namespace msp
