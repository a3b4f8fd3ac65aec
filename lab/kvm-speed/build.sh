#!/usr/bin/env bash
# Builds lab/kvm-speed/regloop.c for the arm64 guest (static, -O2) with Debian's cross compiler
# (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: lab/setup.sh installs them). The binary lands in the
# lab cache under the sha256 of its source, so an edited regloop.c is never measured stale; never in
# the repository. Prints the binary's path on the last line.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

src=$LAB_SRC/kvm-speed/regloop.c
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc missing: run lab/setup.sh"
key=$(sha256sum "$src" | cut -c1-16)
bin=$LAB/kvm-speed/regloop-$key
if [ ! -x "$bin" ]; then
  mkdir -p "$LAB/kvm-speed"
  aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -o "$bin.tmp.$$" "$src" ||
    die "aarch64-linux-gnu-gcc failed on $src"
  mv -f "$bin.tmp.$$" "$bin"
  find "$LAB/kvm-speed" -maxdepth 1 -name 'regloop-*' ! -name "$(basename "$bin")" -delete  # superseded
fi
echo "$bin"
