#pragma once

#include <string>
#include <vector>

#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/knox_services.h"

namespace msp::customer {

// The services a customer read shows: those the assignment service has, as it has them, and
// those asked for with the customer that it does not have yet: PROVISIONING, or
// PROVISIONING_FAILED with the reason when the assignment was refused for good.
std::vector<assignment::v1::AssignedService> ServicesView(
    const std::string& customer_name, const std::vector<knox::KnoxService>& requested,
    const std::string& services_error,
    const std::vector<assignment::v1::AssignedService>& assigned);

}  // namespace msp::customer
