#!/usr/bin/env bash
# Start a PostgreSQL server for the collector's tests, on loopback only, and
# print its URL. Installs Debian's postgresql when no server binaries exist.
# Idempotent: a server this script started earlier is reused.
#
#   export FRONTIER_TEST_POSTGRES="$(./scripts/postgres.sh)"
set -euo pipefail

port="${FRONTIER_PG_PORT:-55432}"
url="postgres://postgres@127.0.0.1:$port/postgres"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

if [ -z "$(bindir)" ]; then
  echo "installing postgresql (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
fi
bin="$(bindir)"
[ -n "$bin" ] || { echo "error: no PostgreSQL server binaries after installing postgresql" >&2; exit 1; }

# The server refuses to run as root: run it as the postgres user then.
# As root the data lives where the postgres user can reach it (not in /root).
if [ "$(id -u)" = 0 ]; then
  data="${FRONTIER_PG_DATA:-/var/lib/postgresql/frontier-test}"
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
  as_pg() { runuser -u postgres -- "$@"; }
  owner=postgres
else
  data="${FRONTIER_PG_DATA:-$HOME/.cache/frontier/postgres}"
  as_pg() { "$@"; }
  owner="$(id -un)"
fi

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  echo "$url"
  exit 0
fi

mkdir -p "$data"
chown "$owner" "$data"
chmod 700 "$data"
if [ ! -f "$data/PG_VERSION" ]; then
  as_pg "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >&2
fi
# A server killed without a shutdown (a session's end) leaves its lock file;
# PostgreSQL refuses to start while the PID in it exists, even when that PID
# is now a zombie or another program. Remove the lock unless it names a live
# postgres.
pidfile="$data/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid="$(head -n 1 "$pidfile")"
  state="$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  if [ -z "$state" ] || [ "$state" = Z ] || ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q postgres; then
    echo "removing the stale lock of a PostgreSQL that is gone (pid $pid)" >&2
    rm -f "$pidfile"
  fi
fi
sock="$(mktemp -d)"
chown "$owner" "$sock"
as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $sock" start >&2 || {
  echo "error: PostgreSQL did not start; its log:" >&2
  tail -n 30 "$data/server.log" >&2
  exit 1
}
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || { echo "error: PostgreSQL is not accepting connections on 127.0.0.1:$port" >&2; exit 1; }
echo "$url"
