#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the inventory tests (GUESTABI_TEST_POSTGRES):
#
#   scripts/postgres-for-tests.sh [PORT]    start one on 127.0.0.1:PORT (default 55432); prints its URL,
#                                           and on stderr the directory it lives in (GUESTABI_PG_DIR
#                                           names an empty one to use instead of a new one)
#   scripts/postgres-for-tests.sh stop DIR  stop it and remove DIR
#
#   url=$(scripts/postgres-for-tests.sh)    # then: GUESTABI_TEST_POSTGRES=$url node --test dist/inventory/
#
# Trust authentication on 127.0.0.1 and a socket in DIR only: for tests, never for data. initdb refuses
# to run as root, so as root the server runs as the user postgres, in a directory postgres owns.
set -euo pipefail

BIN=${GUESTABI_PG_BIN:-/usr/lib/postgresql/15/bin}

# Runs a command as postgres when we are root, as ourselves otherwise.
as_server_user() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

if [ "${1:-}" = stop ]; then
  dir=${2:?usage: $0 stop DIR}
  [ -f "$dir/data/PG_VERSION" ] || { echo "$0: $dir is not a server of this script" >&2; exit 2; }
  as_server_user "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  rm -rf "$dir"
  exit 0
fi

port=${1:-55432}
case $port in '' | *[!0-9]*) echo "$0: bad port '$port'" >&2; exit 2 ;; esac
[ -x "$BIN/initdb" ] || { echo "$0: no PostgreSQL server in $BIN (GUESTABI_PG_BIN names another)" >&2; exit 2; }

dir=${GUESTABI_PG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/guestabi-postgres.XXXXXX")}
[ -d "$dir" ] && [ -z "$(ls -A "$dir")" ] || { echo "$0: $dir is not an empty directory" >&2; exit 2; }
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
if ! as_server_user "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  rm -rf "$dir"
  exit 1
fi
# -w: pg_ctl returns once the server accepts connections.
if ! as_server_user "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null; then
  cat "$dir/server.log" >&2
  rm -rf "$dir"
  exit 1
fi
echo "postgres://postgres@127.0.0.1:$port/postgres"
echo "$0: server in $dir (stop it: $0 stop $dir)" >&2
