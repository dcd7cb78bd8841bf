#!/usr/bin/env bash
# The runtime image's package list covers every shared library the binaries link directly:
# each NEEDED entry of each binary the image ships belongs to a package the Dockerfile's
# runtime stage installs (or to libc6/libgcc-s1/libstdc++6, which every Debian image has), and
# no package is listed that no binary needs. No Docker engine is needed: the binaries are the
# build tree's, the packages this machine's.
#   deploy/tests/image_test.sh BUILD_DIR   (a Release tree: images ship no sanitizer builds)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:?usage: image_test.sh BUILD_DIR}"
DOCKERFILE="$ROOT/deploy/docker/Dockerfile"

# The runtime stage's packages: the package names after the last FROM (comments aside).
runtime=$(awk -v last="$(grep -c '^FROM' "$DOCKERFILE")" '/^FROM/ {stage++} stage == last && !/^#/' "$DOCKERFILE" | tr ' \\' '\n\n' |
  grep -E '^lib[a-z0-9.+-]+$|^ca-certificates$' | sort -u)
base="libc6 libgcc-s1 libstdc++6"
multiarch="$(gcc -print-multiarch)"

# The package that ships a library (dpkg knows a file under /lib or /usr/lib, whichever its
# package installed it as: Debian 12 merges the two).
package_of() {
  local lib="$1" f real candidate
  for f in "/usr/lib/$multiarch/$lib" "/lib/$multiarch/$lib"; do
    [ -e "$f" ] || continue
    real=$(readlink -f "$f")
    for candidate in "$real" "/lib${real#/usr/lib}" "/usr/lib${real#/lib}" "$f"; do
      if dpkg -S "$candidate" >/dev/null 2>&1; then
        dpkg -S "$candidate" | head -1 | cut -d: -f1
        return
      fi
    done
  done
}

binaries=(services/customer/customer_server services/service-assignment/service_assignment_server
  services/onboarding-invitation/onboarding_invitation_server services/reporting/reporting_server
  services/reporting/reporting_rebuild tools/msp_probe tools/msp_call tools/mspctl)
declare -A users  # library -> the binaries that link it
for b in "${binaries[@]}"; do
  [ -x "$BUILD/$b" ] || { echo "FAIL: $BUILD/$b not built"; exit 1; }
  for lib in $(objdump -p "$BUILD/$b" | awk '/NEEDED/ {print $2}'); do
    users[$lib]="${users[$lib]:-} $(basename "$b")"
  done
done

failed=0
needed=""
for lib in "${!users[@]}"; do
  pkg=$(package_of "$lib")  # once per library: dpkg -S reads its whole database
  if [ -z "$pkg" ]; then
    echo "FAIL: no package provides $lib (needed by${users[$lib]})"; failed=1; continue
  fi
  needed="$needed $pkg"
  if ! grep -qxF -- "$pkg" <<<"$runtime" && ! grep -qwF -- "$pkg" <<<"$base"; then
    echo "FAIL: $lib (needed by${users[$lib]}) comes from $pkg, not in the runtime stage of $DOCKERFILE"
    failed=1
  fi
done
# A stale entry would hide a missing one: every listed package is needed.
for pkg in $runtime; do
  [ "$pkg" = ca-certificates ] && continue
  grep -qwF -- "$pkg" <<<"$needed" || { echo "FAIL: $pkg is in the runtime stage but no binary links it"; failed=1; }
done
[ "$failed" -eq 0 ] && echo "image_test: the runtime stage's $(wc -w <<<"$runtime") packages match the libraries of ${#binaries[@]} binaries"
exit "$failed"
