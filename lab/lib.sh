# Shared helpers for the lab shell scripts (sourced, not run).
# Conventions: one "[lab] ..." progress line per step on stdout; failures print one
# "lab: error: ..." line on stderr and exit non-zero; every output file is written to a
# temporary name first and renamed into place, so an interrupted run leaves nothing half-written.
set -euo pipefail

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LAB_SRC/.." && pwd)
CACHE=${GUESTABI_CACHE:-$HOME/.cache/guestabi}
LAB=$CACHE/lab
LOGS=$LAB/logs
mkdir -p "$LAB" "$LOGS"

# npm's default retry schedule waits ~70 s before giving up without network; fail faster.
NPM_NET=(--fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000)

step() { echo "[lab] $*"; }
die() { echo "lab: error: $*" >&2; exit 1; }

# run_logged NAME CMD...: run quietly, keeping the full output in $LOGS/NAME.log; on failure
# die with the last meaningful line, so the one-line error still says what went wrong.
run_logged() {
  local name=$1; shift
  local log="$LOGS/$name.log"
  if ! "$@" >"$log" 2>&1; then
    local last
    last=$(grep -v '^\s*$' "$log" | grep -iv 'warn Unknown user config' | tail -n 1 || true)
    die "$name failed: ${last:-no output} (full log: $log)"
  fi
}

# atomic_write FILE: copy stdin to FILE via FILE.tmp.$$ + rename.
atomic_write() {
  local f=$1
  cat >"$f.tmp.$$" && mv -f "$f.tmp.$$" "$f"
}

# Fresh scratch directory inside $LAB (same filesystem, so final renames are atomic);
# removed on exit by the caller's trap.
lab_tmpdir() { mkdir -p "$LAB/tmp" && mktemp -d "$LAB/tmp/${1:-work}.XXXXXX"; }
