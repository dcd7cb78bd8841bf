#pragma once

#include <string>
#include <vector>

#include "fault_proxy.h"
#include "stack_suite.h"

namespace msp::soak {

// The whole suite on loopback, started by the driver: PostgreSQL with fsync and synchronous
// commit, redis-server with AOF, an SMTP server, the four service binaries, with fault proxies
// in front of PostgreSQL and the assignment service for the customer service. Its scenarios kill
// and restart each service, crash PostgreSQL and Redis, and cut, slow or reset connections.
class LocalSuite : public StackSuite {
 public:
  LocalSuite();
  std::vector<Scenario> Scenarios() override;

 private:
  testing::Stack& stack() const override { return stack_; }
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
