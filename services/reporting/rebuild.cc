#include "rebuild.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/channels.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"
#include "msp/common/timestamps.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "store/read_model_store.h"

namespace msp::reporting {
namespace {

// The customer service's etag is its version in quotes ("\"12\"").
int64_t VersionOfEtag(const std::string& etag) {
  if (etag.size() < 3 || etag.front() != '"' || etag.back() != '"') return 0;
  try {
    return std::stoll(etag.substr(1, etag.size() - 2));
  } catch (const std::exception&) {
    return 0;
  }
}

// msps/{msp}/customers/{customer} -> msp
std::string MspOfName(const std::string& name) {
  const size_t start = name.find('/');
  const size_t end = name.find('/', start + 1);
  return start == std::string::npos || end == std::string::npos
             ? ""
             : name.substr(start + 1, end - start - 1);
}

template <typename Call>
grpc::Status WithDeadline(const auth::ServiceToken* token, Call&& call) {
  grpc::ClientContext context;
  PrepareInternalCall(context, *token, std::chrono::seconds(30));
  return call(context);
}

}  // namespace

Rebuilder::Rebuilder(pg::Pool* pool, std::shared_ptr<grpc::Channel> customers,
                     std::shared_ptr<grpc::Channel> assignments, const auth::ServiceToken* token)
    : pool_(pool),
      customers_(std::move(customers)),
      assignments_(std::move(assignments)),
      token_(token) {}

RebuildStats Rebuilder::Run(int page_size) {
  RebuildStats stats;
  auto customer_stub = customer::v1::CustomerService::NewStub(customers_);
  auto assignment_stub = assignment::v1::ServiceAssignmentService::NewStub(assignments_);
  ReadModelStore store;
  // One connection throughout: the ids seen go to a temporary table of its session.
  pg::Lease conn = pool_->Acquire();
  const int64_t started_us =
      conn->Exec("SELECT (extract(epoch from now()) * 1000000)::bigint").Int64(0, 0);
  conn->Exec("CREATE TEMP TABLE IF NOT EXISTS rebuild_seen (customer_id text PRIMARY KEY)");
  conn->Exec("TRUNCATE rebuild_seen");

  customer::v1::ListCustomersRequest list;
  list.set_parent("msps/-");
  list.set_order_by("customer_id");
  list.set_page_size(page_size);
  while (true) {
    customer::v1::ListCustomersResponse page;
    grpc::Status status = WithDeadline(token_, [&](grpc::ClientContext& c) {
      return customer_stub->ListCustomers(&c, list, &page);
    });
    if (!status.ok()) {
      throw std::runtime_error(absl::StrCat("ListCustomers: ", status.error_message()));
    }
    ChangeBatch batch;
    std::map<std::string, std::vector<std::string>> names_by_msp;
    std::vector<std::string> ids;
    for (const auto& c : page.customers()) {
      const std::string msp = MspOfName(c.name());
      auto& e = batch.customers.emplace_back();
      e.set_customer_id(c.customer_id());
      e.set_msp_id(msp);
      e.set_version(VersionOfEtag(c.etag()));
      *e.mutable_customer() = c;
      *e.mutable_change_time() = c.update_time();
      names_by_msp[msp].push_back(c.name());
      ids.push_back(c.customer_id());
    }
    for (const auto& [msp, names] : names_by_msp) {
      assignment::v1::BatchGetCustomerServicesRequest get;
      get.set_parent(absl::StrCat("msps/", msp));
      for (const auto& n : names) get.add_customers(n);
      assignment::v1::BatchGetCustomerServicesResponse got;
      status = WithDeadline(token_, [&](grpc::ClientContext& c) {
        return assignment_stub->BatchGetCustomerServices(&c, get, &got);
      });
      if (!status.ok()) {
        throw std::runtime_error(
            absl::StrCat("BatchGetCustomerServices: ", status.error_message()));
      }
      for (const auto& entry : got.customers()) {
        if (entry.version() == 0) continue;  // never had a service
        auto& e = batch.services.emplace_back();
        e.set_customer_id(entry.customer().substr(entry.customer().rfind('/') + 1));
        e.set_msp_id(msp);
        e.set_version(entry.version());
        int64_t latest = 0;
        for (const auto& s : entry.services()) {
          *e.add_services() = s;
          latest = std::max(latest, TimestampMicros(s.update_time()));
        }
        SetTimestampMicros(e.mutable_change_time(), latest);
      }
    }
    {
      pg::Transaction tx(*conn);
      const ApplyOutcome outcome = store.Apply(*conn, batch);
      conn->Exec("INSERT INTO rebuild_seen SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                 {pg::TextArrayLiteral(ids)});
      tx.Commit();
      stats.applied += outcome.applied;
      stats.stale += outcome.stale;
    }
    stats.customers += page.customers_size();
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  // Shown rows the lists no longer have (the customer left its MSP and the event was lost),
  // unless an event changed them since the rebuild began.
  pg::Transaction tx(*conn);
  auto removed = conn->Exec(
      "WITH gone AS (SELECT r.customer_id FROM customer_rows r JOIN customer_sources s USING "
      "(customer_id) WHERE s.change_us < $1 AND NOT EXISTS (SELECT 1 FROM rebuild_seen x WHERE "
      "x.customer_id = r.customer_id) FOR UPDATE OF s), "
      "d AS (DELETE FROM customer_rows WHERE customer_id IN (SELECT customer_id FROM gone) "
      "RETURNING customer_id) "
      "UPDATE customer_sources SET msp_id = '' WHERE customer_id IN (SELECT customer_id FROM d) "
      "RETURNING customer_id",
      {std::to_string(started_us)});
  tx.Commit();
  stats.removed = removed.rows();
  conn->Exec("DROP TABLE IF EXISTS rebuild_seen");
  return stats;
}

}  // namespace msp::reporting
