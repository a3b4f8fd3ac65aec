#!/usr/bin/env bash
# Fetch Debian's linux-source packages and extract the parts guestabi reads into
#   ${GUESTABI_CACHE:-$HOME/.cache/guestabi}/ksrc/<gen>/      (gen: 5.10 6.1 6.12 7.2)
# with ksrc/<gen>/SOURCE = "<package> <version>".
#   scripts/kernel-sources.sh [GEN...]        (default: all generations)
# Versions are resolved from the suite's apt lists at run time (old versions leave the archive).
# A generation whose SOURCE already names the candidate version is skipped.
# Apt lists are refreshed when missing or older than a day (GUESTABI_APT_UPDATE=1 forces it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${GUESTABI_CACHE:-$HOME/.cache/guestabi}
ksrc="$cache/ksrc"

die() { echo "kernel-sources: $*" >&2; exit 1; }

# gen -> Debian suite that carries linux-source-<gen>
suite_of() {
  case "$1" in
    5.10) echo bullseye ;;
    6.1) echo bookworm ;;
    6.12) echo bookworm-backports ;; # not in bookworm main
    7.2) echo sid ;;
    *) return 1 ;;
  esac
}

# Parts of the tree guestabi reads (relative to the tarball's top dir).
members=(
  arch/arm64/
  include/
  Documentation/virt/kvm/
  tools/testing/selftests/kvm/
  tools/arch/arm64/
  drivers/firmware/psci/
  drivers/firmware/smccc/
)

for t in apt-get apt-cache dpkg-deb tar xz; do
  command -v "$t" >/dev/null || die "missing tool '$t'"
done

refresh_lists() {
  local suite=$1 lists="$cache/apt/$1/lists"
  if [ "${GUESTABI_APT_UPDATE:-0}" = 1 ] || [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]; then
    "$here/apt-suite.sh" "$suite" update >/dev/null || die "apt update failed for suite $suite"
  fi
}

fetch_gen() {
  local gen=$1 suite pkg ver dest tmp deb tarball
  suite=$(suite_of "$gen") || die "unknown generation '$gen' (known: 5.10 6.1 6.12 7.2)"
  pkg="linux-source-$gen"
  dest="$ksrc/$gen"
  refresh_lists "$suite"
  ver=$("$here/apt-suite.sh" "$suite" policy "$pkg" | awk '/Candidate:/ {print $2; exit}') ||
    die "apt-cache policy failed for $pkg in suite $suite"
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "$pkg has no candidate in suite $suite"

  if [ -f "$dest/SOURCE" ] && [ "$(cat "$dest/SOURCE")" = "$pkg $ver" ]; then
    echo "$gen: $pkg $ver (up to date)"
    return 0
  fi

  echo "$gen: fetching $pkg $ver from $suite"
  mkdir -p "$ksrc"
  # Temp dir beside the destination, so the final rename is atomic and nothing half-done is left.
  tmp=$(mktemp -d "$ksrc/.tmp-$gen.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && "$here/apt-suite.sh" "$suite" download "$pkg=$ver" >/dev/null) ||
    die "download of $pkg=$ver from $suite failed"
  deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || die "no .deb downloaded for $pkg=$ver"
  dpkg-deb -x "$deb" "$tmp/deb" || die "dpkg-deb -x failed on $deb"
  rm -f "$deb"
  tarball="$tmp/deb/usr/src/$pkg.tar.xz"
  [ -f "$tarball" ] || die "$pkg: usr/src/$pkg.tar.xz not in package"

  mkdir "$tmp/tree"
  local pats=()
  for m in "${members[@]}"; do pats+=("$pkg/$m*"); done
  tar -xJf "$tarball" -C "$tmp/tree" --strip-components=1 --wildcards "${pats[@]}" ||
    die "$pkg: extracting ${members[*]} failed"
  rm -rf "$tmp/deb"
  for m in "${members[@]}"; do
    [ -d "$tmp/tree/$m" ] || die "$pkg: $m missing from tarball"
  done
  printf '%s %s\n' "$pkg" "$ver" >"$tmp/tree/SOURCE"

  # Swap in: move any old tree aside first, then rename, then drop the old one.
  if [ -e "$dest" ]; then mv "$dest" "$tmp/old"; fi
  mv "$tmp/tree" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  echo "$gen: $pkg $ver -> $dest"
}

# Turn signals into a normal exit so the EXIT trap removes a half-done temp dir.
trap 'exit 130' INT TERM HUP
gens=("$@")
[ ${#gens[@]} -gt 0 ] || gens=(5.10 6.1 6.12 7.2)
for g in "${gens[@]}"; do suite_of "$g" >/dev/null || die "unknown generation '$g' (known: 5.10 6.1 6.12 7.2)"; done
for g in "${gens[@]}"; do fetch_gen "$g"; done
