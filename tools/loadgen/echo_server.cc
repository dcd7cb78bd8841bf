// A bare RPC on the same server bootstrap as the services (sync API, same thread pool, health,
// reflection, metrics) but no auth and no database: the benchmark's yardstick for what gRPC
// itself costs here. With --database_url it also serves a pgbench point read two ways (see
// echo.proto), to compare server designs for database-bound calls.
#include <memory>

#include "absl/flags/flag.h"
#include "msp/bench/v1/echo.grpc.pb.h"
#include "msp/common/config.h"
#include "msp/common/log.h"
#include "msp/common/pg.h"
#include "msp/common/pg_pipeline.h"
#include "msp/common/server.h"

ABSL_FLAG(int, reader_threads, 2, "database threads of the pipelined ReadAccount");

namespace {

namespace bench = msp::bench::v1;

class EchoServiceImpl final : public bench::EchoService::Service {
 public:
  explicit EchoServiceImpl(msp::pg::Pool* pool) : pool_(pool) {}

  grpc::Status Echo(grpc::ServerContext*, const bench::EchoRequest* request,
                    bench::EchoResponse* response) override {
    response->set_payload(request->payload());
    return grpc::Status::OK;
  }

  // The services' design today: the handler's thread waits on the query.
  grpc::Status ReadAccount(grpc::ServerContext*, const bench::ReadAccountRequest* request,
                           bench::ReadAccountResponse* response) override {
    if (pool_ == nullptr) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no database");
    try {
      auto conn = pool_->Acquire();
      auto r = conn->Exec("SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                          {std::to_string(request->aid())});
      if (r.empty()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such account");
      response->set_abalance(r.Int64(0, 0));
      return grpc::Status::OK;
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.what());
    }
  }

 private:
  msp::pg::Pool* pool_;
};

// The alternative: a callback handler that never blocks; the answer comes from a database
// thread that pipelines the queries of many calls per round trip.
class DbEchoServiceImpl final : public bench::DbEchoService::CallbackService {
 public:
  explicit DbEchoServiceImpl(msp::pg::StatementPipeline* reader) : reader_(reader) {}

  grpc::ServerUnaryReactor* ReadAccount(grpc::CallbackServerContext* context,
                                        const bench::ReadAccountRequest* request,
                                        bench::ReadAccountResponse* response) override {
    auto* reactor = context->DefaultReactor();
    reader_->Submit("SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                    {std::to_string(request->aid())},
                    [reactor, response](msp::pg::Outcome outcome) {
                      const auto* result = std::get_if<msp::pg::Result>(&outcome);
                      if (result == nullptr || result->empty()) {
                        reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "read failed"));
                        return;
                      }
                      response->set_abalance(result->Int64(0, 0));
                      reactor->Finish(grpc::Status::OK);
                    });
    return reactor;
  }

 private:
  msp::pg::StatementPipeline* reader_;
};

}  // namespace

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  msp::CommonConfig config;
  try {
    config = msp::CommonConfigFromFlags("echo");
  } catch (const std::exception& e) {
    msp::log::Error("bad configuration", {{"error", e.what()}});
    return 2;
  }
  std::unique_ptr<msp::pg::Pool> pool;
  std::unique_ptr<msp::pg::StatementPipeline> reader;
  if (!config.database_url.empty()) {
    pool = std::make_unique<msp::pg::Pool>(
        msp::pg::PoolOptions{config.database_url, config.db_pool_size});
    reader = std::make_unique<msp::pg::StatementPipeline>(msp::pg::StatementPipeline::Options{
        config.database_url, absl::GetFlag(FLAGS_reader_threads)});
  }
  msp::ServiceHost host(msp::HostOptions{"echo", config.server});
  EchoServiceImpl echo(pool.get());
  host.AddService(&echo);
  std::unique_ptr<DbEchoServiceImpl> db_echo;
  if (reader) {
    db_echo = std::make_unique<DbEchoServiceImpl>(reader.get());
    host.AddService(db_echo.get());
  }
  return host.Run();
}
