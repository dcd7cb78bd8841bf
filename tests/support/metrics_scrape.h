#pragma once

#include <string>

namespace msp::testing {

// GET http://127.0.0.1:<port>/metrics; empty on failure.
std::string ScrapeMetrics(int port);

}  // namespace msp::testing
