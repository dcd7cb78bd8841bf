// Placeholder until its issue lands: serves health and reflection only, so the suite starts
// whole and operators see every service.
#include "msp/common/startup.h"

int main(int argc, char** argv) {
  return msp::RunPlaceholderService("service-assignment", argc, argv);
}
