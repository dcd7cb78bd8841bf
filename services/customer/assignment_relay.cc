#include "assignment_relay.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "msp/common/auth.h"
#include "msp/common/errors.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/common/log.h"
#include "msp/common/tenancy.h"
#include "store/customer_store.h"

namespace msp::customer {
namespace {

constexpr int kMaxBatch = 500;  // BatchAssignServices' limit

// A final refusal: a taken tenant id concerns Knox Manage only, so the other services are
// assigned (with a request id of their own) and only Knox Manage shows PROVISIONING_FAILED.
// The failure is in the customer's trail, with whom the assignment was for. Throws when the
// assignment without Knox Manage can be retried.
void RecordRefusal(AssignmentClient* client, pg::Pool* pool, const outbox::Message& message,
                   const assignment::v1::AssignServicesRequest& request, const grpc::Status& status,
                   const std::optional<auth::OnBehalfOf>& on_behalf_of) {
  std::string reason = ErrorReasonOf(status);
  if (reason.empty()) reason = "ASSIGNMENT_REFUSED";
  if (reason == "KNOX_MANAGE_TENANT_ID_TAKEN" && request.services_size() > 1) {
    assignment::v1::AssignServicesRequest others = request;
    others.clear_services();
    for (int s : request.services()) {
      if (s != assignment::v1::KNOX_MANAGE) {
        others.add_services(static_cast<knox::KnoxService>(s));
      }
    }
    others.clear_knox_manage_tenant_prefix();
    others.set_request_id(request.request_id() + "-without-km");
    assignment::v1::AssignServicesResponse others_response;
    const grpc::Status others_status =
        client->AssignServices(others, on_behalf_of, &others_response);
    if (!others_status.ok() && !IsFinalAssignmentRefusal(others_status)) {
      throw std::runtime_error(absl::StrCat("AssignServices without Knox Manage: code ",
                                            others_status.error_code(), ": ",
                                            others_status.error_message()));
    }
  }
  log::Warn(
      "service assignment refused",
      {{"customer", request.parent()}, {"reason", reason}, {"detail", status.error_message()}});
  // message_key is the customer id; msp_id is the customer's MSP.
  pg::WithTransaction(*pool, [&](pg::Transaction& tx) {
    CustomerStore store;
    store.SetServicesError(tx.conn(), message.msp_id, message.key, reason);
    store.AppendEvent(tx.conn(), message.msp_id, message.key, "SERVICES_PROVISIONING_FAILED",
                      auth::ServiceActor(identity::kCustomer, on_behalf_of), {"services_error"},
                      request.request_id());
    tx.Commit();
  });
}

// Delivers messages [begin, end) of one batch (at most kMaxBatch).
void DeliverChunk(AssignmentClient* client, pg::Pool* pool,
                  const std::vector<outbox::Message>& batch, size_t begin, size_t end,
                  std::vector<std::string>* errors) {
  const std::string& msp_id = batch[begin].msp_id;
  // For the admin who created the customers (message_key is the customer id; a batch is one
  // MSP's and one admin's).
  const auto on_behalf_of =
      auth::OnBehalfOfActor(batch[begin].on_behalf_of, msp_id, batch[begin].key);
  std::vector<std::string> ids;
  for (size_t i = begin; i < end; ++i) ids.push_back(batch[i].key);
  std::vector<StoredCustomer> found;
  {
    pg::Lease conn = pool->Acquire();
    found = CustomerStore().FindByIds(*conn, ids);
  }
  std::map<std::string, const StoredCustomer*> by_id;
  for (const auto& stored : found) by_id[stored.customer.customer_id()] = &stored;

  assignment::v1::BatchAssignServicesRequest request;
  request.set_parent("msps/" + msp_id);
  std::vector<size_t> sent;  // message index of each request
  for (size_t i = begin; i < end; ++i) {
    assignment::v1::AssignServicesRequest one;
    if (!one.ParseFromString(batch[i].payload)) {
      (*errors)[i] = "unreadable assign-services payload";
      continue;
    }
    auto it = by_id.find(batch[i].key);
    if (it == by_id.end() || it->second->msp_id != msp_id) {
      (*errors)[i] = "no such customer of the MSP";  // accounts are never deleted: a retry sees it
      continue;
    }
    *request.add_requests() = std::move(one);
    *request.add_customers() = AssignableCustomerOf(it->second->customer);
    request.add_traceparents(batch[i].traceparent);
    sent.push_back(i);
  }
  if (sent.empty()) return;
  assignment::v1::BatchAssignServicesResponse response;
  const grpc::Status status = client->BatchAssignServices(request, on_behalf_of, &response);
  if (!status.ok()) {
    throw std::runtime_error(absl::StrCat("BatchAssignServices: code ", status.error_code(), ": ",
                                          status.error_message()));
  }
  if (response.results_size() != request.requests_size()) {
    throw std::runtime_error("BatchAssignServices: not one result per request");
  }
  std::vector<ServicesAdded> added;
  for (int r = 0; r < response.results_size(); ++r) {
    const size_t i = sent[static_cast<size_t>(r)];
    const auto& result = response.results(r);
    const auto& one = request.requests(r);
    if (result.has_response()) {
      if (result.response().added_services_size() > 0) {
        auto& entry = added.emplace_back();
        entry.customer_id = batch[i].key;
        entry.request_id = one.request_id();
        for (int s : result.response().added_services()) {
          entry.services.push_back(static_cast<knox::KnoxService>(s));
        }
      }
      continue;
    }
    const grpc::Status refused = StatusOf(result.error());
    if (!IsFinalAssignmentRefusal(refused)) {
      (*errors)[i] = absl::StrCat("AssignServices: code ", refused.error_code(), ": ",
                                  refused.error_message());
      continue;
    }
    try {
      RecordRefusal(client, pool, batch[i], one, refused,
                    auth::OnBehalfOfActor(batch[i].on_behalf_of, msp_id, batch[i].key));
    } catch (const std::exception& e) {
      (*errors)[i] = e.what();
    }
  }
  if (added.empty()) return;
  // The trail entries before the messages count as delivered: a crash in between delivers
  // again, the replayed answers name the same services, and the entries are kept once.
  pg::WithTransaction(*pool, [&](pg::Transaction& tx) {
    CustomerStore().RecordServicesAdded(tx.conn(), msp_id, added,
                                        auth::ServiceActor(identity::kCustomer, on_behalf_of));
    tx.Commit();
    return 0;
  });
}

}  // namespace

bool IsFinalAssignmentRefusal(const grpc::Status& status) {
  return IsPermanentRefusal(status.error_code()) &&
         ErrorReasonOf(status) != "CUSTOMER_DELINK_REQUESTED";
}

outbox::TopicHandler AssignServicesHandler(AssignmentClient* client, pg::Pool* pool) {
  outbox::TopicHandler handler;
  handler.batch_per_actor = true;
  handler.batch = [client, pool](const std::vector<outbox::Message>& batch,
                                 std::vector<std::string>* errors) {
    for (size_t begin = 0; begin < batch.size(); begin += kMaxBatch) {
      DeliverChunk(client, pool, batch, begin, std::min(batch.size(), begin + kMaxBatch), errors);
    }
  };
  return handler;
}

}  // namespace msp::customer
