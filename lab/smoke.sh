#!/usr/bin/env bash
# End-to-end proof of the lab: a scratch project (under the cache, not the repo) depending on
# koffi 3, whose dist/ is lab/smoke.mjs, booted on every kernel with cortex-a72 and on one with max.
#   lab/smoke.sh [--uncompressed] [GEN/CPU ...]   default: 5.10 6.1 6.12 7.2 on cortex-a72, then 6.12/max
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build_opts=()
[ "${1:-}" = --uncompressed ] && { build_opts+=(--uncompressed); shift; }
runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
  runs=(5.10/cortex-a72 6.1/cortex-a72 6.12/cortex-a72 7.2/cortex-a72 6.12/max)
fi

elapsed() { awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t}"; }
proj=$LAB/smoke-project
mkdir -p "$proj/dist"
[ -f "$proj/package.json" ] ||
  echo '{"name": "guestabi-lab-smoke", "private": true, "type": "module", "dependencies": {"koffi": "^3"}}' | atomic_write "$proj/package.json"
t=$(date +%s.%N)
if [ ! -f "$proj/node_modules/koffi/package.json" ]; then
  (cd "$proj" && run_logged smoke-npm-install npm install "${NPM_NET[@]}" --omit=dev --no-audit --no-fund)
fi
step "smoke project: $proj (koffi $(node -p 'require(process.argv[1]).version' "$proj/node_modules/koffi/package.json"), $(elapsed) s)"
cp "$LAB_SRC/smoke.mjs" "$proj/dist/smoke.mjs"

built=$("$LAB_SRC/build-initramfs.sh" "$proj" "${build_opts[@]}")
sed '$d' <<<"$built"
initrd=$(tail -n1 <<<"$built")

fail=0
results=()
for r in "${runs[@]}"; do
  gen=${r%%/*} cpu=${r#*/}
  res="$LAB/results/smoke_${gen}_${cpu}.json"
  node "$LAB_SRC/boot.mjs" --kernel "$gen" --cpu "$cpu" --initrd "$initrd" --cmd 'node dist/smoke.mjs' \
    --timeout 600 --quiet --out "$res" || fail=1
  results+=("$res")
done

# One line per run: what the guest said and how long each phase took (host wall clock).
node -e '
  for (const f of process.argv.slice(1)) {
    const r = JSON.parse(require("fs").readFileSync(f, "utf8"));
    let s = {}; try { s = JSON.parse(r.stdout); } catch {}
    const t = r.timings;
    console.log(`[lab] ${(r.kernel.gen + "/" + r.cpu).padEnd(18)} ${r.status.padEnd(8)} uname=${s.uname} kvm=${s.devKvm} api=${s.apiVersion} createVm=${JSON.stringify(s.createVm)} ` +
      `koffi-import=${s.koffiImportMs}ms | kernel ${t.toKernelS}s, /init ${t.toInitS}s, output ${t.toEndS}s, exit ${t.totalS}s`);
  }' "${results[@]}"
exit $fail
