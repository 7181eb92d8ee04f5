#!/usr/bin/env bash
# A one-node PostgreSQL on this machine, for the Store conformance suite and the HTTP end-to-end tests that run on
# PostgreSQL: Debian's `postgresql`, its first cluster started (pg_ctlcluster), a role `modelfab` and a database
# `modelfab_test` with byte-order collation ("C", the order SQLite compares text in). Idempotent: a server already
# answering is left as it is, a role or database that exists is kept. Needs root (or sudo). Prints the URL the tests
# read from MODELFAB_TEST_DATABASE_URL (that URL is also their default).
#
#   sudo bash scripts/postgres-one-node.sh
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then exec sudo -E bash "$0" "$@"; fi

if ! dpkg -s postgresql >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

# the first cluster Debian made (pg_createcluster when the package made none)
read -r ver name port status _ < <(pg_lsclusters -h | head -n 1) || true
if [ -z "${ver:-}" ]; then
  ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  pg_createcluster "$ver" main >/dev/null
  read -r ver name port status _ < <(pg_lsclusters -h | head -n 1)
fi
if [ "$status" != "online" ]; then pg_ctlcluster "$ver" "$name" start; fi
for _ in $(seq 1 30); do runuser -u postgres -- pg_isready -q -p "$port" && break; sleep 0.5; done
runuser -u postgres -- pg_isready -q -p "$port"

psql_admin() { runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "select 1 from pg_roles where rolname = 'modelfab'")" != "1" ]; then
  psql_admin -c "create role modelfab login password 'modelfab'"
fi
if [ "$(psql_admin -c "select 1 from pg_database where datname = 'modelfab_test'")" != "1" ]; then
  psql_admin -c "create database modelfab_test owner modelfab template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'"
fi

echo "postgres: up (PostgreSQL $ver, cluster $name) MODELFAB_TEST_DATABASE_URL=postgres://modelfab:modelfab@127.0.0.1:${port}/modelfab_test"
