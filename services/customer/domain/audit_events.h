#pragma once

#include <string>

#include "msp/customer/v1/customer.pb.h"

// A customer's audit trail: what other services may record in it.
namespace msp::customer {

// RecordCustomerEvent's fields. Throws INVALID_ARGUMENT naming them.
void ValidateRecordedEvent(const v1::RecordCustomerEventRequest& request);

}  // namespace msp::customer
