#include "msp/common/config.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "msp/common/build_version.h"

extern char** environ;

namespace msp {

std::string EnvVarForFlag(std::string_view flag_name) {
  std::string name = "MSP_";
  name.append(flag_name.data(), flag_name.size());
  absl::AsciiStrToUpper(&name);
  return name;
}

namespace {

// The suite's own flags (not Abseil's or gRPC's), by the file that defines them.
bool IsOurs(const absl::CommandLineFlag& flag) {
  const std::string file = flag.Filename();
  return absl::StrContains(file, "common/src/") || absl::StrContains(file, "services/") ||
         absl::StrContains(file, "tools/");
}

// --help: every flag of the binary with its environment variable, its default and its help
// (Abseil's own --help lists the flags of the main file only, which for a service is none).
void PrintFlags(const char* program) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsOurs(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  std::printf(
      "%s: flags; each one may come from its environment variable instead (the command "
      "line wins)\n\n",
      program);
  for (const auto* flag : flags) {
    const std::string name(flag->Name());
    const std::string fallback = flag->DefaultValue().empty() ? "\"\"" : flag->DefaultValue();
    std::printf("  --%s  (%s)\n      %s\n      default: %s\n", name.c_str(),
                EnvVarForFlag(name).c_str(), flag->Help().c_str(), fallback.c_str());
  }
}

}  // namespace

std::vector<char*> ParseFlagsWithEnvFallback(int argc, char** argv) {
  // --version: what the binary was built from (it printed abseil's "Debug build").
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return absl::StrCat(BuildVersion(), " (commit ", BuildRevision(), ")\n");
  };
  absl::SetFlagsUsageConfig(usage);
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-help" || arg == "-h") {
      PrintFlags(argc > 0 ? argv[0] : "server");
      std::exit(0);
    }
    if (arg == "--") break;
  }
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
