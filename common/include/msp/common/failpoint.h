#pragma once

#include <string_view>

// Named points where a crash test can kill the process on purpose (kill -9 semantics: no
// cleanup, no answer sent). Off unless the MSP_FAILPOINTS environment variable lists the
// name (comma-separated), which only the crash tests set.
namespace msp::failpoint {

// Dies with SIGKILL here when `name` is enabled.
void CrashIfEnabled(std::string_view name);

}  // namespace msp::failpoint
