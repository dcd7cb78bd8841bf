#include "msp/common/change_stream.h"

#include "absl/strings/str_cat.h"

namespace msp::change_stream {
namespace {

// [[id, [field, value, ...]], ...] (a nil field list: the entry was trimmed away).
std::vector<Entry> ParseEntries(redis::ReplyView entries) {
  std::vector<Entry> out;
  out.reserve(entries.ArraySize());
  for (size_t i = 0; i < entries.ArraySize(); ++i) {
    const redis::ReplyView entry = entries.At(i);
    Entry e;
    e.id = entry.At(0).String();
    const redis::ReplyView fields = entry.At(1);
    for (size_t f = 0; f + 1 < fields.ArraySize(); f += 2) {
      const std::string name = fields.At(f).String();
      if (name == "type") {
        e.type = fields.At(f + 1).String();
      } else if (name == "data") {
        e.data = fields.At(f + 1).String();
      } else if (name == "traceparent") {
        e.traceparent = fields.At(f + 1).String();
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> XaddArgs(const google::protobuf::Message& event, const std::string& stream,
                                  int64_t max_length, const std::string& traceparent) {
  std::vector<std::string> args = {"XADD",
                                   stream,
                                   "MAXLEN",
                                   "~",
                                   std::to_string(max_length),
                                   "*",
                                   "type",
                                   event.GetDescriptor()->full_name(),
                                   "data",
                                   event.SerializeAsString()};
  if (!traceparent.empty()) {
    args.emplace_back("traceparent");
    args.push_back(traceparent);
  }
  return args;
}

}  // namespace

void Publish(redis::Client& client, const google::protobuf::Message& event,
             const std::string& stream, int64_t max_length, const std::string& traceparent) {
  redis::WriteReplicated(client, {XaddArgs(event, stream, max_length, traceparent)});
}

void PublishAll(redis::Client& client, const std::vector<Outgoing>& events,
                const std::string& stream, int64_t max_length) {
  if (events.empty()) return;
  std::vector<std::vector<std::string>> commands;
  commands.reserve(events.size());
  for (const auto& outgoing : events) {
    commands.push_back(XaddArgs(*outgoing.event, stream, max_length, outgoing.traceparent));
  }
  redis::WriteReplicated(client, std::move(commands));
}

ConsumerGroup::ConsumerGroup(redis::Client* client, std::string stream, std::string group,
                             std::string consumer)
    : client_(client),
      stream_(std::move(stream)),
      group_(std::move(group)),
      consumer_(std::move(consumer)) {}

void ConsumerGroup::Ensure() {
  try {
    client_->Command({"XGROUP", "CREATE", stream_, group_, "0", "MKSTREAM"});
  } catch (const redis::RedisError& e) {
    if (std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
  }
}

std::chrono::system_clock::time_point AppendTime(const Entry& entry) {
  return std::chrono::system_clock::time_point(
      std::chrono::milliseconds(std::stoll(entry.id.substr(0, entry.id.find('-')))));
}

std::vector<Entry> ConsumerGroup::Read(int count, std::chrono::milliseconds block) {
  if (!pending_drained_) {
    redis::Reply reply = client_->Command({"XREADGROUP", "GROUP", group_, consumer_, "COUNT",
                                           std::to_string(count), "STREAMS", stream_, "0"});
    std::vector<Entry> pending = ParseEntries(reply.View().At(0).At(1));
    if (!pending.empty()) return pending;
    pending_drained_ = true;
  }
  redis::Reply reply =
      client_->Command({"XREADGROUP", "GROUP", group_, consumer_, "COUNT", std::to_string(count),
                        "BLOCK", std::to_string(block.count()), "STREAMS", stream_, ">"});
  if (reply.IsNil()) return {};
  return ParseEntries(reply.View().At(0).At(1));
}

void ConsumerGroup::Ack(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::vector<std::string> args = {"XACK", stream_, group_};
  args.insert(args.end(), ids.begin(), ids.end());
  client_->Command(args);
}

std::vector<Entry> ConsumerGroup::ClaimStale(std::chrono::milliseconds min_idle, int count) {
  redis::Reply reply =
      client_->Command({"XAUTOCLAIM", stream_, group_, consumer_, std::to_string(min_idle.count()),
                        "0", "COUNT", std::to_string(count)});
  return ParseEntries(reply.View().At(1));
}

ConsumerGroup::Backlog ConsumerGroup::CurrentBacklog() {
  Backlog backlog;
  backlog.undelivered = -1;
  redis::Reply reply = client_->Command({"XINFO", "GROUPS", stream_});
  const redis::ReplyView groups = reply.View();
  for (size_t g = 0; g < groups.ArraySize(); ++g) {
    const redis::ReplyView fields = groups.At(g);
    std::string name;
    int64_t pending = 0;
    int64_t lag = -1;
    for (size_t f = 0; f + 1 < fields.ArraySize(); f += 2) {
      const std::string key = fields.At(f).String();
      if (key == "name") name = fields.At(f + 1).String();
      if (key == "pending") pending = fields.At(f + 1).Integer();
      // Redis 7 answers nil when it cannot tell (after deletions): unknown.
      if (key == "lag" && fields.At(f + 1).IsInteger()) lag = fields.At(f + 1).Integer();
    }
    if (name == group_) {
      backlog.pending = pending;
      backlog.undelivered = lag;
    }
  }
  return backlog;
}

}  // namespace msp::change_stream
