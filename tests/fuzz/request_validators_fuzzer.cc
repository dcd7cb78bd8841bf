// The other services' request validators on whatever protobuf a client can send (the input's
// first byte picks the request, the rest is its wire form): invitations, device-count reports,
// link transitions, new customers. Each passes or refuses cleanly; what passes is consistent.
#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include "domain/customer_rules.h"
#include "domain/device_counts.h"
#include "domain/invitation_rules.h"
#include "domain/link_rules.h"
#include "fuzz_support.h"

namespace {
namespace av1 = msp::assignment::v1;
namespace cv1 = msp::customer::v1;
namespace ov1 = msp::onboarding::v1;
using msp::fuzz::Check;
using msp::fuzz::RefusesCleanly;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 16384) return 0;
  const uint8_t* body = data + 1;
  const int body_size = static_cast<int>(size - 1);
  switch (data[0] % 4) {
    case 0: {
      ov1::CreateInvitationRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;  // gRPC refuses it before us
      std::vector<msp::knox::KnoxService> services;
      if (!RefusesCleanly([&] { services = msp::onboarding::ValidateCreateInvitation(request); })) {
        Check(!services.empty(), "an invitation without services was accepted");
        Check(std::set(services.begin(), services.end()).size() == services.size(),
              "an invitation's services repeat");
      }
      break;
    }
    case 1: {
      av1::ReportDeviceCountsRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      const auto now = std::chrono::system_clock::time_point(std::chrono::hours(500000));
      if (!RefusesCleanly([&] { msp::assignment::ValidateDeviceCountReports(request, now); },
                          {"reports"})) {
        const auto latest = msp::assignment::LatestReportIndex(request);
        Check(static_cast<int>(latest.size()) == request.reports_size(),
              "one latest index per report");
        for (int i = 0; i < request.reports_size(); ++i) {
          Check(latest[i] >= 0 && latest[i] < request.reports_size(), "latest index in range");
          const auto& mine = request.reports(i);
          const auto& last = request.reports(latest[i]);
          Check(mine.customer_id() == last.customer_id() && mine.service() == last.service(),
                "the latest report is of the same customer and service");
        }
      }
      break;
    }
    case 2: {
      cv1::TransitionCustomerRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      RefusesCleanly([&] { msp::customer::ValidateTransitionRequest(request); });
      break;
    }
    case 3: {
      cv1::CreateCustomerRequest request;
      if (!request.ParseFromArray(body, body_size)) return 0;
      cv1::Customer customer = request.customer();
      msp::customer::Normalize(customer);
      static const msp::customer::FreeMailDomains free_mail;
      try {
        msp::customer::ValidateNewCustomer(customer, free_mail);
        Check(msp::customer::ValidateCustomerFields(customer, "customer.").empty(),
              "accepted a customer whose fields do not validate");
      } catch (const msp::ApiError& e) {
        Check(e.code() == grpc::StatusCode::INVALID_ARGUMENT ||
                  e.code() == grpc::StatusCode::FAILED_PRECONDITION,
              "unexpected code: " + e.message());
      }
      break;
    }
  }
  return 0;
}
