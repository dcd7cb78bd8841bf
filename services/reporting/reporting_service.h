#pragma once

#include <chrono>

#include "domain/export_admission.h"
#include "invitation_directory.h"
#include "msp/common/pg.h"
#include "msp/common/rpc.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "store/read_model_store.h"

namespace msp::reporting {

struct ExportSettings {
  int page_rows = 5000;        // rows read per keyset page of the snapshot
  size_t chunk_bytes = 65536;  // CSV bytes per streamed message
  ExportLimits limits;         // exports at once per replica and per MSP (each holds a connection)
  // A client that has not taken a chunk for this long is cut off.
  std::chrono::milliseconds write_timeout{30000};
};

// The gRPC face of the reporting service: the MSP's table, preferences, details and export,
// all from the read model. The tenant is the verified token's MSP, never a request field.
class ReportingServiceImpl final : public v1::ReportingService::Service {
 public:
  // `lagging_reads`, when given, serves the table's rows and the export: reads that may lag
  // the primary a moment (a standby's pool, --database_read_url). Preferences, details and
  // every write use `pool`, so an admin reads back what they saved.
  ReportingServiceImpl(pg::Pool* pool, RpcRuntime* runtime, InvitationDirectory* invitations,
                       ExportSettings export_settings = {}, pg::Pool* lagging_reads = nullptr);

  static auth::MethodPolicy Policy();

  grpc::Status QueryCustomerTable(grpc::ServerContext* context,
                                  const v1::QueryCustomerTableRequest* request,
                                  v1::QueryCustomerTableResponse* response) override;
  grpc::Status GetTablePreferences(grpc::ServerContext* context,
                                   const v1::GetTablePreferencesRequest* request,
                                   v1::TablePreferences* response) override;
  grpc::Status UpdateTablePreferences(grpc::ServerContext* context,
                                      const v1::UpdateTablePreferencesRequest* request,
                                      v1::TablePreferences* response) override;
  grpc::Status GetCustomerDetails(grpc::ServerContext* context,
                                  const v1::GetCustomerDetailsRequest* request,
                                  v1::CustomerDetails* response) override;
  grpc::Status ExportCustomersCsv(grpc::ServerContext* context,
                                  const v1::ExportCustomersCsvRequest* request,
                                  grpc::ServerWriter<v1::CsvChunk>* writer) override;

 private:
  pg::Pool* pool_;
  pg::Pool* lagging_reads_;
  RpcRuntime* runtime_;
  InvitationDirectory* invitations_;
  ExportSettings export_;
  ReadModelStore store_;
  ExportAdmission exports_;
};

}  // namespace msp::reporting
