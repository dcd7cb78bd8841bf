#pragma once

#include <cstdint>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/common/pg.h"

namespace msp::reporting {

struct RebuildStats {
  int64_t customers = 0;  // listed by the customer service
  int64_t applied = 0;    // events that changed the read model
  int64_t stale = 0;      // already as new or newer there
  int64_t removed = 0;    // rows of customers no MSP has any more
};

// Fills the read model from the services' list RPCs, for a fresh replica or after the change
// stream was trimmed past an unread entry: lists every MSP's customers (ListCustomers on
// `msps/-`), their services (BatchGetCustomerServices), and applies them as change events
// with their versions. It runs beside the consumer: whichever is newer wins, row by row. At the
// end, rows of customers it did not see and that no event touched meanwhile are removed.
class Rebuilder {
 public:
  Rebuilder(pg::Pool* pool, std::shared_ptr<grpc::Channel> customers,
            std::shared_ptr<grpc::Channel> assignments, const auth::ServiceToken* token);
  RebuildStats Run(int page_size = 500);

 private:
  pg::Pool* pool_;
  std::shared_ptr<grpc::Channel> customers_;
  std::shared_ptr<grpc::Channel> assignments_;
  const auth::ServiceToken* token_;
};

}  // namespace msp::reporting
