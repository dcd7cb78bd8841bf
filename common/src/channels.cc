#include "msp/common/channels.h"

#include "msp/common/trace.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <mutex>

namespace msp {

namespace {

std::mutex settings_mu;
tls::Settings* settings = nullptr;  // set once at startup

}  // namespace

void ConfigureInternalChannels(const tls::Settings& tls_settings) {
  std::lock_guard lock(settings_mu);
  delete settings;
  settings = new tls::Settings(tls_settings);
}

void SpreadOverReplicas(grpc::ChannelArguments& args) {
  args.SetLoadBalancingPolicyName("round_robin");
}

std::shared_ptr<grpc::Channel> InternalChannel(const std::string& address) {
  grpc::ChannelArguments args;
  SpreadOverReplicas(args);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  {
    std::lock_guard lock(settings_mu);
    credentials = settings != nullptr ? tls::ChannelCredentials(*settings)
                                      : grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(address, credentials, args);
}

void PrepareInternalCall(grpc::ClientContext& context, const auth::ServiceToken& token,
                         std::chrono::milliseconds timeout,
                         const std::optional<auth::OnBehalfOf>& on_behalf_of) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.AddMetadata("authorization", token.AuthorizationHeader(on_behalf_of));
  if (const trace::Context* span = trace::Current(); span != nullptr) {
    context.AddMetadata(trace::kTraceparentHeader, trace::Format(*span));
  }
}

}  // namespace msp
