#include "customer_creator.h"

#include <chrono>
#include <future>

#include "../domain/customer_rules.h"
#include "msp/common/errors.h"
#include "msp/common/idempotency.h"

namespace msp::customer {
namespace {

constexpr int kCustomerIdAttempts = 5;

}  // namespace

struct CustomerCreator::Pending {
  NewCustomer created;
  WithId with_id;
  Done done;
  int64_t now_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  int attempts = 0;

  void Fail(std::exception_ptr error) { done(v1::Customer(), std::move(error)); }
};

void CustomerCreator::Create(NewCustomer created, WithId with_id, Done done) {
  auto pending = std::make_shared<Pending>();
  pending->created = std::move(created);
  pending->with_id = std::move(with_id);
  pending->done = std::move(done);
  Try(std::move(pending));
}

v1::Customer CustomerCreator::CreateAndWait(NewCustomer created, WithId with_id) {
  auto answer = std::make_shared<std::promise<v1::Customer>>();
  std::future<v1::Customer> answered = answer->get_future();
  Create(std::move(created), std::move(with_id),
         [answer](v1::Customer customer, std::exception_ptr error) {
           if (error) {
             answer->set_exception(std::move(error));
           } else {
             answer->set_value(std::move(customer));
           }
         });
  return answered.get();
}

void CustomerCreator::Try(std::shared_ptr<Pending> pending) {
  if (pending->attempts++ == kCustomerIdAttempts) {
    pending->Fail(std::make_exception_ptr(ApiError::Internal("could not allocate a customer id")));
    return;
  }
  PrepareNewCustomer(pending->created.customer, pending->created.msp_id, NewCustomerId(),
                     pending->now_micros);
  if (pending->with_id) pending->with_id(pending->created);
  pg::Statement create = CustomerStore::CreateStatement(pending->created);
  writer_->Submit(
      std::move(create.sql), std::move(create.params), [this, pending](pg::Outcome outcome) {
        try {
          if (auto* error = std::get_if<pg::PgError>(&outcome)) throw *error;
          switch (CustomerStore::CreateOutcomeOf(std::get<pg::Result>(outcome), pending->created)) {
            case CreateOutcome::kCreated:
              if (on_new_customer_) on_new_customer_();
              pending->done(pending->created.customer, nullptr);
              return;
            case CreateOutcome::kCustomerIdTaken:
              Try(pending);
              return;
            case CreateOutcome::kClaimedWithoutCustomer: {
              pg::Statement release = CustomerStore::ReleaseRequestIdStatement(pending->created);
              writer_->Submit(std::move(release.sql), std::move(release.params),
                              [this, pending](pg::Outcome released) {
                                if (auto* error = std::get_if<pg::PgError>(&released)) {
                                  pending->Fail(std::make_exception_ptr(*error));
                                  return;
                                }
                                Try(pending);
                              });
              return;
            }
            case CreateOutcome::kRequestSeen: {
              pg::Statement find = idempotency::FindResponseStatement(pending->created.msp_id,
                                                                      pending->created.request_id);
              reader_->Submit(
                  std::move(find.sql), std::move(find.params), [pending](pg::Outcome found) {
                    try {
                      if (auto* error = std::get_if<pg::PgError>(&found)) throw *error;
                      auto prior = idempotency::ResponseFromResult(std::get<pg::Result>(found),
                                                                   "CreateCustomer",
                                                                   pending->created.request_hash);
                      if (!prior) throw ApiError::Aborted("REQUEST_IN_FLIGHT", "retry the request");
                      v1::Customer answer;
                      answer.ParseFromString(*prior);
                      pending->done(std::move(answer), nullptr);
                    } catch (...) {
                      pending->Fail(std::current_exception());
                    }
                  });
              return;
            }
          }
        } catch (...) {
          pending->Fail(std::current_exception());
        }
      });
}

}  // namespace msp::customer
