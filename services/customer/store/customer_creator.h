#pragma once

#include <exception>
#include <functional>
#include <memory>

#include "customer_store.h"
#include "msp/common/pg_pipeline.h"
#include "msp/customer/v1/customer.pb.h"

namespace msp::customer {

// CreateCustomer's storage protocol behind one asynchronous call. Each attempt is one atomic
// statement through the group-commit writer (many creates share one transaction and one WAL
// flush, no BEGIN/COMMIT round trips): it claims the request id and inserts the customer under
// a fresh random id. On an id clash (50 bits make one rare) nothing was written and another
// id is drawn; a request id claimed without the customer is released and tried again; a
// request id answered before gets that answer, read after the commit that saved it. No thread
// waits.
class CustomerCreator {
 public:
  // `on_new_customer` (optional) runs once for each customer inserted, never for an answer
  // replayed to a retry (msp_customers_created_total).
  CustomerCreator(pg::StatementPipeline* writer, pg::StatementPipeline* reader,
                  std::function<void()> on_new_customer = nullptr)
      : writer_(writer), reader_(reader), on_new_customer_(std::move(on_new_customer)) {}

  // Fills in what depends on the customer's id (names, outbox payloads), once per id drawn.
  using WithId = std::function<void(NewCustomer&)>;
  // Runs once, on a database thread: the customer as created (or as first answered), or the
  // error.
  using Done = std::function<void(v1::Customer, std::exception_ptr)>;
  void Create(NewCustomer created, WithId with_id, Done done);
  // The same for sync handlers: waits for the answer; throws the error.
  v1::Customer CreateAndWait(NewCustomer created, WithId with_id = nullptr);

 private:
  struct Pending;
  void Try(std::shared_ptr<Pending> pending);

  pg::StatementPipeline* writer_;
  pg::StatementPipeline* reader_;
  std::function<void()> on_new_customer_;
};

}  // namespace msp::customer
