// A bare RPC on the same server bootstrap as the services (sync API, same thread pool, health,
// reflection, metrics) but no auth and no database: the benchmark's yardstick for what gRPC
// itself costs here.
#include "msp/bench/v1/echo.grpc.pb.h"
#include "msp/common/config.h"
#include "msp/common/log.h"
#include "msp/common/server.h"

namespace {

class EchoServiceImpl final : public msp::bench::v1::EchoService::Service {
  grpc::Status Echo(grpc::ServerContext*, const msp::bench::v1::EchoRequest* request,
                    msp::bench::v1::EchoResponse* response) override {
    response->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  msp::HostOptions options;
  try {
    options = msp::HostOptions{"echo", msp::CommonConfigFromFlags("echo").server};
  } catch (const std::exception& e) {
    msp::log::Error("bad configuration", {{"error", e.what()}});
    return 2;
  }
  msp::ServiceHost host(options);
  EchoServiceImpl service;
  host.AddService(&service);
  return host.Run();
}
