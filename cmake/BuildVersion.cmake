# Writes OUT (a .cc defining msp::BuildVersion() and msp::BuildRevision()) from `git describe`
# in SOURCE_DIR, at build time, and rewrites it only when the text changes (so that a commit
# relinks what prints the version and nothing is recompiled otherwise). MSP_VERSION, when set,
# is the version (a build from a tree without .git, such as an image's context).
if(DEFINED MSP_VERSION AND NOT MSP_VERSION STREQUAL "")
  set(version "${MSP_VERSION}")
  set(revision "${MSP_VERSION}")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" describe --always --dirty --tags
                  OUTPUT_VARIABLE version OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE describe_failed ERROR_QUIET)
  execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse HEAD
                  OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rev_failed ERROR_QUIET)
  if(describe_failed OR version STREQUAL "")
    set(version "unknown")
  endif()
  if(rev_failed OR revision STREQUAL "")
    set(revision "unknown")
  endif()
endif()
set(text "// Written by cmake/BuildVersion.cmake at build time.
namespace msp {
const char* BuildVersion() { return \"${version}\"; }
const char* BuildRevision() { return \"${revision}\"; }
}  // namespace msp
")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
