#include "server_contracts.h"

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "reflection_wire.pb.h"

namespace msp::cli {
namespace {

namespace rw = msp::reflection_wire;

// One request and its answer on the reflection stream.
rw::ServerReflectionResponse Ask(const std::shared_ptr<grpc::Channel>& channel,
                                 const rw::ServerReflectionRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING, channel);
  std::unique_ptr<
      grpc::ClientReaderWriter<rw::ServerReflectionRequest, rw::ServerReflectionResponse>>
      stream(grpc::internal::ClientReaderWriterFactory<
             rw::ServerReflectionRequest, rw::ServerReflectionResponse>::Create(channel.get(),
                                                                                method, &context));
  rw::ServerReflectionResponse response;
  const bool answered = stream->Write(request) && stream->Read(&response);
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!answered || !status.ok()) {
    throw std::runtime_error("server reflection did not answer: " + status.error_message());
  }
  if (response.has_error_response()) {
    throw std::runtime_error(response.error_response().error_message());
  }
  return response;
}

}  // namespace

std::vector<std::string> ServerContracts::Services() {
  rw::ServerReflectionRequest request;
  request.set_list_services("");
  std::vector<std::string> out;
  const rw::ServerReflectionResponse response = Ask(channel_, request);
  for (const auto& service : response.list_services_response().service()) {
    out.push_back(service.name());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void ServerContracts::LoadFileContaining(const std::string& symbol) {
  rw::ServerReflectionRequest request;
  request.set_file_containing_symbol(symbol);
  // The answer holds the file and those it imports.
  const rw::ServerReflectionResponse response = Ask(channel_, request);
  for (const auto& bytes : response.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    if (!file.ParseFromString(bytes)) throw std::runtime_error("unreadable file descriptor");
    if (loaded_.insert(file.name()).second) database_.Add(file);
  }
}

const google::protobuf::ServiceDescriptor* ServerContracts::Service(const std::string& name) {
  if (const auto* loaded = pool_.FindServiceByName(name)) return loaded;
  LoadFileContaining(name);
  if (const auto* service = pool_.FindServiceByName(name)) return service;
  throw std::runtime_error("service not found: " + name);
}

std::string ServerContracts::Describe(const std::string& symbol) {
  // A method is asked for by its service.
  const std::string owner = symbol.substr(0, symbol.rfind('.'));
  try {
    LoadFileContaining(symbol);
  } catch (const std::runtime_error&) {
    LoadFileContaining(owner);
  }
  if (const auto* s = pool_.FindServiceByName(symbol)) {
    return symbol + " is a service:\n" + s->DebugString();
  }
  if (const auto* m = pool_.FindMethodByName(symbol)) {
    return symbol + " is a method:\n" + m->DebugString();
  }
  if (const auto* m = pool_.FindMessageTypeByName(symbol)) {
    return symbol + " is a message:\n" + m->DebugString();
  }
  if (const auto* e = pool_.FindEnumTypeByName(symbol)) {
    return symbol + " is an enum:\n" + e->DebugString();
  }
  throw std::runtime_error("symbol not found: " + symbol);
}

}  // namespace msp::cli
