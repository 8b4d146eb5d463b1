#!/usr/bin/env bash
# schema.sh - the schema the migrations produce, in one file. It migrates a
# fresh database with `hookd migrate`, dumps its schema (pg_dump
# --schema-only, without owners, privileges, settings or pg_dump's own
# comments and version lines, so the dump depends on the migrations alone)
# and writes it to docs/schema.sql (`make schema`), or, called as
# `schema.sh check` (by `make test`), compares it with docs/schema.sql and
# prints the difference when they differ.
#
# It uses the PostgreSQL that HOOKD_TEST_PGHOST/PORT/USER name (the test
# run's cluster) when they are set, else a throwaway cluster of its own,
# stopped and removed at the end; either way the database it makes is
# dropped. HOOKD_BIN chooses the hookd binary (default build/hookd).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-write}
case $mode in
write | check) ;;
*)
    echo "usage: schema.sh [check]" >&2
    exit 2
    ;;
esac

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
hookd=${HOOKD_BIN:-build/hookd}
target=docs/schema.sql
[ -x "$hookd" ] || { echo "schema: $hookd is missing; use 'make schema'" >&2; exit 1; }

tmp=$(mktemp -d /tmp/hookd-schema.XXXXXX)
chmod 755 "$tmp"
own_cluster=
db=hookd_schema_$$
host=${HOOKD_TEST_PGHOST:-127.0.0.1}
user=${HOOKD_TEST_PGUSER:-postgres}
port=${HOOKD_TEST_PGPORT:-}

psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" "$@"; }

cleanup() {
    local rc=$?
    trap - EXIT
    if [ -n "$port" ]; then
        psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    fi
    [ -n "$own_cluster" ] && scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

if [ -z "$port" ]; then
    # a port nobody listens on; pg.sh fails when one is taken meanwhile
    for attempt in 1 2 3; do
        port=$((20000 + RANDOM % 20000))
        (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        if scripts/pg.sh start "$tmp/pg" "$port" fast >"$tmp/pg-start.log" 2>&1; then
            own_cluster=1
            break
        fi
        [ "$attempt" = 3 ] && { cat "$tmp/pg-start.log" >&2; exit 1; }
    done
fi

psql -d postgres -c "CREATE DATABASE $db"
if ! HOOKD_DATABASE_URL="postgresql://$user@$host:$port/$db" \
    HOOKD_MIGRATIONS_DIR=migrations "$hookd" migrate >"$tmp/migrate.log" 2>&1; then
    cat "$tmp/migrate.log" >&2
    echo "schema: hookd migrate failed" >&2
    exit 1
fi

{
    echo "-- The schema that migrations/ produce on a fresh database: written by"
    echo "-- \`make schema\` (scripts/schema.sh), checked by \`make test\`. Do not edit."
    "$PG_BIN/pg_dump" --schema-only --no-owner --no-privileges \
        -h "$host" -p "$port" -U "$user" "$db" |
        grep -v -e '^--' -e '^SET ' -e '^SELECT pg_catalog.set_config' \
            -e '^\\restrict' -e '^\\unrestrict' |
        cat -s
} >"$tmp/schema.sql"

if [ "$mode" = write ]; then
    cp "$tmp/schema.sql" "$target"
    echo "schema: wrote $target ($(grep -c '' "$target") lines)"
elif diff -u "$target" "$tmp/schema.sql"; then
    echo "schema: $target matches the migrations"
else
    echo "schema: the migrations no longer produce $target (diff above: - the file, + the migrations); run 'make schema' and commit it" >&2
    exit 1
fi
