#include "msp/common/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

extern char** environ;

namespace msp {

std::string EnvVarForFlag(std::string_view flag_name) {
  std::string name = "MSP_";
  name.append(flag_name.data(), flag_name.size());
  absl::AsciiStrToUpper(&name);
  return name;
}

std::vector<char*> ParseFlagsWithEnvFallback(int argc, char** argv) {
  // Environment first, so that the command line parsed afterwards overrides it.
  for (char** env = environ; env != nullptr && *env != nullptr; ++env) {
    std::string entry = *env;
    if (!absl::StartsWith(entry, "MSP_")) continue;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string flag_name = absl::AsciiStrToLower(entry.substr(4, eq - 4));
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(flag_name);
    if (flag == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(entry.substr(eq + 1), &error)) {
      std::fprintf(stderr, "bad value in environment variable %s: %s\n",
                   entry.substr(0, eq).c_str(), error.c_str());
      std::exit(2);
    }
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace msp
