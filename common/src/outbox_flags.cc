// The outbox relay's flags, shared by every service that runs a relay.
#include "absl/flags/flag.h"
#include "msp/common/outbox.h"

ABSL_FLAG(int, outbox_poll_ms, 500,
          "how often the outbox relay looks for due messages (it is also woken by commits)");
ABSL_FLAG(int, outbox_linger_ms, 10,
          "how long the outbox relay, woken by a commit or a finished delivery, waits for more to "
          "join its pass (one transaction records outcomes and claims what is due)");
ABSL_FLAG(int, outbox_lease_ms, 15000,
          "how long a claimed outbox message is its relay's: longer than a delivery can take; a "
          "message whose relay died is due again when its lease ends");

namespace msp::outbox {

RelayOptions RelayOptionsFromFlags() {
  RelayOptions options;
  options.poll_interval = std::chrono::milliseconds(absl::GetFlag(FLAGS_outbox_poll_ms));
  options.wake_linger = std::chrono::milliseconds(absl::GetFlag(FLAGS_outbox_linger_ms));
  options.lease = std::chrono::milliseconds(absl::GetFlag(FLAGS_outbox_lease_ms));
  return options;
}

}  // namespace msp::outbox
