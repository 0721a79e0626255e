#!/usr/bin/env bash
# The PostgreSQL client tools (pg_dump, pg_restore, psql) for `care backup` / `care restore`
# and their tests on PostgreSQL. Installs Debian's postgresql-client with apt when missing
# and allowed (root); otherwise says that the backup tests on PostgreSQL will be skipped.
# (`care backup` itself checks that pg_dump is not older than the server.)
set -u
if command -v pg_dump >/dev/null 2>&1 && command -v pg_restore >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's postgresql-client for the backup tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql-client >/dev/null
  if command -v pg_dump >/dev/null 2>&1; then exit 0; fi
  echo "apt-get could not install postgresql-client" >&2
fi
if [ "${CI:-}" = "true" ]; then
  echo "CI needs pg_dump, pg_restore and psql for the backup tests" >&2
  exit 1
fi
echo "*** pg_dump/pg_restore/psql are missing: the backup tests on PostgreSQL will be SKIPPED (run as root to install them) ***"
