#include "assignment_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/device_counts.h"
#include "msp/common/idempotency.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/common/resource_names.h"
#include "msp/common/strings.h"
#include "msp/common/tenancy.h"

namespace msp::assignment {
namespace {

using auth::PrincipalKind;

constexpr char kService[] = "/msp.assignment.v1.ServiceAssignmentService/";
const std::string kAssign = absl::StrCat(kService, "AssignServices");
const std::string kList = absl::StrCat(kService, "ListCustomerServices");
const std::string kBatchGet = absl::StrCat(kService, "BatchGetCustomerServices");
const std::string kReport = absl::StrCat(kService, "ReportDeviceCounts");
const std::string kCheckTenant = absl::StrCat(kService, "CheckKnoxManageTenantId");
const std::string kLaunch = absl::StrCat(kService, "LaunchServiceConsole");
const std::string kEnd = absl::StrCat(kService, "EndCustomerServices");

constexpr int kMaxBatchCustomers = 500;

void CheckTenantPrefix(const std::string& field, const std::string& prefix) {
  if (auto problem = knox::TenantPrefixProblem(prefix)) {
    throw ApiError::InvalidArgument({{field, *problem}});
  }
}

// Services can be added while the MSP manages the customer, and not while a delink is asked.
void CheckAssignable(const customer::v1::Customer& customer) {
  if (customer.state() == customer::v1::DELINK_REQUESTED) {
    throw ApiError::FailedPrecondition("CUSTOMER_DELINK_REQUESTED",
                                       "no services can be added while a delink is requested",
                                       customer.name());
  }
  if (customer.state() != customer::v1::ACTIVE) {
    throw ApiError::FailedPrecondition(
        "CUSTOMER_NOT_ACTIVE", "services can be added to active customers only", customer.name());
  }
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
      .Allow(kList, {MspAdmin()})
      // The customer service reads services for FULL views; the rebuild for every MSP.
      .Allow(kBatchGet, {MspAdmin(), Service(identity::kCustomer),
                         Service(identity::kReportingRebuild, TenantScope::kAll)})
      .Allow(kCheckTenant, {MspAdmin(), Service(identity::kOnboardingInvitation)})
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

std::vector<std::string> ServiceAssignmentImpl::SuggestTenantIds(
    pg::Connection& conn, const std::string& prefix, const std::string& domain,
    const std::string& company_name) const {
  const auto candidates = knox::TenantIdCandidates(prefix, domain, company_name);
  const auto taken = store_.TakenTenantIds(conn, candidates);
  std::vector<std::string> free;
  for (const auto& id : candidates) {
    if (!taken.contains(id) && free.size() < 3) free.push_back(id);
  }
  return free;
}

grpc::Status ServiceAssignmentImpl::AssignServices(grpc::ServerContext* context,
                                                   const v1::AssignServicesRequest* request,
                                                   v1::AssignServicesResponse* response) {
  return runtime_->Handle(context, kAssign, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("parent", request->parent(), principal);
    idempotency::CheckRequestId(request->request_id());
    const auto services = knox::ParseServiceList("services", request->services());
    if (services.empty()) throw ApiError::InvalidArgument({{"services", "at least one service"}});
    const bool with_manage =
        std::find(services.begin(), services.end(), assignment::v1::KNOX_MANAGE) != services.end();
    if (!request->knox_manage_tenant_prefix().empty() && !with_manage) {
      throw ApiError::InvalidArgument(
          {{"knox_manage_tenant_prefix", "only when KNOX_MANAGE is among the services"}});
    }
    CheckTenantPrefix("knox_manage_tenant_prefix", request->knox_manage_tenant_prefix());

    const auto customer = customers_->Find(ref);
    if (!customer) throw ApiError::NotFound("customer", request->parent());
    CheckAssignable(*customer);

    const std::string hash =
        request->request_id().empty() ? "" : idempotency::RequestHash(*request);
    // The relays' ids ("create-<customer>") are theirs alone, whatever an MSP sends.
    const std::string request_id =
        idempotency::KeyOf(principal.kind == auth::PrincipalKind::kService, request->request_id());
    *response = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto& conn = tx.conn();
      v1::AssignServicesResponse answer;
      if (!request_id.empty()) {
        if (auto prior = idempotency::Claim(conn, ref.msp_id, request_id, "AssignServices", hash)) {
          answer.ParseFromString(*prior);
          return answer;
        }
      }
      const auto existing_tenant =
          with_manage ? store_.TenantOf(conn, ref.customer_id) : std::optional<std::string>();
      const std::string domain = knox::EmailDomain(customer->contact().work_email());
      const std::string tenant_id = knox::TenantId(request->knox_manage_tenant_prefix(), domain);
      if (existing_tenant) {
        knox::CheckTenantKept(*existing_tenant, request->knox_manage_tenant_prefix(), tenant_id,
                              request->parent());
      } else if (with_manage) {
        if (!store_.CreateTenant(conn, tenant_id, ref.customer_id, ref.msp_id)) {
          const auto suggestions = SuggestTenantIds(conn, request->knox_manage_tenant_prefix(),
                                                    domain, customer->company().display_name());
          throw ApiError(
              grpc::StatusCode::ALREADY_EXISTS, "KNOX_MANAGE_TENANT_ID_TAKEN",
              absl::StrCat("the Knox Manage tenant id ", tenant_id, " is taken: choose a prefix"))
              .WithMetadata("tenant_id", tenant_id)
              .WithMetadata("suggestions", absl::StrJoin(suggestions, ","));
        }
      }
      const auto added = store_.Assign(conn, ref.msp_id, ref.customer_id, services);
      for (auto service : added) answer.add_added_services(service);
      if (!added.empty()) {
        store_.QueueCustomerEvent(conn, ref.msp_id, ref.customer_id, "SERVICES_ADDED",
                                  principal.Actor(), added, request->request_id());
      }
      for (auto& s : store_.List(conn, ref.msp_id, ref.customer_id)) {
        *answer.add_services() = std::move(s);
      }
      if (!request_id.empty()) {
        idempotency::SaveResponse(conn, ref.msp_id, request_id, answer.SerializeAsString());
      }
      tx.Commit();
      return answer;
    });
    ChangeCommitted();
    log::Debug("services assigned", {{"customer", request->parent()},
                                     {"added", std::to_string(response->added_services_size())},
                                     {"actor", principal.Actor()}});
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
      for (auto& s : SuggestTenantIds(*conn, request->prefix(), domain, "")) {
        response->add_suggestions(std::move(s));
      }
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
    const CustomerRef ref = RequireCustomerName(
        "name", absl::StrCat("msps/", (*vars)[0], "/customers/", (*vars)[1]), principal);
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
