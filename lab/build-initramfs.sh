#!/usr/bin/env bash
# Build the guest initramfs for a project:
#   lab/build-initramfs.sh PROJECT_DIR [-o OUT] [--uncompressed]
# Contents: busybox, the arm64 libs, node (all from lab/setup.sh), lab/init as /init, and
# /payload = PROJECT/package.json + PROJECT/dist/ + an arm64 node_modules (lab/arm64-modules.mjs).
# The output is two gzip'd newc cpio archives back to back (the kernel unpacks concatenated
# archives): a cached "base" with the ~100 MB of binaries, rebuilt only when they change, and a
# small per-build "payload", so rebuilding for new project code takes seconds.
# --uncompressed: plain cpio (~115 MB instead of ~42 MB) that the guest unpacks in ~0.3 s instead
# of ~2.3 s of emulated gunzip, i.e. every boot is ~2 s faster; worth it for long matrix runs.
# Default OUT: $CACHE/lab/initramfs/<project name>.cpio[.gz]. Prints the path on the last line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

project= out= ext=cpio.gz
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=${2:?-o needs a file}; shift 2 ;;
    --uncompressed) ext=cpio; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) [ -z "$project" ] || die "unexpected argument '$1'"; project=$1; shift ;;
  esac
done
[ -n "$project" ] || die "usage: lab/build-initramfs.sh PROJECT_DIR [-o OUT] [--uncompressed]"
project=$(cd "$project" 2>/dev/null && pwd) || die "no such project dir"
[ -f "$project/package.json" ] || die "$project/package.json missing"
[ -d "$project/dist" ] || die "$project/dist missing: build the project first"
[ -f "$LAB/userland.json" ] || die "$LAB/userland.json missing: run lab/setup.sh first"
mkdir -p "$LAB/initramfs"
out=${out:-$LAB/initramfs/$(basename "$project").$ext}
t0=$(date +%s.%N)

# Paths of the userland pieces recorded by setup.sh.
read -r bb libdir node_bin < <(node -e '
  const u = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(u.busybox.path, u.libs.dir, u.node.path)' "$LAB/userland.json")
for f in "$bb" "$libdir/libc.so.6" "$node_bin"; do [ -e "$f" ] || die "$f missing: re-run lab/setup.sh"; done

work=$(lab_tmpdir initramfs)
trap 'rm -rf "$work" "$out.tmp.$$"' EXIT

# mkcpio DIR FILE: newc archive of DIR's contents (gzip'd unless --uncompressed), owned by root;
# parents sort before children.
mkcpio() {
  local z=(gzip -6); [ "$ext" = cpio ] && z=(cat)
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | "${z[@]}" >"$2"
}

# ---- base: busybox + libs + node, cached by the identity of those three inputs -----------------
key=$(printf '%s\n' "$bb" "$libdir" "$node_bin" "$(stat -c %s.%Y "$bb" "$libdir"/* "$node_bin")" | sha256sum | cut -c1-16)
base="$LAB/initramfs/base-$key.$ext"
if [ -s "$base" ]; then
  step "initramfs base: cached ($(du -h "$base" | cut -f1))"
else
  b="$work/base"
  mkdir -p "$b/bin" "$b/sbin" "$b/lib" "$b/usr/bin" "$b/usr/sbin" "$b/dev" "$b/proc" "$b/sys" "$b/tmp" "$b/root"
  cp "$bb" "$b/bin/busybox"
  # node's PT_INTERP is /lib/ld-linux-aarch64.so.1, and ld.so searches /lib, so one flat /lib suffices.
  cp "$libdir"/* "$b/lib/"
  cp "$node_bin" "$b/usr/bin/node"
  chmod 755 "$b/bin/busybox" "$b/usr/bin/node" "$b/lib/ld-linux-aarch64.so.1"
  # /dev/console must exist before devtmpfs is mounted, or /init starts without stdio. The
  # kernel's built-in default initramfs has one too, so not being root (no mknod) is survivable.
  (cd "$b/dev" && mknod -m 600 console c 5 1 && mknod -m 666 null c 1 3) 2>/dev/null || true
  mkcpio "$b" "$work/base.$ext"
  mv -f "$work/base.$ext" "$base"
  find "$LAB/initramfs" -maxdepth 1 -name "base-*.$ext" ! -name "$(basename "$base")" -delete  # superseded
  step "initramfs base: built ($(du -h "$base" | cut -f1))"
fi

# ---- payload: /init + /payload -----------------------------------------------------------------
p="$work/payload"
mkdir -p "$p/payload"
install -m 755 "$LAB_SRC/init" "$p/init"
cp "$project/package.json" "$p/payload/"
[ -f "$project/package-lock.json" ] && cp "$project/package-lock.json" "$p/payload/"
cp -a "$project/dist" "$p/payload/dist"
node "$LAB_SRC/arm64-modules.mjs" "$project" "$p/payload"
mkcpio "$p" "$work/payload.$ext"
step "initramfs payload: $(du -sh "$p/payload" | cut -f1) (.$ext $(du -h "$work/payload.$ext" | cut -f1))"

cat "$base" "$work/payload.$ext" >"$out.tmp.$$"   # temp beside OUT: the rename is atomic
mv -f "$out.tmp.$$" "$out"
step "initramfs: $(du -h "$out" | cut -f1) in $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") s"
echo "$out"
