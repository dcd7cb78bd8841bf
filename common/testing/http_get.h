#pragma once

#include <string>

// Plain HTTP requests on loopback: the services' metrics, Prometheus' and Patroni's APIs.
namespace msp::testing {

// GET http://127.0.0.1:<port>/metrics; empty on failure.
std::string ScrapeMetrics(int port);
// GET http://127.0.0.1:<port><path> (HTTP/1.0): the response's body; empty on failure.
std::string HttpGet(int port, const std::string& path);
// POST http://127.0.0.1:<port><path> with a JSON body: the response's status code (-1 when there
// was none) and its body in `body`.
int HttpPost(int port, const std::string& path, const std::string& json, std::string* body);

}  // namespace msp::testing
