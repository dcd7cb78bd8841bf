#include "msp/common/failpoint.h"

#include <signal.h>

#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_split.h"
#include "msp/common/log.h"
#include "msp/common/strings.h"

namespace msp::failpoint {
namespace {

const std::set<std::string>& Enabled() {
  static const std::set<std::string> kEnabled = [] {
    std::set<std::string> names;
    if (const char* env = std::getenv("MSP_FAILPOINTS")) {
      for (auto name : absl::StrSplit(env, ',', absl::SkipWhitespace())) {
        names.emplace(name.data(), name.size());
      }
    }
    if (!names.empty())
      log::Warn("failpoints enabled", {{"names", std::string(std::getenv("MSP_FAILPOINTS"))}});
    return names;
  }();
  return kEnabled;
}

}  // namespace

void CrashIfEnabled(std::string_view name) {
  const auto& enabled = Enabled();
  if (enabled.empty() || !enabled.contains(std::string(name))) return;
  log::Warn("failpoint hit: killing this process", {{"failpoint", std::string(name)}});
  ::raise(SIGKILL);
}

}  // namespace msp::failpoint
