#pragma once

#include <map>
#include <mutex>
#include <string>

// Which CSV exports may run on this replica. Each holds a database connection and a snapshot
// while it streams, so they are few: at most `total` at once, and at most `per_tenant` of one
// MSP, so that one MSP's exports (stalled ones included) never keep every other MSP's out.
namespace msp::reporting {

struct ExportLimits {
  int total = 4;
  int per_tenant = 1;
};

class ExportAdmission {
 public:
  explicit ExportAdmission(ExportLimits limits) : limits_(limits) {}

  // A running export; its slot is free again when the ticket goes.
  class Ticket {
   public:
    Ticket(ExportAdmission* admission, std::string msp_id)
        : admission_(admission), msp_id_(std::move(msp_id)) {}
    ~Ticket() { admission_->Release(msp_id_); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    ExportAdmission* admission_;
    std::string msp_id_;
  };

  // Throws RESOURCE_EXHAUSTED TOO_MANY_EXPORTS (with RetryInfo) when the MSP or the replica is
  // at its limit.
  Ticket Admit(const std::string& msp_id);

 private:
  void Release(const std::string& msp_id);

  const ExportLimits limits_;
  std::mutex mu_;
  int running_ = 0;
  std::map<std::string, int> by_tenant_;
};

}  // namespace msp::reporting
