#!/usr/bin/env bash
# Fetch the source of the QEMU the lab runs (Debian bookworm's qemu 7.2) and extract its Arm target
# (target/arm: the CPU models' ID register values) into ${GUESTABI_CACHE:-~/.cache/guestabi}/qemu-src/.
# Idempotent; writes qemu-src/SOURCE with the exact version. The simulator's CPU tables are read from it.
set -euo pipefail
cache=${GUESTABI_CACHE:-$HOME/.cache/guestabi}
dest="$cache/qemu-src"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "$cache/qemu-src.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && "$here/apt-suite.sh" bookworm source qemu >"$work/apt.log" 2>&1) ||
  { echo "qemu-sources: apt-get source qemu failed: $(tail -n 1 "$work/apt.log")" >&2; exit 1; }
dsc=$(ls "$work"/qemu_*.dsc)
version=$(awk '/^Version:/ {print $2; exit}' "$dsc")
if [ -f "$dest/SOURCE" ] && [ "$(cat "$dest/SOURCE")" = "qemu $version" ]; then
  echo "qemu-sources: qemu $version already extracted"; exit 0
fi
orig=$(ls "$work"/qemu_*.orig.tar.xz)
mkdir -p "$work/x"
tar -xJf "$orig" -C "$work/x" --wildcards '*/target/arm/*' '*/hw/arm/virt.c'
top=$(ls "$work/x")
echo "qemu $version" >"$work/x/$top/SOURCE"
rm -rf "$dest.old"; [ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$work/x/$top" "$dest" && rm -rf "$dest.old"
echo "qemu-sources: qemu $version -> $dest"
