#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/channel_arguments.h>

#include "msp/common/auth.h"
#include "msp/common/tls.h"

namespace msp {

// A channel to another service of the suite. gRPC's default reconnect backoff grows to two
// minutes, so after a long outage of a peer its callers would stay cut off long after it came
// back; here retries of the connection are at most 5 s apart.
// With TLS settings configured (CommonConfigFromFlags does), the channel speaks TLS, verifies
// the server's certificate and name against the CA bundle and presents this service's own
// certificate.
// Its calls spread over every address the target names (SpreadOverReplicas).
std::shared_ptr<grpc::Channel> InternalChannel(const std::string& address);
void ConfigureInternalChannels(const tls::Settings& settings);

// Every client of the suite (the services' internal channels, mspctl and msp_call, the load
// generator) balances round robin: a target that resolves to several replicas (a DNS name with
// an address per replica, such as a headless Kubernetes Service; an `ipv4:a:p,b:p` list) gets
// its calls spread over all of them instead of all on the first.
void SpreadOverReplicas(grpc::ChannelArguments& args);

// What every call one service makes to another carries: a deadline, this service's token
// (naming the person it relays for, if any), and the traceparent of the span the calling thread
// works in (trace::Current()), so that the callee's log lines share the trace id.
void PrepareInternalCall(grpc::ClientContext& context, const auth::ServiceToken& token,
                         std::chrono::milliseconds timeout,
                         const std::optional<auth::OnBehalfOf>& on_behalf_of = std::nullopt);

}  // namespace msp
