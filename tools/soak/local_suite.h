#pragma once

#include <string>
#include <vector>

#include "fault_proxy.h"
#include "stack.h"
#include "suite.h"

namespace msp::soak {

// The whole suite on loopback, started by the driver: PostgreSQL with fsync and synchronous
// commit, redis-server with AOF, an SMTP server, the four service binaries, with fault proxies
// in front of PostgreSQL and the assignment service for the customer service. Its scenarios kill
// and restart each service, crash PostgreSQL and Redis, and cut, slow or reset connections.
class LocalSuite : public Suite {
 public:
  LocalSuite();
  std::string target(const std::string& service) const override { return stack_.address(service); }
  const auth::TokenIssuer& issuer() const override { return stack_.issuer(); }
  std::vector<std::string> Emails() const override { return stack_.smtp().Messages(); }
  std::vector<std::string> LogLeaks() const override { return stack_.LogLeaks(); }
  std::vector<Scenario> Scenarios() override;

 private:
  void StartCustomer();
  void Restart(const std::string& service);
  FaultResult KillAndRestart(const std::vector<std::string>& services);
  FaultResult Sigterm();
  FaultResult ProxyFault(testing::FaultProxy& proxy, testing::FaultProxy::Mode mode,
                         std::chrono::milliseconds latency, std::chrono::seconds duration,
                         bool expect_not_serving = false);

  mutable testing::Stack stack_;
  testing::FaultProxy db_proxy_;
  testing::FaultProxy assignment_proxy_;
};

}  // namespace msp::soak
