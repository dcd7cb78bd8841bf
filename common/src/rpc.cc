#include "msp/common/rpc.h"

namespace msp {

auth::Principal RpcRuntime::Authenticate(const grpc::ServerContext& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return verifier_->VerifyAuthorizationHeader(std::nullopt);
  return verifier_->VerifyAuthorizationHeader(
      std::string_view(it->second.data(), it->second.size()));
}

}  // namespace msp
