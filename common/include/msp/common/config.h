#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace msp {

// The environment variable that backs a flag: MSP_ plus the flag name in upper case
// (--metrics_port -> MSP_METRICS_PORT).
std::string EnvVarForFlag(std::string_view flag_name);

// Parses absl flags. A flag that is not on the command line takes its value from its
// environment variable when that is set; the command line always wins. Exits with a clear
// message on a malformed value. --help (-h) prints every flag of the suite's with its
// environment variable, default and help, and exits 0. Returns the positional arguments.
std::vector<char*> ParseFlagsWithEnvFallback(int argc, char** argv);

}  // namespace msp
