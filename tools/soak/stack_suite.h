#pragma once

#include <string>
#include <vector>

#include "stack.h"
#include "suite.h"

namespace msp::soak {

// A suite whose services the driver runs on loopback in a testing::Stack (LocalSuite, HaSuite):
// what the fault driver asks of it, answered by the stack.
class StackSuite : public Suite {
 public:
  std::string target(const std::string& service) const override { return stack().address(service); }
  const auth::TokenIssuer& issuer() const override { return stack().issuer(); }
  std::vector<std::string> Emails() const override { return stack().smtp().Messages(); }
  std::vector<std::string> LogLeaks() const override { return stack().LogLeaks(); }

 protected:
  virtual testing::Stack& stack() const = 0;
};

}  // namespace msp::soak
