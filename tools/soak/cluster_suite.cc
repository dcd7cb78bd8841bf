#include "cluster_suite.h"

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "processes.h"
#include "stack.h"

namespace msp::soak {
namespace {

using json = nlohmann::json;

json ReadDescription(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read " + file + " (./tools/cluster up)");
  return json::parse(in);
}

auth::TokenIssuer IssuerOf(const json& description) {
  const auto& jwt = description.at("jwt");
  return auth::TokenIssuer(jwt.at("algorithm").get<std::string>(),
                           jwt.at("secret").get<std::string>(), jwt.at("issuer").get<std::string>(),
                           jwt.at("audience").get<std::string>());
}

// A docker command's output, standard error included (`docker logs` writes a container's
// standard error there).
std::string Docker(const std::vector<std::string>& args) {
  std::string command = testing::DockerClient();
  for (const auto& a : args) absl::StrAppend(&command, " '", a, "'");
  absl::StrAppend(&command, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  if (pclose(pipe) != 0) throw std::runtime_error("failed: " + command);
  return out;
}

std::string Inspect(const std::string& container, const std::string& format) {
  std::string out = Docker({"inspect", "-f", format, container});
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Until the replica answers SERVING on its own address (the topology's network): how long.
std::chrono::milliseconds UntilServing(const std::string& address, Clock::time_point since) {
  if (!testing::WaitForServing(address, std::chrono::seconds(120))) {
    throw std::runtime_error(address + " is not SERVING 120 s after the fault");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
}

}  // namespace

ClusterSuite::ClusterSuite(const std::string& description_file)
    : ClusterSuite(ReadDescription(description_file)) {}

ClusterSuite::ClusterSuite(const nlohmann::json& description) : issuer_(IssuerOf(description)) {
  maildir_ = description.at("maildir").get<std::string>();
  for (const auto& [service, spec] : description.at("services").items()) {
    for (const auto& r : spec.at("replicas")) {
      replicas_[service].push_back(
          {r.at("container").get<std::string>(),
           absl::StrCat(r.at("ip").get<std::string>(), ":", spec.at("port").get<int>())});
    }
  }
  for (const auto& [service, replicas] : replicas_) {
    for (const auto& r : replicas) {
      if (!testing::WaitForServing(r.address, std::chrono::seconds(10))) {
        throw std::runtime_error(r.container + " at " + r.address + " is not SERVING");
      }
    }
  }
}

std::string ClusterSuite::target(const std::string& service) const {
  std::vector<std::string> addresses;
  for (const auto& r : replicas_.at(service)) addresses.push_back(r.address);
  return "ipv4:" + absl::StrJoin(addresses, ",");
}

std::vector<std::string> ClusterSuite::Emails() const { return testing::ReadMaildir(maildir_); }

std::vector<std::string> ClusterSuite::LogLeaks() const {
  std::vector<std::string> leaks;
  for (const auto& [service, replicas] : replicas_) {
    for (const auto& r : replicas) {
      // Every line the container wrote since it was made, across its restarts.
      const std::string log = Docker({"logs", r.container});
      for (const auto line : absl::StrSplit(log, '\n')) {
        if (testing::LogLineLeaks(std::string(line))) {
          leaks.push_back(absl::StrCat(r.container, ": ", line.substr(0, 300)));
        }
      }
    }
  }
  return leaks;
}

// kill -9 of the replica's process: the container exits, and Docker starts it again as the
// kubelet restarts a crashed pod. The other replicas serve meanwhile.
FaultResult ClusterSuite::KillReplica(const std::string& service, size_t index) {
  const Replica& r = replica(service, index);
  const int pid = std::stoi(Inspect(r.container, "{{.State.Pid}}"));
  const auto killed = Clock::now();
  if (::kill(pid, SIGKILL) != 0) throw std::runtime_error("cannot kill " + r.container);
  // Its health port stops answering once the process is gone; then it serves again.
  while (testing::WaitForServing(r.address, std::chrono::milliseconds(100)) &&
         Clock::now() < killed + std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto back = UntilServing(r.address, killed);
  return {killed, absl::StrCat(r.container, " SERVING again ", back.count(), " ms after the kill")};
}

// SIGTERM, as the kubelet stops a pod: the replica answers NOT_SERVING, drains and exits 0;
// then it is started again.
FaultResult ClusterSuite::SigtermReplica(const std::string& service, size_t index) {
  const Replica& r = replica(service, index);
  HealthWatcher watcher(r.address);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto stopped = Clock::now();
  Docker({"stop", "--time", "40", r.container});
  const bool saw = watcher.Stop();
  const std::string exit_code = Inspect(r.container, "{{.State.ExitCode}}");
  Docker({"start", r.container});
  const auto back = UntilServing(r.address, stopped);
  return {stopped, absl::StrCat(r.container, " exit ", exit_code,
                                ", NOT_SERVING seen before stop: ", saw ? "yes" : "NO",
                                ", SERVING again after ", back.count(), " ms")};
}

// Every replica of every service, one at a time: SIGTERM, start, SERVING, the next.
FaultResult ClusterSuite::RollingRestart() {
  const auto start = Clock::now();
  int restarted = 0;
  std::vector<std::string> not_clean;
  for (const std::string service :
       {"customer", "service-assignment", "onboarding-invitation", "reporting"}) {
    for (const auto& r : replicas_.at(service)) {
      Docker({"stop", "--time", "40", r.container});
      if (Inspect(r.container, "{{.State.ExitCode}}") != "0") not_clean.push_back(r.container);
      Docker({"start", r.container});
      UntilServing(r.address, Clock::now());
      ++restarted;
    }
  }
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
  // Recovery is measured from the last replica's return.
  return {Clock::now(),
          absl::StrCat(restarted, " replicas restarted one at a time in ", took.count(),
                       " s; every exit clean: ",
                       not_clean.empty() ? "yes" : "NO (" + absl::StrJoin(not_clean, ",") + ")")};
}

std::vector<Scenario> ClusterSuite::Scenarios() {
  std::vector<Scenario> scenarios = {{"baseline", "none", [] {
                                        return FaultResult{Clock::now(), ""};
                                      }}};
  for (const auto& [service, short_name] :
       std::vector<std::pair<std::string, std::string>>{{"customer", "customer"},
                                                        {"service-assignment", "assignment"},
                                                        {"onboarding-invitation", "onboarding"},
                                                        {"reporting", "reporting"}}) {
    scenarios.push_back(
        {"kill-" + short_name + "-replica",
         absl::StrCat("kill -9 ", replica(service, 0).container, " (Docker restarts it)"),
         [this, service = service] { return KillReplica(service, 0); }, service});
  }
  scenarios.push_back({"sigterm-customer-replica",
                       "SIGTERM " + replica("customer", 0).container + " under load, start again",
                       [this] { return SigtermReplica("customer", 0); }});
  scenarios.push_back({"rolling-restart", "every replica of every service, one at a time",
                       [this] { return RollingRestart(); }});
  return scenarios;
}

}  // namespace msp::soak
