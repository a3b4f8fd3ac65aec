#!/usr/bin/env bash
# Build, for each QEMU version of lab/qemu-versions.json, an arm64 sysroot of Debian's
# qemu-system-arm:arm64 (it holds qemu-system-aarch64) from that version's suite: the binary, its
# program interpreter and the closure of its DT_NEEDED libraries, every file from the same suite
# (trixie's and sid's QEMU need their own suite's libc). lab/qemu-migrate.mjs puts a sysroot into a
# guest's initramfs to run that QEMU with -accel kvm on the guest kernel's KVM.
#   lab/qemu-sysroot.sh [--offline]      --offline: use the cached apt lists
# Cache: $LAB/qemu/<suite>/<package version>/root/ (usr/bin/qemu-system-aarch64, lib/<soname>...)
# with sysroot.json beside it (package version, files and the package each came from), and
# $LAB/qemu.json: QEMU version -> that record. Cached sysroots are kept; a newer package in the suite
# gets a sysroot of its own and replaces the older one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

offline=0
[ "${1:-}" = --offline ] && offline=1
APT_SUITE=$REPO_ROOT/scripts/apt-suite.sh
READELF=aarch64-linux-gnu-readelf
command -v "$READELF" >/dev/null || die "$READELF missing (binutils-aarch64-linux-gnu; lab/setup.sh installs it)"

declare -A SUITE=()
NAMES=()
while read -r name suite; do
  [[ $name =~ ^[0-9]+\.[0-9]+$ && -n $suite ]] || die "qemu-versions.json: '$name' needs a suite"
  NAMES+=("$name"); SUITE[$name]=$suite
done < <(node -e '
  for (const [name, q] of Object.entries(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))))
    console.log(name, q.suite)' "$LAB_SRC/qemu-versions.json")

if [ $offline = 0 ]; then
  for s in $(printf '%s\n' "${SUITE[@]}" | sort -u); do
    run_logged "apt-update-$s" "$APT_SUITE" "$s" update
    w=$(grep -m1 -E '^(W|E): (Failed to fetch|Some index files)' "$LOGS/apt-update-$s.log" || true)
    [ -z "$w" ] || die "apt update of $s failed (no network?): ${w#?: } -- --offline uses cached lists"
  done
fi

work=$(lab_tmpdir qemu-sysroot)
trap 'rm -rf "$work"' EXIT

# The path FILE (absolute, inside the extracted tree X) names once symlinks are followed; absolute
# link targets are taken inside X, not on this host. On merged-/usr suites (trixie, sid) /lib is the
# system's link to usr/lib, which no package ships: /lib/F is then looked up as /usr/lib/F.
resolve() {
  local x=$1 f=$2 t n=0
  case $f in /lib/*) [ -e "$x$f" ] || [ -L "$x$f" ] || f=/usr$f ;; esac
  while [ -L "$x$f" ]; do
    t=$(readlink "$x$f")
    case $t in /*) f=$t ;; *) f=$(dirname "$f")/$t ;; esac
    f=$(realpath -m -s "$f")
    n=$((n + 1)); [ $n -lt 40 ] || die "symlink loop at $f"
  done
  [ -f "$x$f" ] && echo "$f"
}

# build_sysroot SUITE VERSION DIR: download the arm64 dependency closure of qemu-system-arm, extract
# it, and copy the binary, its interpreter and its DT_NEEDED closure into DIR/root.
build_sysroot() {
  local suite=$1 ver=$2 dir=$3 w="$work/$1"
  mkdir -p "$w/debs" "$w/x"
  local pkgs
  # Only arm64 packages can hold the binary's libraries; <virtual> and amd64/all entries are dropped.
  pkgs=$("$APT_SUITE" "$suite" depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "qemu-system-arm:arm64=$ver" 2>/dev/null |
    grep -E '^[a-z0-9][^ ]*:arm64$' | sort -u)
  [ -n "$pkgs" ] || die "apt-cache depends found nothing for qemu-system-arm:arm64=$ver in $suite"
  # shellcheck disable=SC2086 # one argument per package
  (cd "$w/debs" && run_logged "download-qemu-$suite" "$APT_SUITE" "$suite" download $pkgs)
  : >"$w/owners"
  for deb in "$w/debs"/*.deb; do
    dpkg-deb -x "$deb" "$w/x"
    local owner
    owner=$(dpkg-deb -f "$deb" Package Version | awk '{print $2}' | paste -sd=)
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed "s|^\.||; s|\$|\t$owner|" >>"$w/owners"
  done

  local bin=/usr/bin/qemu-system-aarch64 interp
  [ -f "$w/x$bin" ] || die "qemu-system-arm:arm64=$ver has no $bin"
  interp=$("$READELF" -l "$w/x$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  [ -n "$interp" ] || die "$bin names no program interpreter"
  local root="$w/root" files=() queue=("$bin") seen=" "
  mkdir -p "$root/usr/bin" "$root/lib"
  local real
  real=$(resolve "$w/x" "$interp") || die "interpreter $interp not in the $suite packages"
  cp "$w/x$real" "$root$interp"
  files+=("$interp:$real")
  # Breadth-first over DT_NEEDED; each soname is found in the multiarch and plain library dirs, or
  # in the object's DT_RUNPATH.
  while [ ${#queue[@]} -gt 0 ]; do
    local obj=${queue[0]}; queue=("${queue[@]:1}")
    local dyn needed runpath dirs
    dyn=$("$READELF" -d "$w/x$obj")
    runpath=$(sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p' <<<"$dyn" | sed "s|\$ORIGIN|$(dirname "$obj")|g" | tr : ' ')
    dirs="$runpath /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib /usr/lib"
    needed=$(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dyn")
    for so in $needed; do
      case $seen in *" $so "*) continue ;; esac
      seen+="$so "
      real=
      for d in $dirs; do real=$(resolve "$w/x" "$d/$so") && break; done
      [ -n "$real" ] || die "$obj needs $so, which no package of qemu-system-arm's dependencies in $suite holds"
      [ "/lib/$so" = "$interp" ] || cp "$w/x$real" "$root/lib/$so"
      [ "/lib/$so" = "$interp" ] || files+=("/lib/$so:$real")
      queue+=("$real")
    done
  done
  cp "$w/x$bin" "$root$bin"
  files+=("$bin:$bin")
  chmod 755 "$root$bin" "$root$interp"

  # sysroot.json: where each shipped file came from (path in its package, package=version).
  local entries=() f
  for f in "${files[@]}"; do
    local from=${f#*:}
    entries+=("$(printf '    {"path": "%s", "from": "%s", "package": "%s"}' "${f%%:*}" "$from" \
      "$(awk -F'\t' -v p="$from" '$1 == p {print $2; exit}' "$w/owners")")")
  done
  rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
  mkdir -p "$w/out"; mv "$root" "$w/out/root"
  {
    printf '{\n  "suite": "%s",\n  "package": "qemu-system-arm",\n  "version": "%s",\n' "$suite" "$ver"
    printf '  "root": "%s",\n  "binary": "%s",\n  "interpreter": "%s",\n' "$dir/root" "$bin" "$interp"
    printf '  "bytes": %s,\n  "files": [\n' "$(du -sb "$w/out/root" | cut -f1)"
    (IFS=$'\n'; echo "${entries[*]}" | sed '$!s/$/,/')
    printf '  ]\n}\n'
  } >"$w/out/sysroot.json"
  mv "$w/out" "$dir"
  rm -rf "$w"
}

# arm64 candidate version of PACKAGE in SUITE ("" if none).
candidate() {
  "$APT_SUITE" "$1" policy "$2:arm64" 2>/dev/null | awk '/Candidate:/ {print ($2 == "(none)") ? "" : $2; exit}'
}

records=()
for name in "${NAMES[@]}"; do
  suite=${SUITE[$name]}
  ver=$(candidate "$suite" qemu-system-arm)
  [ -n "$ver" ] || die "no qemu-system-arm:arm64 in $suite's apt lists (run without --offline)"
  plain=${ver#*:} # 7.2+dfsg-7+deb12u18+b3, 10.0.13+ds-0+deb13u1, 11.1.3+ds-1
  [[ $plain == "$name".* || $plain == "$name"+* ]] ||
    die "$suite now serves qemu-system-arm $ver, not QEMU $name: update lab/qemu-versions.json and re-run lab/qemu-migrate.mjs"
  dir="$LAB/qemu/$suite/$plain"
  if [ -s "$dir/sysroot.json" ] && [ -x "$dir/root/usr/bin/qemu-system-aarch64" ]; then
    step "QEMU $name: qemu-system-arm:arm64 $ver from $suite (cached)"
  else
    t=$(date +%s)
    build_sysroot "$suite" "$ver" "$dir"
    step "QEMU $name: qemu-system-arm:arm64 $ver from $suite, sysroot of $(node -e '
      console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).files.length)' "$dir/sysroot.json") files, $(du -sh "$dir/root" | cut -f1) in $(($(date +%s) - t)) s"
  fi
  find "$LAB/qemu/$suite" -mindepth 1 -maxdepth 1 ! -name "$plain" -exec rm -rf {} + # superseded
  records+=("$name" "$dir/sysroot.json")
done
node -e '
  const fs = require("fs");
  const out = {};
  for (let i = 1; i < process.argv.length; i += 2) out[process.argv[i]] = JSON.parse(fs.readFileSync(process.argv[i + 1], "utf8"));
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");' "${records[@]}" | atomic_write "$LAB/qemu.json"
step "QEMU sysroots: $LAB/qemu.json"
