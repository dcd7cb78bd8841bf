#include "customer_service.h"

#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "msp/common/resource_names.h"

namespace msp::customer {
namespace {

using auth::PrincipalKind;

constexpr char kService[] = "/msp.customer.v1.CustomerService/";
const std::string kCreate = absl::StrCat(kService, "CreateCustomer");
const std::string kGet = absl::StrCat(kService, "GetCustomer");
const std::string kList = absl::StrCat(kService, "ListCustomers");
const std::string kUpdate = absl::StrCat(kService, "UpdateCustomer");
const std::string kUpgrade = absl::StrCat(kService, "UpgradeToJointlyManaged");
const std::string kListEvents = absl::StrCat(kService, "ListCustomerEvents");

// `msps/{msp}` of the caller. Another MSP's parent is NOT_FOUND: nothing about it is revealed.
void RequireOwnParent(const std::string& field, const std::string& parent,
                      const auth::Principal& principal) {
  auto vars = ParseResourceName("msps/{msp}", parent);
  if (!vars) throw ApiError::InvalidArgument({{field, "must be msps/{msp}"}});
  if ((*vars)[0] != principal.msp_id) throw ApiError::NotFound("msp", parent);
}

// The customer id of `msps/{msp}/customers/{customer}` if the MSP is the caller's.
std::string RequireOwnCustomer(const std::string& field, const std::string& name,
                               const auth::Principal& principal) {
  auto vars = ParseResourceName("msps/{msp}/customers/{customer}", name);
  if (!vars || !IsValidCustomerId((*vars)[1])) {
    throw ApiError::InvalidArgument({{field, "must be msps/{msp}/customers/{customer}"}});
  }
  if ((*vars)[0] != principal.msp_id) throw ApiError::NotFound("customer", name);
  return (*vars)[1];
}

void CheckRequestId(const std::string& request_id) {
  if (!request_id.empty() && !IsValidRequestId(request_id)) {
    throw ApiError::InvalidArgument(
        {{"request_id", "1-64 characters of letters, digits, '-', '_' or '.' (a UUID fits)"}});
  }
}

std::string RequestHash(const google::protobuf::Message& request) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  {
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

void CheckEtag(const std::string& sent, const StoredCustomer& current) {
  if (!sent.empty() && sent != current.customer.etag()) {
    throw ApiError::Aborted("ETAG_MISMATCH",
                            "the customer changed since it was read: read it again and retry")
        .WithMetadata("current_etag", current.customer.etag());
  }
}

}  // namespace

CustomerServiceImpl::CustomerServiceImpl(pg::Pool* pool, pg::PipelinedReader* reader,
                                         RpcRuntime* runtime, FreeMailDomains free_mail)
    : pool_(pool), reader_(reader), runtime_(runtime), free_mail_(std::move(free_mail)) {}

auth::MethodPolicy CustomerServiceImpl::Policy() {
  auth::MethodPolicy policy;
  for (const auto& method : {kCreate, kGet, kList, kUpdate, kUpgrade, kListEvents}) {
    policy.Allow(method, {PrincipalKind::kMspAdmin});
  }
  return policy;
}

grpc::Status CustomerServiceImpl::CreateCustomer(grpc::ServerContext* context,
                                                 const v1::CreateCustomerRequest* request,
                                                 v1::Customer* response) {
  return runtime_->Handle(context, kCreate, [&](const auth::Principal& principal) {
    RequireOwnParent("parent", request->parent(), principal);
    CheckRequestId(request->request_id());
    v1::Customer input = request->customer();
    Normalize(input);
    ValidateNewCustomer(input, free_mail_);
    NewCustomer created{principal.msp_id, std::move(input), principal.Actor(),
                        request->request_id(),
                        request->request_id().empty() ? "" : RequestHash(*request)};
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    // One atomic statement, no BEGIN/COMMIT round trips. 50 random bits make an id clash
    // rare; on one, nothing was written and another id is drawn.
    pg::Lease conn = pool_->Acquire();
    for (int attempt = 0; attempt < 5; ++attempt) {
      PrepareNewCustomer(created.customer, principal.msp_id, NewCustomerId(), now);
      const CreateOutcome outcome = store_.Create(*conn, created);
      if (outcome == CreateOutcome::kCreated) {
        *response = created.customer;
        break;
      }
      if (outcome == CreateOutcome::kClaimedWithoutCustomer) {
        store_.ReleaseRequestId(*conn, created);
        continue;
      }
      if (outcome == CreateOutcome::kRequestSeen) {
        auto prior = store_.FindResponse(*conn, principal.msp_id, request->request_id(),
                                         "CreateCustomer", created.request_hash);
        if (!prior) throw ApiError::Aborted("REQUEST_IN_FLIGHT", "retry the request");
        response->ParseFromString(*prior);
        break;
      }
    }
    if (response->customer_id().empty())
      throw ApiError::Internal("could not allocate a customer id");
    log::Debug("customer created", {{"customer", response->name()}, {"actor", principal.Actor()}});
  });
}

grpc::ServerUnaryReactor* CustomerServiceImpl::GetCustomer(grpc::CallbackServerContext* context,
                                                           const v1::GetCustomerRequest* request,
                                                           v1::Customer* response) {
  return runtime_->HandleAsync(
      context, kGet,
      [this, request, response](const auth::Principal& principal, RpcRuntime::Finisher finish) {
        const std::string id = RequireOwnCustomer("name", request->name(), principal);
        reader_->Submit(
            CustomerStore::FindSql(false), CustomerStore::FindParams(principal.msp_id, id),
            [this, request, response, finish](pg::Outcome outcome) {
              try {
                if (auto* error = std::get_if<pg::PgError>(&outcome)) throw *error;
                auto found = CustomerStore::FromFindResult(std::get<pg::Result>(outcome));
                if (!found) throw ApiError::NotFound("customer", request->name());
                *response = std::move(found->customer);
                finish(grpc::Status::OK);
              } catch (...) {
                finish(runtime_->StatusFromException(std::current_exception(), kGet));
              }
            });
      });
}

grpc::Status CustomerServiceImpl::ListCustomers(grpc::ServerContext* context,
                                                const v1::ListCustomersRequest* request,
                                                v1::ListCustomersResponse* response) {
  return runtime_->Handle(context, kList, [&](const auth::Principal& principal) {
    RequireOwnParent("parent", request->parent(), principal);
    const ListQuery query = ParseListCustomersRequest(*request, principal.msp_id);
    pg::Lease conn = pool_->Acquire();
    auto page = store_.List(*conn, principal.msp_id, query);
    for (auto& c : page.customers) *response->add_customers() = std::move(c);
    if (page.next_after) {
      response->set_next_page_token(EncodeCustomerPageToken(
          *request, principal.msp_id, page.next_after->first, page.next_after->second));
    }
  });
}

v1::Customer CustomerServiceImpl::IdempotentWrite(
    const auth::Principal& principal, const std::string& request_id, const std::string& method,
    const google::protobuf::Message& request,
    const std::function<v1::Customer(pg::Connection&)>& write) {
  const std::string hash = request_id.empty() ? "" : RequestHash(request);
  return pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    auto& conn = tx.conn();
    if (!request_id.empty()) {
      if (auto prior = store_.ClaimRequestId(conn, principal.msp_id, request_id, method, hash)) {
        v1::Customer answer;
        answer.ParseFromString(*prior);
        return answer;
      }
    }
    v1::Customer answer = write(conn);
    if (!request_id.empty()) {
      store_.SaveResponse(conn, principal.msp_id, request_id, answer.SerializeAsString());
    }
    tx.Commit();
    return answer;
  });
}

grpc::Status CustomerServiceImpl::UpdateCustomer(grpc::ServerContext* context,
                                                 const v1::UpdateCustomerRequest* request,
                                                 v1::Customer* response) {
  return runtime_->Handle(context, kUpdate, [&](const auth::Principal& principal) {
    const std::string id =
        RequireOwnCustomer("customer.name", request->customer().name(), principal);
    CheckRequestId(request->request_id());
    const std::vector<std::string> paths(request->update_mask().paths().begin(),
                                         request->update_mask().paths().end());
    *response = IdempotentWrite(
        principal, request->request_id(), "UpdateCustomer", *request, [&](pg::Connection& conn) {
          auto current = store_.Find(conn, principal.msp_id, id, /*for_update=*/true);
          if (!current) throw ApiError::NotFound("customer", request->customer().name());
          UpdatePlan plan = PlanUpdate(current->customer, request->customer(), paths);
          CheckEtag(request->etag(), *current);
          if (plan.changed_fields.empty()) {
            return current->customer;  // nothing to change: no new version, no event
          }
          v1::Customer updated = store_.Update(conn, principal.msp_id, plan.updated).customer;
          store_.AppendEvent(conn, principal.msp_id, id, "CUSTOMER_UPDATED", principal.Actor(),
                             plan.changed_fields, request->request_id());
          return updated;
        });
  });
}

grpc::Status CustomerServiceImpl::UpgradeToJointlyManaged(
    grpc::ServerContext* context, const v1::UpgradeToJointlyManagedRequest* request,
    v1::Customer* response) {
  return runtime_->Handle(context, kUpgrade, [&](const auth::Principal& principal) {
    const std::string id = RequireOwnCustomer("name", request->name(), principal);
    CheckRequestId(request->request_id());
    *response = IdempotentWrite(
        principal, request->request_id(), "UpgradeToJointlyManaged", *request,
        [&](pg::Connection& conn) {
          auto current = store_.Find(conn, principal.msp_id, id, /*for_update=*/true);
          if (!current) throw ApiError::NotFound("customer", request->name());
          CheckEtag(request->etag(), *current);
          CheckUpgrade(current->customer, free_mail_);
          v1::Customer upgraded = current->customer;
          upgraded.set_management_type(v1::JOINTLY_MANAGED);
          upgraded = store_.Update(conn, principal.msp_id, upgraded).customer;
          store_.AppendEvent(conn, principal.msp_id, id, "UPGRADED_TO_JOINTLY_MANAGED",
                             principal.Actor(), {"management_type"}, request->request_id());
          return upgraded;
        });
  });
}

grpc::Status CustomerServiceImpl::ListCustomerEvents(grpc::ServerContext* context,
                                                     const v1::ListCustomerEventsRequest* request,
                                                     v1::ListCustomerEventsResponse* response) {
  return runtime_->Handle(context, kListEvents, [&](const auth::Principal& principal) {
    const std::string id = RequireOwnCustomer("parent", request->parent(), principal);
    const int page_size = ClampPageSize(request->page_size());
    const int64_t before =
        request->page_token().empty()
            ? 0
            : DecodeEventPageToken(request->page_token(), principal.msp_id, request->parent());
    pg::Lease conn = pool_->Acquire();
    // The customer must be this MSP's now; its events are those written while it was.
    if (!store_.Find(*conn, principal.msp_id, id, false)) {
      throw ApiError::NotFound("customer", request->parent());
    }
    auto page = store_.ListEvents(*conn, principal.msp_id, id, page_size, before);
    for (auto& e : page.events) *response->add_events() = std::move(e);
    if (page.next_after_event_id > 0) {
      response->set_next_page_token(
          EncodeEventPageToken(principal.msp_id, request->parent(), page.next_after_event_id));
    }
  });
}

}  // namespace msp::customer
