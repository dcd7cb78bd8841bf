#include "suite.h"

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "stack.h"

namespace msp::soak {

std::string Suite::MspToken(const std::string& msp) const {
  return testing::MintMspToken(issuer(), msp);
}

std::string Suite::CustomerToken(const std::string& customer_id) const {
  return testing::MintCustomerToken(issuer(), customer_id);
}

std::string Suite::ServiceToken(const std::string& service) const {
  return testing::MintServiceToken(issuer(), service);
}

HealthWatcher::HealthWatcher(std::string address)
    : address_(std::move(address)), thread_([this] { Run(); }) {}

bool HealthWatcher::Stop() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
  return saw_not_serving_;
}

void HealthWatcher::Run() {
  while (!done_) {
    auto health = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    if (health->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING) {
      saw_not_serving_ = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

WriteGapProbe::WriteGapProbe(std::function<bool()> write)
    : write_(std::move(write)), thread_([this] { Run(); }) {}

std::chrono::milliseconds WriteGapProbe::Stop() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
  return longest_;
}

void WriteGapProbe::Run() {
  std::optional<Clock::time_point> last;
  while (!done_) {
    if (write_()) {
      const auto now = Clock::now();
      if (last) {
        longest_ =
            std::max(longest_, std::chrono::duration_cast<std::chrono::milliseconds>(now - *last));
      }
      last = now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace msp::soak
