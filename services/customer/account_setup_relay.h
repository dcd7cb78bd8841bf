#pragma once

#include <chrono>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/common/outbox.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"

namespace msp::customer {

// Delivers kAccountSetupTopic outbox messages: the onboarding service's StartAccountSetup with
// the message's request id (a repeat is answered, not sent twice), retried until it succeeds; a
// refusal no retry can change is logged and ends it.
outbox::Handler AccountSetupHandler(std::shared_ptr<grpc::Channel> onboarding,
                                    const auth::ServiceToken* token);

}  // namespace msp::customer
