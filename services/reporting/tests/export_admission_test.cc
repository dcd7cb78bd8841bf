// Which exports may run at once: per MSP and per replica.
#include "domain/export_admission.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::reporting {
namespace {

std::string Refusal(ExportAdmission& admission, const std::string& msp) {
  try {
    admission.Admit(msp);
    return "";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    return e.reason();
  }
}

TEST(ExportAdmission, OneMspCannotTakeEverySlot) {
  ExportAdmission admission(ExportLimits{3, 1});
  {
    const auto a = admission.Admit("a");
    EXPECT_EQ(Refusal(admission, "a"), "TOO_MANY_EXPORTS");  // its one is running
    {
      const auto b = admission.Admit("b");
      const auto c = admission.Admit("c");
      EXPECT_EQ(Refusal(admission, "d"), "TOO_MANY_EXPORTS");  // the replica's three are taken
    }
    const auto d = admission.Admit("d");  // b's and c's slots came back
  }
  EXPECT_EQ(Refusal(admission, "a"), "");  // a's came back too
}

}  // namespace
}  // namespace msp::reporting
