#include "local_suite.h"

#include <signal.h>

#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"

namespace msp::soak {
namespace {

int PortOf(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

}  // namespace

LocalSuite::LocalSuite()
    : stack_({"customer", "service-assignment", "onboarding-invitation", "reporting"},
             {"--shutdown_delay_ms=500", "--drain_timeout_ms=10000"},
             /*durable_postgres=*/true),
      db_proxy_(stack_.postgres().port()),
      assignment_proxy_(PortOf(stack_.address("service-assignment"))) {
  // The customer service reaches its database and the assignment service through proxies.
  stack_.StopService("customer", SIGTERM);
  StartCustomer();
}

void LocalSuite::StartCustomer() {
  std::string url = stack_.database_url();
  url = std::regex_replace(url, std::regex("port=\\d+"), absl::StrCat("port=", db_proxy_.port()));
  stack_.StartService("customer",
                      {"--database_url=" + url,
                       absl::StrCat("--assignment_address=127.0.0.1:", assignment_proxy_.port())});
}

void LocalSuite::Restart(const std::string& service) {
  if (service == "customer") {
    StartCustomer();
  } else {
    stack_.StartService(service);
  }
}

FaultResult LocalSuite::KillAndRestart(const std::vector<std::string>& services) {
  for (const auto& s : services) stack_.StopService(s, SIGKILL);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (const auto& s : services) Restart(s);
  return {Clock::now(), ""};
}

// SIGTERM under load: health must say NOT_SERVING before the server stops taking calls.
FaultResult LocalSuite::Sigterm() {
  HealthWatcher watcher(stack_.address("customer"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int exit_status = stack_.StopService("customer", SIGTERM);
  const bool saw = watcher.Stop();
  Restart("customer");
  return {Clock::now(), absl::StrCat("exit ", exit_status,
                                     ", NOT_SERVING seen before stop: ", saw ? "yes" : "NO")};
}

FaultResult LocalSuite::ProxyFault(testing::FaultProxy& proxy, testing::FaultProxy::Mode mode,
                                   std::chrono::milliseconds latency, std::chrono::seconds duration,
                                   bool expect_not_serving) {
  HealthWatcher watcher(stack_.address("customer"));
  proxy.SetMode(mode, latency);
  std::this_thread::sleep_for(duration);
  proxy.SetMode(testing::FaultProxy::Mode::kPass);
  const bool saw = watcher.Stop();
  if (!expect_not_serving) return {Clock::now(), ""};
  return {Clock::now(),
          absl::StrCat("customer NOT_SERVING seen while cut off: ", saw ? "yes" : "NO")};
}

std::vector<Scenario> LocalSuite::Scenarios() {
  using M = testing::FaultProxy::Mode;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  return {
      {"baseline", "none",
       [] {
         return FaultResult{Clock::now(), ""};
       }},
      {"kill-customer", "kill -9 customer, restart after 1 s",
       [this] { return KillAndRestart({"customer"}); }},
      {"kill-assignment", "kill -9 service-assignment",
       [this] { return KillAndRestart({"service-assignment"}); }, "service-assignment"},
      {"kill-onboarding", "kill -9 onboarding-invitation",
       [this] { return KillAndRestart({"onboarding-invitation"}); }, "onboarding-invitation"},
      {"kill-reporting", "kill -9 reporting", [this] { return KillAndRestart({"reporting"}); },
       "reporting"},
      {"kill-customer-and-assignment", "kill -9 customer and service-assignment at once",
       [this] {
         return KillAndRestart({"customer", "service-assignment"});
       }},
      {"pg-restart-fast", "PostgreSQL fast shutdown, start after 1 s",
       [this] {
         stack_.postgres().Stop(false);
         std::this_thread::sleep_for(seconds(1));
         stack_.postgres().Start();
         return FaultResult{Clock::now(), ""};
       }},
      {"pg-crash", "PostgreSQL immediate stop (crash, WAL recovery), start after 1 s",
       [this] {
         stack_.postgres().Stop(true);
         std::this_thread::sleep_for(seconds(1));
         stack_.postgres().Start();
         return FaultResult{Clock::now(), ""};
       }},
      {"redis-kill", "kill -9 redis-server (AOF), restart after 1 s",
       [this] {
         stack_.redis().Kill();
         std::this_thread::sleep_for(seconds(1));
         stack_.redis().Start();
         return FaultResult{Clock::now(), ""};
       }},
      {"db-latency", "customer -> PostgreSQL +200 ms per packet for 5 s",
       [this] { return ProxyFault(db_proxy_, M::kLatency, milliseconds(200), seconds(5)); }},
      {"db-blackhole", "customer -> PostgreSQL blackholed for 5 s",
       [this] {
         return ProxyFault(db_proxy_, M::kBlackhole, milliseconds(0), seconds(5),
                           /*expect_not_serving=*/true);
       }},
      {"db-reset", "customer -> PostgreSQL connections reset for 3 s",
       [this] { return ProxyFault(db_proxy_, M::kReset, milliseconds(0), seconds(3)); }},
      {"assignment-blackhole", "customer -> service-assignment blackholed for 5 s",
       [this] {
         return ProxyFault(assignment_proxy_, M::kBlackhole, milliseconds(0), seconds(5));
       }},
      {"assignment-reset", "customer -> service-assignment connections reset for 3 s",
       [this] { return ProxyFault(assignment_proxy_, M::kReset, milliseconds(0), seconds(3)); }},
      {"sigterm-customer", "SIGTERM customer under load (drain), restart",
       [this] { return Sigterm(); }},
  };
}

}  // namespace msp::soak
