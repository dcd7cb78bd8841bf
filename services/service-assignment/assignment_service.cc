#include "assignment_service.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "domain/device_counts.h"
#include "msp/common/assignment_client.h"
#include "msp/common/idempotency.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/common/log.h"
#include "msp/common/resource_names.h"
#include "msp/common/strings.h"
#include "msp/common/tenancy.h"
#include "msp/common/trace.h"

namespace msp::assignment {
namespace {

using auth::PrincipalKind;

constexpr char kService[] = "/msp.assignment.v1.ServiceAssignmentService/";
const std::string kAssign = absl::StrCat(kService, "AssignServices");
const std::string kBatchAssign = absl::StrCat(kService, "BatchAssignServices");
const std::string kList = absl::StrCat(kService, "ListCustomerServices");
const std::string kBatchGet = absl::StrCat(kService, "BatchGetCustomerServices");
const std::string kReport = absl::StrCat(kService, "ReportDeviceCounts");
const std::string kCheckTenant = absl::StrCat(kService, "CheckKnoxManageTenantId");
const std::string kBatchCheckTenants = absl::StrCat(kService, "BatchCheckKnoxManageTenantIds");
const std::string kLaunch = absl::StrCat(kService, "LaunchServiceConsole");
const std::string kEnd = absl::StrCat(kService, "EndCustomerServices");

constexpr int kMaxBatchCustomers = 500;
constexpr int kMaxBatchTenantIds = 10000;

void CheckTenantPrefix(const std::string& field, const std::string& prefix) {
  if (auto problem = knox::TenantPrefixProblem(prefix)) {
    throw ApiError::InvalidArgument({{field, *problem}});
  }
}

// Services can be added while the MSP manages the customer, and not while a delink is asked.
void CheckAssignable(const v1::AssignableCustomer& customer, const std::string& name) {
  if (customer.state() == v1::AssignableCustomer::DELINK_REQUESTED) {
    throw ApiError::FailedPrecondition(
        "CUSTOMER_DELINK_REQUESTED", "no services can be added while a delink is requested", name);
  }
  if (customer.state() != v1::AssignableCustomer::ACTIVE) {
    throw ApiError::FailedPrecondition("CUSTOMER_NOT_ACTIVE",
                                       "services can be added to active customers only", name);
  }
}

// A batch item's outcome, in the trace of the work it continues. `customer`: its name.
void LogAssigned(const trace::Context& span, const std::string& customer,
                 const v1::AssignServicesResponse& answer, const std::optional<ApiError>& error) {
  trace::Scope scope(span);
  if (error) {
    log::TraceStep("services not assigned", {{"customer", customer}, {"reason", error->reason()}});
    return;
  }
  nlohmann::json added = nlohmann::json::array();
  for (int service : answer.added_services()) {
    added.push_back(v1::KnoxService_Name(static_cast<v1::KnoxService>(service)));
  }
  log::TraceStep("services assigned", {{"customer", customer}, {"added", std::move(added)}});
}

}  // namespace

ServiceAssignmentImpl::ServiceAssignmentImpl(pg::Pool* pool, RpcRuntime* runtime,
                                             CustomerDirectory* customers,
                                             ConsoleLaunchSettings console, outbox::Relay* relay)
    : pool_(pool),
      runtime_(runtime),
      customers_(customers),
      console_(std::move(console)),
      relay_(relay) {}

void ServiceAssignmentImpl::ChangeCommitted() {
  if (relay_) relay_->Wake();
}

auth::MethodPolicy ServiceAssignmentImpl::Policy() {
  using auth::MspAdmin, auth::Service, auth::TenantScope;
  using K = PrincipalKind;
  auth::MethodPolicy policy;
  // The customer service assigns a new customer's services for the admin who created it;
  // onboarding assigns an accepted invitation's for the customer's admin who accepted.
  policy
      .Allow(kAssign, {MspAdmin(), Service(identity::kCustomer).ActingFor({K::kMspAdmin}),
                       Service(identity::kOnboardingInvitation).ActingFor({K::kCustomerAdmin})})
      // Only the customers' system of record sends customers as they are.
      .Allow(kBatchAssign, {Service(identity::kCustomer).ActingFor({K::kMspAdmin})})
      .Allow(kList, {MspAdmin()})
      // The customer service reads services for FULL views; the rebuild for every MSP.
      .Allow(kBatchGet, {MspAdmin(), Service(identity::kCustomer),
                         Service(identity::kReportingRebuild, TenantScope::kAll)})
      .Allow(kCheckTenant, {MspAdmin(), Service(identity::kOnboardingInvitation)})
      // A bulk import's dry run, for the MSP whose file it is.
      .Allow(kBatchCheckTenants, {Service(identity::kCustomer)})
      .Allow(kLaunch, {MspAdmin()})
      // Onboarding ends a delinked customer's services for the customer's admin who accepted.
      .Allow(kEnd, {Service(identity::kOnboardingInvitation).ActingFor({K::kCustomerAdmin})});
  // Each Knox backend reports its own service's counts (the handler checks the service).
  std::vector<auth::Grant> backends;
  for (auto service : knox::AllServices()) {
    backends.push_back(Service(identity::KnoxBackend(service)));
  }
  policy.Allow(kReport, std::move(backends));
  return policy;
}

ServiceAssignmentImpl::Assignment ServiceAssignmentImpl::CheckAssignment(
    const std::string& field, const v1::AssignServicesRequest& request,
    const auth::Principal& principal) const {
  Assignment assignment;
  assignment.ref = RequireCustomerName(field + "parent", request.parent(), principal);
  idempotency::CheckRequestId(request.request_id(), field + "request_id");
  assignment.services = knox::ParseServiceList(field + "services", request.services());
  if (assignment.services.empty()) {
    throw ApiError::InvalidArgument({{field + "services", "at least one service"}});
  }
  assignment.with_manage = std::find(assignment.services.begin(), assignment.services.end(),
                                     assignment::v1::KNOX_MANAGE) != assignment.services.end();
  if (!request.knox_manage_tenant_prefix().empty() && !assignment.with_manage) {
    throw ApiError::InvalidArgument(
        {{field + "knox_manage_tenant_prefix", "only when KNOX_MANAGE is among the services"}});
  }
  CheckTenantPrefix(field + "knox_manage_tenant_prefix", request.knox_manage_tenant_prefix());
  assignment.hash = request.request_id().empty() ? "" : idempotency::RequestHash(request);
  // The relays' ids ("create-<customer>") are theirs alone, whatever an MSP sends.
  assignment.request_key =
      idempotency::KeyOf(principal.kind == auth::PrincipalKind::kService, request.request_id());
  return assignment;
}

v1::AssignServicesResponse ServiceAssignmentImpl::Assign(pg::Connection& conn,
                                                         const Assignment& assignment,
                                                         const v1::AssignServicesRequest& request,
                                                         const v1::AssignableCustomer& customer,
                                                         const std::string& event_actor) const {
  const CustomerRef& ref = assignment.ref;
  v1::AssignServicesResponse answer;
  if (!assignment.request_key.empty()) {
    if (auto prior = idempotency::Claim(conn, ref.msp_id, assignment.request_key, "AssignServices",
                                        assignment.hash)) {
      answer.ParseFromString(*prior);
      return answer;
    }
  }
  const auto existing_tenant = assignment.with_manage ? store_.TenantOf(conn, ref.customer_id)
                                                      : std::optional<std::string>();
  const std::string domain = knox::EmailDomain(customer.work_email());
  const std::string tenant_id = knox::TenantId(request.knox_manage_tenant_prefix(), domain);
  if (existing_tenant) {
    knox::CheckTenantKept(*existing_tenant, request.knox_manage_tenant_prefix(), tenant_id,
                          request.parent());
  } else if (assignment.with_manage) {
    if (!store_.CreateTenant(conn, tenant_id, ref.customer_id, ref.msp_id)) {
      throw store_.TenantTaken(conn, request.knox_manage_tenant_prefix(), domain,
                               customer.company_name());
    }
  }
  const auto added = store_.Assign(conn, ref.msp_id, ref.customer_id, assignment.services);
  for (auto service : added) answer.add_added_services(service);
  if (!added.empty() && !event_actor.empty()) {
    store_.QueueCustomerEvent(conn, ref.msp_id, ref.customer_id, "SERVICES_ADDED", event_actor,
                              added, request.request_id());
  }
  for (auto& s : store_.List(conn, ref.msp_id, ref.customer_id)) {
    *answer.add_services() = std::move(s);
  }
  if (!assignment.request_key.empty()) {
    idempotency::SaveResponse(conn, ref.msp_id, assignment.request_key, answer.SerializeAsString());
  }
  return answer;
}

grpc::Status ServiceAssignmentImpl::AssignServices(grpc::ServerContext* context,
                                                   const v1::AssignServicesRequest* request,
                                                   v1::AssignServicesResponse* response) {
  return runtime_->Handle(context, kAssign, [&](const auth::Principal& principal) {
    const Assignment assignment = CheckAssignment("", *request, principal);
    const auto customer = customers_->Find(assignment.ref);
    if (!customer) throw ApiError::NotFound("customer", request->parent());
    const v1::AssignableCustomer assignable = AssignableCustomerOf(*customer);
    CheckAssignable(assignable, customer->name());
    *response = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto answer = Assign(tx.conn(), assignment, *request, assignable, principal.Actor());
      tx.Commit();
      return answer;
    });
    ChangeCommitted();
    log::Debug("services assigned", {{"customer", request->parent()},
                                     {"added", std::to_string(response->added_services_size())},
                                     {"actor", principal.Actor()}});
  });
}

grpc::Status ServiceAssignmentImpl::BatchAssignServices(
    grpc::ServerContext* context, const v1::BatchAssignServicesRequest* request,
    v1::BatchAssignServicesResponse* response) {
  return runtime_->Handle(context, kBatchAssign, [&](const auth::Principal& principal) {
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    if (request->requests_size() > kMaxBatchCustomers) {
      throw ApiError::InvalidArgument(
          {{"requests", absl::StrCat("at most ", kMaxBatchCustomers, " a call")}});
    }
    if (request->customers_size() != request->requests_size()) {
      throw ApiError::InvalidArgument({{"customers", "one per request, in their order"}});
    }
    // Each request's own errors are its result; the others go on.
    const int n = request->requests_size();
    std::vector<std::optional<Assignment>> assignments(static_cast<size_t>(n));
    std::vector<std::optional<ApiError>> errors(static_cast<size_t>(n));
    std::set<std::string> customers;
    for (int i = 0; i < n; ++i) {
      const auto& one = request->requests(i);
      const std::string field = absl::StrCat("requests[", i, "].");
      try {
        Assignment assignment = CheckAssignment(field, one, principal);
        if (assignment.ref.msp_id != msp_id) {
          throw ApiError::InvalidArgument(
              {{field + "parent", "a customer of " + request->parent()}});
        }
        if (one.request_id().empty()) {
          throw ApiError::InvalidArgument({{field + "request_id", "required in a batch"}});
        }
        if (!customers.insert(assignment.ref.customer_id).second) {
          throw ApiError::InvalidArgument({{field + "parent", "a customer once per batch"}});
        }
        CheckAssignable(request->customers(i), one.parent());
        assignments[static_cast<size_t>(i)] = std::move(assignment);
      } catch (const ApiError& e) {
        errors[static_cast<size_t>(i)] = e;
      }
    }
    // Each request continues the trace it names (the create that asked for the services).
    std::vector<trace::Context> spans;
    for (int i = 0; i < n; ++i) {
      const std::string& traceparent =
          i < request->traceparents_size() ? request->traceparents(i) : std::string();
      const trace::Context* call = trace::Current();
      spans.push_back(!traceparent.empty() ? trace::FromHeader(traceparent)
                      : call != nullptr    ? trace::ChildOf(*call)
                                           : trace::NewTrace());
    }
    std::vector<AssignmentStore::BatchAssignment> batch;
    std::vector<int> batched;  // request index of each batch item
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i);
      if (!assignments[k]) continue;
      const auto& one = request->requests(i);
      batch.push_back({assignments[k]->ref.customer_id, assignments[k]->services,
                       one.knox_manage_tenant_prefix(), request->customers(i).work_email(),
                       request->customers(i).company_name(), assignments[k]->request_key,
                       assignments[k]->hash, one.parent(), trace::Format(spans[k])});
      batched.push_back(i);
    }
    std::vector<v1::AssignServicesResponse> answers(static_cast<size_t>(n));
    if (!batch.empty()) {
      pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
        auto outcomes = store_.AssignBatch(tx.conn(), msp_id, batch);
        tx.Commit();
        for (size_t b = 0; b < outcomes.size(); ++b) {
          const auto k = static_cast<size_t>(batched[b]);
          if (outcomes[b].error) {
            errors[k] = std::move(outcomes[b].error);
          } else {
            answers[k] = std::move(outcomes[b].response);
          }
        }
        return 0;
      });
    }
    ChangeCommitted();
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<size_t>(i);
      LogAssigned(spans[k], request->requests(i).parent(), answers[k], errors[k]);
      auto* result = response->add_results();
      if (errors[k]) {
        const grpc::Status status = errors[k]->ToStatus(runtime_->domain());
        if (!result->mutable_error()->ParseFromString(status.error_details())) {
          result->mutable_error()->set_code(status.error_code());
          result->mutable_error()->set_message(status.error_message());
        }
      } else {
        *result->mutable_response() = std::move(answers[k]);
      }
    }
  });
}

grpc::Status ServiceAssignmentImpl::ListCustomerServices(
    grpc::ServerContext* context, const v1::ListCustomerServicesRequest* request,
    v1::ListCustomerServicesResponse* response) {
  return runtime_->Handle(context, kList, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("parent", request->parent(), principal);
    std::vector<v1::AssignedService> services;
    {
      pg::Lease conn = pool_->Acquire();
      services = store_.List(*conn, ref.msp_id, ref.customer_id);
    }
    // No services: say NOT_FOUND unless the customer is this MSP's.
    if (services.empty() && !customers_->Find(ref)) {
      throw ApiError::NotFound("customer", request->parent());
    }
    for (auto& s : services) *response->add_services() = std::move(s);
  });
}

grpc::Status ServiceAssignmentImpl::BatchGetCustomerServices(
    grpc::ServerContext* context, const v1::BatchGetCustomerServicesRequest* request,
    v1::BatchGetCustomerServicesResponse* response) {
  return runtime_->Handle(context, kBatchGet, [&](const auth::Principal& principal) {
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    if (request->customers_size() > kMaxBatchCustomers) {
      throw ApiError::InvalidArgument(
          {{"customers", absl::StrCat("at most ", kMaxBatchCustomers, " a call")}});
    }
    std::vector<std::string> ids;
    std::vector<FieldViolation> violations;
    for (int i = 0; i < request->customers_size(); ++i) {
      auto vars = ParseResourceName("msps/{msp}/customers/{customer}", request->customers(i));
      if (!vars || (*vars)[0] != msp_id || !IsValidCustomerId((*vars)[1])) {
        violations.push_back(
            {absl::StrCat("customers[", i, "]"),
             "must be a customer of the parent: " + request->parent() + "/customers/{customer}"});
        continue;
      }
      ids.push_back((*vars)[1]);
    }
    if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
    pg::Lease conn = pool_->Acquire();
    auto found = store_.ListMany(*conn, msp_id, ids);
    for (int i = 0; i < request->customers_size(); ++i) {
      auto* entry = response->add_customers();
      entry->set_customer(request->customers(i));
      if (auto it = found.find(ids[static_cast<size_t>(i)]); it != found.end()) {
        entry->set_version(it->second.version);
        for (const auto& s : it->second.services) *entry->add_services() = s;
      }
    }
  });
}

grpc::Status ServiceAssignmentImpl::ReportDeviceCounts(grpc::ServerContext* context,
                                                       const v1::ReportDeviceCountsRequest* request,
                                                       v1::ReportDeviceCountsResponse* response) {
  return runtime_->Handle(context, kReport, [&](const auth::Principal& principal) {
    ValidateDeviceCountReports(*request, std::chrono::system_clock::now());
    // The policy admits Knox backends only.
    CheckReportsAreFor(*request, *identity::KnoxBackendService(principal.subject));
    const auto latest = LatestReportIndex(*request);
    std::vector<bool> apply(latest.size());
    for (size_t i = 0; i < latest.size(); ++i) apply[i] = latest[i] == static_cast<int>(i);
    pg::Lease conn = pool_->Acquire();
    // One statement, safe to resend: a replayed report is stale the second time.
    for (auto result : store_.ApplyDeviceCounts(*conn, *request, apply)) {
      response->add_results(result);
    }
    ChangeCommitted();
  });
}

grpc::Status ServiceAssignmentImpl::CheckKnoxManageTenantId(
    grpc::ServerContext* context, const v1::CheckKnoxManageTenantIdRequest* request,
    v1::CheckKnoxManageTenantIdResponse* response) {
  return runtime_->Handle(context, kCheckTenant, [&](const auth::Principal& principal) {
    RequireMspParent("parent", request->parent(), principal);
    const std::string domain = knox::EmailDomain(request->work_email());
    if (domain.empty() || domain.find('.') == std::string::npos || domain.size() > 253) {
      throw ApiError::InvalidArgument(
          {{"work_email", "the contact's work email: the tenant id's domain comes from it"}});
    }
    CheckTenantPrefix("prefix", request->prefix());
    std::optional<CustomerRef> customer;
    if (!request->customer().empty()) {
      customer = RequireCustomerName("customer", request->customer(), principal);
    }
    const std::string tenant_id = knox::TenantId(request->prefix(), domain);
    pg::Lease conn = pool_->Acquire();
    response->set_tenant_id(tenant_id);
    const auto existing =
        customer ? store_.TenantOf(*conn, customer->customer_id) : std::optional<std::string>();
    if (existing) {
      // The customer's own tenant: the one it keeps, whatever the email's domain says now.
      response->set_existing_tenant_id(*existing);
      response->set_available(request->prefix().empty() || *existing == tenant_id);
      return;
    }
    response->set_available(store_.TakenTenantIds(*conn, {tenant_id}).empty());
    if (!response->available()) {
      for (auto& s : store_.SuggestTenantIds(*conn, request->prefix(), domain, "")) {
        response->add_suggestions(std::move(s));
      }
    }
  });
}

grpc::Status ServiceAssignmentImpl::BatchCheckKnoxManageTenantIds(
    grpc::ServerContext* context, const v1::BatchCheckKnoxManageTenantIdsRequest* request,
    v1::BatchCheckKnoxManageTenantIdsResponse* response) {
  return runtime_->Handle(context, kBatchCheckTenants, [&](const auth::Principal& principal) {
    RequireMspParent("parent", request->parent(), principal);
    if (request->tenant_ids_size() > kMaxBatchTenantIds) {
      throw ApiError::InvalidArgument(
          {{"tenant_ids", absl::StrCat("at most ", kMaxBatchTenantIds, " a call")}});
    }
    const std::vector<std::string> ids(request->tenant_ids().begin(), request->tenant_ids().end());
    pg::Lease conn = pool_->Acquire();
    const auto taken = store_.TakenTenantIds(*conn, ids);
    for (const auto& id : ids) {
      if (taken.contains(id)) response->add_taken_tenant_ids(id);
    }
  });
}

grpc::Status ServiceAssignmentImpl::LaunchServiceConsole(
    grpc::ServerContext* context, const v1::LaunchServiceConsoleRequest* request,
    v1::LaunchServiceConsoleResponse* response) {
  return runtime_->Handle(context, kLaunch, [&](const auth::Principal& principal) {
    auto vars =
        ParseResourceName("msps/{msp}/customers/{customer}/services/{service}", request->name());
    const auto service = vars ? knox::ServiceFromId((*vars)[2]) : std::nullopt;
    if (!vars || !service) {
      throw ApiError::InvalidArgument(
          {{"name",
            "must be msps/{msp}/customers/{customer}/services/{service}, service one of "
            "knox-mobile-enrollment, knox-manage, knox-efota, knox-asset-intelligence, "
            "knox-configure, knox-guard, samsung-care-plus-for-business"}});
    }
    const CustomerRef ref =
        RequireCustomerName("name", CustomerName((*vars)[0], (*vars)[1]), principal);
    console_.return_uris.Check(request->return_uri());
    std::vector<v1::AssignedService> services;
    {
      pg::Lease conn = pool_->Acquire();
      services = store_.List(*conn, ref.msp_id, ref.customer_id);
    }
    auto it = std::find_if(services.begin(), services.end(),
                           [&](const auto& s) { return s.service() == *service; });
    if (it == services.end()) throw ApiError::NotFound("service", request->name());
    // The customer's link decides too: a DELINKED customer's services may not have ended yet.
    const auto customer = customers_->Find(ref);
    if (!customer) throw ApiError::NotFound("service", request->name());
    CheckConsoleOpens(customer->state(), it->state(), request->name());
    auth::TokenClaims claims;
    claims.kind = auth::PrincipalKind::kMspAdmin;
    claims.subject = principal.subject;
    claims.msp_id = ref.msp_id;
    claims.ttl = console_.token_ttl;
    claims.extra = {{"customer_id", ref.customer_id},
                    {"service", std::string(knox::ServiceId(*service))},
                    {"return_uri", request->return_uri()}};
    if (!it->knox_manage_tenant_id().empty()) {
      claims.extra["knox_manage_tenant_id"] = it->knox_manage_tenant_id();
    }
    const std::string token = console_.issuer.Mint(claims);
    response->set_console_uri(console_.consoles.ConsoleUri(*service));
    response->set_launch_token(token);
    response->set_launch_uri(ConsoleDirectory::LaunchUri(response->console_uri(), token));
    response->set_return_uri(request->return_uri());
    const auto expire = std::chrono::system_clock::now() + console_.token_ttl;
    response->mutable_expire_time()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(expire.time_since_epoch()).count());
  });
}

grpc::Status ServiceAssignmentImpl::EndCustomerServices(
    grpc::ServerContext* context, const v1::EndCustomerServicesRequest* request,
    v1::EndCustomerServicesResponse* response) {
  return runtime_->Handle(context, kEnd, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("parent", request->parent(), principal);
    if (request->reason().size() > 200) {
      throw ApiError::InvalidArgument({{"reason", "at most 200 characters"}});
    }
    const std::string reason = request->reason().empty() ? "DELINKED" : request->reason();
    auto services = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      std::vector<knox::KnoxService> ended;
      auto after = store_.EndAll(tx.conn(), ref.msp_id, ref.customer_id, reason, &ended);
      if (!ended.empty()) {
        store_.QueueCustomerEvent(tx.conn(), ref.msp_id, ref.customer_id, "SERVICES_ENDED",
                                  principal.Actor(), ended, "");
      }
      tx.Commit();
      return after;
    });
    for (auto& s : services) *response->add_services() = std::move(s);
    ChangeCommitted();
  });
}

}  // namespace msp::assignment
