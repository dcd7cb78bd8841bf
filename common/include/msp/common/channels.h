#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "msp/common/tls.h"

namespace msp {

// A channel to another service of the suite. gRPC's default reconnect backoff grows to two
// minutes, so after a long outage of a peer its callers would stay cut off long after it came
// back; here retries of the connection are at most 5 s apart.
// With TLS settings configured (CommonConfigFromFlags does), the channel speaks TLS, verifies
// the server's certificate and name against the CA bundle and presents this service's own
// certificate.
std::shared_ptr<grpc::Channel> InternalChannel(const std::string& address);
void ConfigureInternalChannels(const tls::Settings& settings);

}  // namespace msp
