#include "customer_service.h"

#include "absl/strings/str_cat.h"
#include "domain/audit_events.h"
#include "domain/services_view.h"
#include "msp/common/consent.h"
#include "msp/common/failpoint.h"
#include "msp/common/idempotency.h"
#include "msp/common/identities.h"
#include "msp/common/resource_names.h"
#include "msp/common/tenancy.h"
#include "new_customer.h"

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
const std::string kCreateKnox = absl::StrCat(kService, "CreateKnoxCustomer");
const std::string kLookupKnox = absl::StrCat(kService, "LookupKnoxCustomer");
const std::string kTransition = absl::StrCat(kService, "TransitionCustomer");
const std::string kRecordEvent = absl::StrCat(kService, "RecordCustomerEvent");

void CheckView(const std::string& field, v1::CustomerView view) {
  if (!v1::CustomerView_IsValid(view)) {
    throw ApiError::InvalidArgument({{field, "BASIC or FULL"}});
  }
}

void AttachServices(const StoredCustomer& stored,
                    const std::vector<assignment::v1::AssignedService>& assigned,
                    v1::Customer& out) {
  out.clear_services();
  for (auto& s :
       ServicesView(out.name(), stored.requested_services, stored.services_error, assigned)) {
    *out.add_services() = std::move(s);
  }
}

void CheckEtag(const std::string& sent, const StoredCustomer& current) {
  if (!sent.empty() && sent != current.customer.etag()) {
    throw ApiError::Aborted("ETAG_MISMATCH",
                            "the customer changed since it was read: read it again and retry")
        .WithMetadata("current_etag", current.customer.etag());
  }
}

}  // namespace

CustomerServiceImpl::CustomerServiceImpl(pg::Pool* pool, pg::StatementPipeline* reader,
                                         pg::StatementPipeline* writer, RpcRuntime* runtime,
                                         FreeMailDomains free_mail, AssignmentClient* assignments,
                                         RelayWakers wakers)
    : pool_(pool),
      reader_(reader),
      assignments_(assignments),
      wakers_(std::move(wakers)),
      runtime_(runtime),
      free_mail_(std::move(free_mail)),
      creator_(writer, reader,
               [created = runtime->metrics() == nullptr
                              ? nullptr
                              : &runtime->metrics()->Counter(metric_names::kCustomersCreated,
                                                             "Customers created (not retries)")] {
                 if (created != nullptr) created->Increment();
               }) {}

auth::MethodPolicy CustomerServiceImpl::Policy() {
  using auth::MspAdmin, auth::Service, auth::TenantScope;
  using K = PrincipalKind;
  auth::MethodPolicy policy;
  policy.Allow(kCreate, {MspAdmin()})
      .Allow(kGet, {MspAdmin(), Service(identity::kServiceAssignment)})
      .Allow(kList, {MspAdmin(), Service(identity::kReportingRebuild, TenantScope::kAll)})
      .Allow(kUpdate, {MspAdmin()})
      .Allow(kUpgrade, {MspAdmin()})
      .Allow(kListEvents, {MspAdmin()})
      .Allow(kCreateKnox, {Service(identity::kKnoxAccounts)})
      .Allow(kLookupKnox, {Service(identity::kOnboardingInvitation)})
      // Invitations and delinks: asked by an MSP admin, answered by the customer's admin.
      .Allow(
          kTransition,
          {Service(identity::kOnboardingInvitation).ActingFor({K::kMspAdmin, K::kCustomerAdmin})})
      // The assignment service's audit events, for the person who acted.
      .Allow(kRecordEvent,
             {Service(identity::kServiceAssignment).ActingFor({K::kMspAdmin, K::kCustomerAdmin})});
  return policy;
}

grpc::ServerUnaryReactor* CustomerServiceImpl::CreateCustomer(
    grpc::CallbackServerContext* context, const v1::CreateCustomerRequest* request,
    v1::Customer* response) {
  return runtime_->HandleAsync(
      context, kCreate,
      [this, request, response](const auth::Principal& principal, RpcRuntime::Finisher finish) {
        RequireMspParent("parent", request->parent(), principal);
        idempotency::CheckRequestId(request->request_id());
        PreparedCustomer prepared = PrepareCreate(principal.msp_id, principal.Actor(),
                                                  request->request_id(), *request, free_mail_);
        creator_.Create(
            std::move(prepared.customer), std::move(prepared.with_id),
            [this, request, response, finish, actor = principal.Actor()](v1::Customer answer,
                                                                         std::exception_ptr error) {
              if (error) {
                finish(runtime_->StatusFromException(error, kCreate));
                return;
              }
              *response = std::move(answer);
              // Crash tests kill the process here: committed, not answered.
              failpoint::CrashIfEnabled("customer.create.after_commit");
              // Every create has a change event; services and a jointly managed account's email
              // too.
              WakeRelays(!request->services().empty() ||
                         response->management_type() == v1::JOINTLY_MANAGED);
              log::Debug("customer created", {{"customer", response->name()}, {"actor", actor}});
              finish(grpc::Status::OK);
            });
      });
}

grpc::ServerUnaryReactor* CustomerServiceImpl::GetCustomer(grpc::CallbackServerContext* context,
                                                           const v1::GetCustomerRequest* request,
                                                           v1::Customer* response) {
  return runtime_->HandleAsync(
      context, kGet,
      [this, request, response](const auth::Principal& principal, RpcRuntime::Finisher finish) {
        const CustomerRef ref = RequireCustomerName("name", request->name(), principal);
        CheckView("view", request->view());
        reader_->Submit(
            CustomerStore::FindSql(false), CustomerStore::FindParams(ref.msp_id, ref.customer_id),
            [this, request, response, finish, ref,
             principal_kind = principal.kind](pg::Outcome outcome) {
              try {
                if (auto* error = std::get_if<pg::PgError>(&outcome)) throw *error;
                auto found = CustomerStore::FromFindResult(std::get<pg::Result>(outcome));
                if (!found) throw ApiError::NotFound("customer", request->name());
                // An MSP sees an invited or refusing customer's account only in part.
                if (principal_kind == PrincipalKind::kMspAdmin) RedactUnconsented(found->customer);
                if (request->view() != v1::FULL) {
                  *response = std::move(found->customer);
                  finish(grpc::Status::OK);
                  return;
                }
                // The services come from their own service, without blocking this thread.
                auto stored = std::make_shared<StoredCustomer>(std::move(*found));
                assignments_->BatchGetAsync(
                    ref.msp_id, {ref.customer_id},
                    [this, response, finish, stored, ref](ServicesByCustomer services,
                                                          std::exception_ptr error) {
                      if (error) {
                        finish(runtime_->StatusFromException(error, kGet));
                        return;
                      }
                      *response = std::move(stored->customer);
                      AttachServices(*stored, services[ref.customer_id], *response);
                      finish(grpc::Status::OK);
                    });
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
    // An internal service may list every MSP's customers at once with AIP-159's `msps/-`
    // (reporting's rebuild), by customer id and without services.
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    CheckView("view", request->view());
    const ListQuery query = ParseListCustomersRequest(*request, msp_id);
    if (msp_id == kAnyMsp) {
      if (request->view() == v1::FULL) {
        throw ApiError::InvalidArgument({{"view", "FULL is not offered across MSPs (msps/-)"}});
      }
      if (query.sort_key != SortKey::kCustomerId) {
        throw ApiError::InvalidArgument({{"order_by", "msps/- is listed by customer_id only"}});
      }
    }
    CustomerPage page;
    {
      pg::Lease conn = pool_->Acquire();  // not held across the call below
      page = store_.List(*conn, msp_id, query);
    }
    // One batch call for the page's services, never one per customer.
    ServicesByCustomer services;
    if (request->view() == v1::FULL && !page.customers.empty()) {
      std::vector<std::string> ids;
      for (const auto& c : page.customers) ids.push_back(c.customer.customer_id());
      services = assignments_->BatchGet(msp_id, ids);
    }
    for (auto& c : page.customers) {
      auto* out = response->add_customers();
      *out = std::move(c.customer);
      if (principal.kind == PrincipalKind::kMspAdmin) RedactUnconsented(*out);
      if (request->view() == v1::FULL) AttachServices(c, services[out->customer_id()], *out);
    }
    if (page.next_after) {
      response->set_next_page_token(EncodeCustomerPageToken(
          *request, msp_id, page.next_after->first, page.next_after->second));
    }
  });
}

v1::Customer CustomerServiceImpl::IdempotentWrite(
    const auth::Principal& principal, const std::string& request_id, const std::string& method,
    const google::protobuf::Message& request,
    const std::function<v1::Customer(pg::Connection&)>& write) {
  const std::string hash = request_id.empty() ? "" : idempotency::RequestHash(request);
  return idempotency::WriteOnce<v1::Customer>(*pool_, principal.msp_id, request_id, method, hash,
                                              write);
}

grpc::Status CustomerServiceImpl::UpdateCustomer(grpc::ServerContext* context,
                                                 const v1::UpdateCustomerRequest* request,
                                                 v1::Customer* response) {
  return runtime_->Handle(context, kUpdate, [&](const auth::Principal& principal) {
    const std::string id =
        RequireCustomerName("customer.name", request->customer().name(), principal).customer_id;
    idempotency::CheckRequestId(request->request_id());
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
    WakeRelays(false);  // the change event
  });
}

grpc::Status CustomerServiceImpl::UpgradeToJointlyManaged(
    grpc::ServerContext* context, const v1::UpgradeToJointlyManagedRequest* request,
    v1::Customer* response) {
  return runtime_->Handle(context, kUpgrade, [&](const auth::Principal& principal) {
    const std::string id = RequireCustomerName("name", request->name(), principal).customer_id;
    idempotency::CheckRequestId(request->request_id());
    *response = IdempotentWrite(
        principal, request->request_id(), "UpgradeToJointlyManaged", *request,
        [&](pg::Connection& conn) {
          auto current = store_.Find(conn, principal.msp_id, id, /*for_update=*/true);
          if (!current) throw ApiError::NotFound("customer", request->name());
          CheckEtag(request->etag(), *current);
          v1::Customer upgraded = PlanUpgrade(current->customer, free_mail_);
          upgraded = store_.Update(conn, principal.msp_id, upgraded).customer;
          store_.AppendEvent(conn, principal.msp_id, id, "UPGRADED_TO_JOINTLY_MANAGED",
                             principal.Actor(), {"management_type", "super_admin_portal_access"},
                             request->request_id());
          // Jointly managed now: the customer creates its own Knox account.
          outbox::Enqueue(conn, principal.msp_id, kAccountSetupTopic, id,
                          AccountSetupPayload(upgraded.name(), absl::StrCat(id, "-upgrade")));
          return upgraded;
        });
    WakeRelays(true);  // the change event and the account-set-up email
  });
}

grpc::Status CustomerServiceImpl::ListCustomerEvents(grpc::ServerContext* context,
                                                     const v1::ListCustomerEventsRequest* request,
                                                     v1::ListCustomerEventsResponse* response) {
  return runtime_->Handle(context, kListEvents, [&](const auth::Principal& principal) {
    const std::string id = RequireCustomerName("parent", request->parent(), principal).customer_id;
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

grpc::Status CustomerServiceImpl::CreateKnoxCustomer(grpc::ServerContext* context,
                                                     const v1::CreateKnoxCustomerRequest* request,
                                                     v1::Customer* response) {
  return runtime_->Handle(context, kCreateKnox, [&](const auth::Principal& principal) {
    idempotency::CheckRequestId(request->request_id());
    v1::Customer input = request->customer();
    Normalize(input);
    // The same field rules as any customer; no MSP, so no management type.
    input.set_management_type(v1::FULLY_MANAGED);
    ValidateNewCustomer(input, free_mail_);
    input.set_management_type(v1::MANAGEMENT_TYPE_UNSPECIFIED);
    const auto own_services = knox::ParseServiceList("services", request->services());
    NewCustomer created{"", std::move(input), principal.Actor(), request->request_id(),
                        request->request_id().empty() ? "" : idempotency::RequestHash(*request)};
    created.own_services = own_services;
    *response = creator_.CreateAndWait(std::move(created));
  });
}

grpc::Status CustomerServiceImpl::LookupKnoxCustomer(grpc::ServerContext* context,
                                                     const v1::LookupKnoxCustomerRequest* request,
                                                     v1::KnoxCustomer* response) {
  return runtime_->Handle(context, kLookupKnox, [&](const auth::Principal&) {
    if (!IsValidCustomerId(request->customer_id())) {
      throw ApiError::InvalidArgument({{"customer_id", "a customer id: 10 characters"}});
    }
    pg::Lease conn = pool_->Acquire();
    auto found = store_.FindById(*conn, request->customer_id(), false);
    if (!found) throw ApiError::NotFound("customer", CustomerName("", request->customer_id()));
    *response->mutable_customer() = std::move(found->customer);
    response->set_msp_id(found->msp_id);
    response->set_link_id(found->link_id);
    for (auto s : found->own_services) response->add_own_services(s);
  });
}

grpc::Status CustomerServiceImpl::TransitionCustomer(grpc::ServerContext* context,
                                                     const v1::TransitionCustomerRequest* request,
                                                     v1::Customer* response) {
  return runtime_->Handle(context, kTransition, [&](const auth::Principal& principal) {
    ValidateTransitionRequest(*request);
    RequireActingFor(principal, {request->msp_id(), request->customer_id()});
    *response = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto& conn = tx.conn();
      auto current = store_.FindById(conn, request->customer_id(), /*for_update=*/true);
      if (!current) {
        throw ApiError::NotFound("customer", CustomerName("", request->customer_id()));
      }
      const LinkPlan plan =
          PlanLinkTransition(LinkStateOf(*current), current->customer.name(), *request);
      if (request->transition() == v1::INVITE && !plan.already_done) {
        CheckInvitedManagement(current->customer, request->management_type(), free_mail_);
      }
      if (plan.already_done) return current->customer;
      auto updated =
          store_.ApplyLink(conn, request->customer_id(), plan.next, plan.set_msp_link_time);
      store_.AppendEvent(
          conn, request->msp_id(), request->customer_id(), plan.event_action, principal.Actor(), {},
          request->request_id().empty() ? request->link_id() : request->request_id());
      tx.Commit();
      return updated.customer;
    });
    WakeRelays(false);  // the change event
  });
}

grpc::Status CustomerServiceImpl::RecordCustomerEvent(grpc::ServerContext* context,
                                                      const v1::RecordCustomerEventRequest* request,
                                                      v1::CustomerEvent* response) {
  return runtime_->Handle(context, kRecordEvent, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("parent", request->parent(), principal);
    ValidateRecordedEvent(*request);
    // The event is the recording service's own record of what the person did: the person (and
    // the services their call passed through), without the recorder.
    const std::string actor =
        principal.on_behalf_of ? principal.on_behalf_of->Actor() : principal.Actor();
    pg::Lease conn = pool_->Acquire();
    if (!store_.RecordEvent(*conn, ref.msp_id, ref.customer_id, *request, actor)) {
      throw ApiError::NotFound("customer", request->parent());
    }
    response->set_action(request->action());
    response->set_actor(actor);
    *response->mutable_changed_fields() = request->changed_fields();
    *response->mutable_create_time() = request->event_time();
    response->set_request_id(request->request_id());
  });
}

void CustomerServiceImpl::WakeRelays(bool deliveries) const {
  if (wakers_.change_events) wakers_.change_events();
  if (deliveries && wakers_.deliveries) wakers_.deliveries();
}

}  // namespace msp::customer
