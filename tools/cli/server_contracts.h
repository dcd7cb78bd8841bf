#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor_database.h>
#include <grpcpp/channel.h>

namespace msp::cli {

// What a server says it serves, through server reflection: msp_call's `list` and `describe`,
// and the security matrix's calls to every method of every server.
class ServerContracts {
 public:
  explicit ServerContracts(std::shared_ptr<grpc::Channel> channel) : channel_(std::move(channel)) {}
  // The services, sorted. Throws std::runtime_error when the server does not answer.
  std::vector<std::string> Services();
  // grpcurl's `describe SYMBOL`: what the symbol is (a service, method, message or enum) and its
  // definition. Throws std::runtime_error for a symbol the server does not know.
  std::string Describe(const std::string& symbol);
  // A service's descriptor (its file and imports loaded on first use). Throws std::runtime_error
  // for a service the server does not know.
  const google::protobuf::ServiceDescriptor* Service(const std::string& name);

 private:
  void LoadFileContaining(const std::string& symbol);

  std::shared_ptr<grpc::Channel> channel_;
  std::set<std::string> loaded_;
  google::protobuf::SimpleDescriptorDatabase database_;
  google::protobuf::DescriptorPool pool_{&database_};
};

}  // namespace msp::cli
