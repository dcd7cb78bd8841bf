#pragma once

#include <string>

// Plain HTTP GETs on loopback: the services' metrics, Prometheus' and Patroni's APIs.
namespace msp::testing {

// GET http://127.0.0.1:<port>/metrics; empty on failure.
std::string ScrapeMetrics(int port);
// GET http://127.0.0.1:<port><path> (HTTP/1.0): the response's body; empty on failure.
std::string HttpGet(int port, const std::string& path);

}  // namespace msp::testing
