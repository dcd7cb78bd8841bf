#pragma once

#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "suite.h"

namespace msp::soak {

// The topology of tools/cluster: several replicas of each service in containers, found through
// the description `tools/cluster up` writes (.local/cluster/cluster.json). Its scenarios are what
// a Kubernetes deployment lives through: a replica's process killed (Docker restarts it, as the
// kubelet would), a replica stopped with SIGTERM and started again, and a rolling restart of
// every replica, one at a time, under load.
class ClusterSuite : public Suite {
 public:
  explicit ClusterSuite(const std::string& description_file);
  std::string target(const std::string& service) const override;
  const auth::TokenIssuer& issuer() const override { return issuer_; }
  std::vector<std::string> Emails() const override;
  std::vector<std::string> LogLeaks() const override;
  std::vector<Scenario> Scenarios() override;

 private:
  explicit ClusterSuite(const nlohmann::json& description);
  struct Replica {
    std::string container;
    std::string address;  // ip:port on the topology's network
  };
  const Replica& replica(const std::string& service, size_t index) const {
    return replicas_.at(service).at(index);
  }
  FaultResult KillReplica(const std::string& service, size_t index);
  FaultResult SigtermReplica(const std::string& service, size_t index);
  FaultResult RollingRestart();

  std::map<std::string, std::vector<Replica>> replicas_;
  std::string maildir_;
  auth::TokenIssuer issuer_;
};

}  // namespace msp::soak
