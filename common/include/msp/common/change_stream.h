#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "msp/common/redis.h"

// Change events on a Redis stream (msp.events.v1): services publish them from their outbox
// relays; read models consume them in a consumer group, at least once, and acknowledge what
// they have applied.
namespace msp::change_stream {

inline constexpr char kStream[] = "msp:changes";
// The stream is capped (approximately) so that a reader that is gone for good cannot fill
// Redis; a reader that fell further behind than this rebuilds from the services' list RPCs.
inline constexpr int64_t kDefaultMaxLength = 2'000'000;

// A publication is a redis::WriteReplicated: with Sentinels it returns once a replica holds it
// (an entry the master acknowledged and lost in a failover would be a change the read models
// never hear of), or throws and the outbox relay publishes again later (readers keep the
// highest version, so a repeat is harmless).
// XADD of one event: fields `type` (its full proto name) and `data` (its bytes), and
// `traceparent` when given (the W3C trace of the change, like a message header).
void Publish(redis::Client& client, const google::protobuf::Message& event,
             const std::string& stream = kStream, int64_t max_length = kDefaultMaxLength,
             const std::string& traceparent = "");

struct Outgoing {
  const google::protobuf::Message* event = nullptr;
  std::string traceparent;  // empty: none
};
// XADD of many events in one round trip (same fields as Publish).
void PublishAll(redis::Client& client, const std::vector<Outgoing>& events,
                const std::string& stream = kStream, int64_t max_length = kDefaultMaxLength);

struct Entry {
  std::string id;    // the stream id, e.g. 1732442400000-0
  std::string type;  // empty for an entry trimmed away while it was pending
  std::string data;
  std::string traceparent;  // empty when the publisher gave none
};

// When Redis appended the entry (a stream id starts with it, in milliseconds).
std::chrono::system_clock::time_point AppendTime(const Entry& entry);

class ConsumerGroup {
 public:
  // `client` must allow commands longer than the longest `block` given to Read.
  ConsumerGroup(redis::Client* client, std::string stream, std::string group, std::string consumer);

  // Creates the group (and the stream) when missing; the group starts at the stream's
  // beginning so that nothing published before the first reader is missed.
  void Ensure();
  // This consumer's delivered but unacknowledged entries first (after a restart or a failed
  // batch), then new ones, waiting up to `block` for them. Empty when nothing came.
  std::vector<Entry> Read(int count, std::chrono::milliseconds block);
  // Read's next call starts again with the unacknowledged entries (after a failed batch).
  void RewindToPending() { pending_drained_ = false; }
  void Ack(const std::vector<std::string>& ids);
  // Takes over entries that other consumers (a crashed replica) left unacknowledged for at
  // least `min_idle`.
  std::vector<Entry> ClaimStale(std::chrono::milliseconds min_idle, int count);

  struct Backlog {
    int64_t undelivered = 0;  // entries not yet read by the group (-1: unknown)
    int64_t pending = 0;      // read but not acknowledged
  };
  Backlog CurrentBacklog();

  const std::string& consumer() const { return consumer_; }

 private:
  redis::Client* client_;
  std::string stream_;
  std::string group_;
  std::string consumer_;
  bool pending_drained_ = false;
};

}  // namespace msp::change_stream
