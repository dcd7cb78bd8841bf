#pragma once

#include <string>

#include "msp/common/auth.h"

// Which MSP a call acts for. An MSP admin acts only for the MSP in its verified token: a name
// under another MSP answers NOT_FOUND, so nothing about that MSP is revealed. An internal
// service (a service token) acts for the MSP the resource name names, except when it relays a
// person's call: then only for that person's MSP, or that customer admin's own customer.
namespace msp {

// AIP-159's wildcard parent, `msps/-`: every MSP at once. Only a service whose grant for the
// method says TenantScope::kAll may use it.
inline constexpr char kAnyMsp[] = "-";

struct CustomerRef {
  std::string msp_id;
  std::string customer_id;
  std::string Name() const;  // msps/{msp}/customers/{customer}
};

// A customer id as people read and type it: 10 characters of lowercase Crockford base32.
bool IsValidCustomerId(std::string_view id);

// `msps/{msp}` the principal may act for. Throws INVALID_ARGUMENT naming `field`, NOT_FOUND.
std::string RequireMspParent(const std::string& field, const std::string& parent,
                             const auth::Principal& principal);
// `msps/{msp}/customers/{customer}` the principal may act for.
CustomerRef RequireCustomerName(const std::string& field, const std::string& name,
                                const auth::Principal& principal);
// The same check for a customer a request names by its fields. Throws NOT_FOUND.
void RequireActingFor(const auth::Principal& principal, const CustomerRef& customer);

}  // namespace msp
