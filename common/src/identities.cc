#include "msp/common/identities.h"

namespace msp::identity {

std::string_view KnoxBackend(knox::KnoxService service) { return knox::ServiceId(service); }

std::optional<knox::KnoxService> KnoxBackendService(std::string_view identity) {
  return knox::ServiceFromId(identity);
}

}  // namespace msp::identity
