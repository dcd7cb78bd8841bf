#include "reporting_service.h"

#include "msp/common/consent.h"
#include "stalled_write_watchdog.h"

#include "absl/strings/str_cat.h"
#include "domain/table_columns.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"
#include "msp/common/resource_names.h"
#include "msp/common/tenancy.h"

namespace msp::reporting {
namespace {

// An export's outcome for msp_exports_total: ok; failed (ours: what an alert watches); client
// (the caller's request, rights or limits, or a caller that went away).
const char* ExportOutcome(grpc::StatusCode code) {
  if (code == grpc::StatusCode::OK) return "ok";
  return IsServerFault(code) ? "failed" : "client";
}

using auth::PrincipalKind;

constexpr char kService[] = "/msp.reporting.v1.ReportingService/";
const std::string kQuery = absl::StrCat(kService, "QueryCustomerTable");
const std::string kGetPrefs = absl::StrCat(kService, "GetTablePreferences");
const std::string kUpdatePrefs = absl::StrCat(kService, "UpdateTablePreferences");
const std::string kDetails = absl::StrCat(kService, "GetCustomerDetails");
const std::string kExport = absl::StrCat(kService, "ExportCustomersCsv");

// msps/{msp}/admins/{admin}/tablePreferences, the caller's own. Returns the admin id.
std::string RequireOwnPreferences(const std::string& field, const std::string& name,
                                  const auth::Principal& principal) {
  auto vars = ParseResourceName("msps/{msp}/admins/{admin}/tablePreferences", name);
  if (!vars) {
    throw ApiError::InvalidArgument(
        {{field, "must be msps/{msp}/admins/{admin}/tablePreferences"}});
  }
  // Another MSP's admins are not revealed; an admin of the same MSP sees only its own choice.
  if ((*vars)[0] != principal.msp_id || (*vars)[0] == kAnyMsp) {
    throw ApiError::NotFound("tablePreferences", name);
  }
  if ((*vars)[1] != principal.subject) {
    throw ApiError::PermissionDenied("OTHER_ADMINS_PREFERENCES",
                                     "an admin reads and sets only its own table preferences");
  }
  return (*vars)[1];
}

std::vector<v1::Column> ToColumns(const std::vector<int>& numbers) {
  std::vector<v1::Column> out;
  for (int n : numbers) {
    if (v1::Column_IsValid(n) && n != v1::COLUMN_UNSPECIFIED) out.push_back(v1::Column(n));
  }
  return out;
}

bool HasInvitationState(customer::v1::State state) {
  return state == customer::v1::PENDING || state == customer::v1::REJECTED ||
         state == customer::v1::CANCELED || state == customer::v1::EXPIRED;
}

}  // namespace

ReportingServiceImpl::ReportingServiceImpl(pg::Pool* pool, RpcRuntime* runtime,
                                           InvitationDirectory* invitations,
                                           ExportSettings export_settings, pg::Pool* lagging_reads)
    : pool_(pool),
      lagging_reads_(lagging_reads != nullptr ? lagging_reads : pool),
      runtime_(runtime),
      invitations_(invitations),
      export_(export_settings),
      exports_(export_settings.limits) {}

auth::MethodPolicy ReportingServiceImpl::Policy() {
  using auth::MspAdmin;
  auth::MethodPolicy policy;
  // The Customers screen is the MSP admin's: no other principal reads it.
  policy.Allow(kQuery, {MspAdmin()})
      .Allow(kGetPrefs, {MspAdmin()})
      .Allow(kUpdatePrefs, {MspAdmin()})
      .Allow(kDetails, {MspAdmin()})
      .Allow(kExport, {MspAdmin()});
  return policy;
}

grpc::Status ReportingServiceImpl::QueryCustomerTable(grpc::ServerContext* context,
                                                      const v1::QueryCustomerTableRequest* request,
                                                      v1::QueryCustomerTableResponse* response) {
  return runtime_->Handle(context, kQuery, [&](const auth::Principal& principal) {
    const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
    const std::vector<v1::Column> requested = ParseColumns("columns", request->columns());
    const TableQuery query = ParseTableQuery(*request, msp_id);
    pg::Lease conn = lagging_reads_->Acquire();
    std::optional<std::vector<v1::Column>> preference;
    if (requested.empty()) {
      // The preference from the primary, so that an admin reads back what they saved; the same
      // connection when the rows come from the primary too.
      std::optional<pg::Lease> primary;
      if (lagging_reads_ != pool_) primary.emplace(pool_->Acquire());
      if (auto stored =
              store_.FindPreference(primary ? **primary : *conn, msp_id, principal.subject)) {
        preference = ToColumns(*stored);
      }
    }
    const std::vector<v1::Column> columns = EffectiveColumns(requested, preference);
    const bool with_services =
        std::find(columns.begin(), columns.end(), v1::SERVICE_STATUS) != columns.end();
    TablePage page = store_.Query(*conn, msp_id, query, with_services);
    for (auto c : columns) response->add_columns(c);
    for (const auto& row : page.rows) *response->add_rows() = ProjectRow(row, columns);
    if (page.next_after) {
      response->set_next_page_token(
          EncodeTablePageToken(*request, msp_id, page.next_after->first, page.next_after->second));
    }
  });
}

grpc::Status ReportingServiceImpl::GetTablePreferences(
    grpc::ServerContext* context, const v1::GetTablePreferencesRequest* request,
    v1::TablePreferences* response) {
  return runtime_->Handle(context, kGetPrefs, [&](const auth::Principal& principal) {
    const std::string admin = RequireOwnPreferences("name", request->name(), principal);
    std::optional<std::vector<int>> stored;
    {
      pg::Lease conn = pool_->Acquire();
      stored = store_.FindPreference(*conn, principal.msp_id, admin);
    }
    response->set_name(request->name());
    const auto columns =
        EffectiveColumns({}, stored ? std::optional(ToColumns(*stored)) : std::nullopt);
    for (auto c : columns) response->add_columns(c);
  });
}

grpc::Status ReportingServiceImpl::UpdateTablePreferences(
    grpc::ServerContext* context, const v1::UpdateTablePreferencesRequest* request,
    v1::TablePreferences* response) {
  return runtime_->Handle(context, kUpdatePrefs, [&](const auth::Principal& principal) {
    const std::string admin =
        RequireOwnPreferences("preferences.name", request->preferences().name(), principal);
    // No columns: back to the defaults.
    const std::vector<v1::Column> columns =
        ParseColumns("preferences.columns", request->preferences().columns());
    {
      pg::Lease conn = pool_->Acquire();
      store_.SavePreference(*conn, principal.msp_id, admin,
                            std::vector<int>(columns.begin(), columns.end()));
    }
    response->set_name(request->preferences().name());
    for (auto c : EffectiveColumns({}, columns)) response->add_columns(c);
  });
}

grpc::Status ReportingServiceImpl::GetCustomerDetails(grpc::ServerContext* context,
                                                      const v1::GetCustomerDetailsRequest* request,
                                                      v1::CustomerDetails* response) {
  return runtime_->Handle(context, kDetails, [&](const auth::Principal& principal) {
    const CustomerRef ref = RequireCustomerName("name", request->name(), principal);
    std::optional<ReadModelRow> row;
    {
      pg::Lease conn = pool_->Acquire();
      row = store_.FindShown(*conn, ref.msp_id, ref.customer_id);
    }
    if (!row) throw ApiError::NotFound("customer", request->name());
    const TableFacts facts = DeriveFacts(*row);
    *response->mutable_customer() = row->account;
    RedactUnconsented(*response->mutable_customer());  // rows stored before the read model did
    response->mutable_customer()->clear_services();
    for (const auto& s : facts.services) {
      *response->mutable_customer()->add_services() = s;
      auto* managed = response->add_services();
      *managed->mutable_service() = s;
      if (s.state() == assignment::v1::AssignedService::ACTIVE) {
        managed->mutable_console_launch()->set_name(s.name());
      }
    }
    const std::string& name = row->account.link();
    if (HasInvitationState(row->account.state()) &&
        name.rfind(absl::StrCat("msps/", ref.msp_id, "/invitations/"), 0) == 0) {
      try {
        if (auto invitation = invitations_->Find(name)) {
          RedactUnconsented(*invitation);
          *response->mutable_invitation() = std::move(*invitation);
        }
      } catch (const std::exception& e) {
        // The details are worth having without it: say so rather than fail.
        log::Warn("invitation not read for customer details",
                  {{"invitation", name}, {"error", e.what()}});
        response->set_invitation_unavailable(true);
      }
    }
  });
}

grpc::Status ReportingServiceImpl::ExportCustomersCsv(grpc::ServerContext* context,
                                                      const v1::ExportCustomersCsvRequest* request,
                                                      grpc::ServerWriter<v1::CsvChunk>* writer) {
  const grpc::Status status =
      runtime_->Handle(context, kExport, [&](const auth::Principal& principal) {
        const std::string msp_id = RequireMspParent("parent", request->parent(), principal);
        const TableQuery query = ParseExportQuery(*request);
        const ExportAdmission::Ticket ticket = exports_.Admit(msp_id);
        StalledWriteWatchdog watchdog(context, export_.write_timeout);
        v1::CsvChunk chunk;
        std::string& buffer = *chunk.mutable_data();
        buffer.reserve(export_.chunk_bytes + 4096);
        auto flush = [&] {
          if (buffer.empty()) return;
          watchdog.WriteStarted();
          const bool written = writer->Write(chunk);
          watchdog.WriteFinished();
          if (!written) {
            if (watchdog.fired()) {
              throw ApiError(grpc::StatusCode::DEADLINE_EXCEEDED, "EXPORT_READER_STALLED",
                             "the caller took no data for too long: export cancelled");
            }
            throw ApiError::Aborted("CLIENT_GONE", "the caller stopped reading the export");
          }
          buffer.clear();
        };
        buffer = CsvHeader();
        pg::Lease conn = lagging_reads_->Acquire();
        // Every page from one snapshot: rows changing during the export neither vanish nor repeat.
        pg::Transaction tx(*conn, pg::Isolation::kSnapshotReadOnly);
        store_.ForEachCsvRow(
            *conn, msp_id, query, export_.page_rows, [&](const CsvCustomerRow& row) {
              AppendCsvLine(buffer, row);
              if (buffer.size() >= export_.chunk_bytes) {
                if (context->IsCancelled()) {
                  throw ApiError::Aborted("CLIENT_GONE", "the caller canceled the export");
                }
                flush();
              }
            });
        tx.Commit();
        flush();
      });
  if (runtime_->metrics() != nullptr) {
    runtime_->metrics()
        ->Counter(metric_names::kExports, "CSV exports, by outcome",
                  {{"outcome", ExportOutcome(status.error_code())}})
        .Increment();
  }
  return status;
}

}  // namespace msp::reporting
