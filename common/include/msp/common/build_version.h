#pragma once

// What this binary was built from (cmake/BuildVersion.cmake): `git describe --always --dirty
// --tags` and the commit, or -DMSP_VERSION where the build had no .git ("unknown" otherwise).
namespace msp {

const char* BuildVersion();
const char* BuildRevision();

}  // namespace msp
