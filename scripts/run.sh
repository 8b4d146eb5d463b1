#!/usr/bin/env bash
# run.sh - `make run`: hookd on this machine with everything it needs. Keeps
# its state in .data/ (a PostgreSQL cluster in .data/pg on port 5433, or
# HOOKD_PG_PORT, and the admin and secret keys, made once), applies the
# migrations and serves the API and the portal in the foreground. Running it
# again reuses the cluster and the keys; `make stop` stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
port=${HOOKD_PG_PORT:-5433}
listen=${HOOKD_LISTEN:-127.0.0.1:8080}

[ -x build/hookd ] || { echo "run: build/hookd is missing; use 'make run'" >&2; exit 1; }

mkdir -p .data
chmod 755 .data # the postgres user walks through it to .data/pg
scripts/pg.sh start .data/pg "$port"

psql=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres)
if [ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'hookd'")" ]; then
    "${psql[@]}" -d postgres -c 'CREATE DATABASE hookd'
fi

# The keys are made once and kept, so that tokens and sealed endpoint secrets
# stay valid from one run to the next.
umask 077
if [ ! -s .data/admin_key ]; then
    key=$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
    echo "hk_admin_$key" >.data/admin_key
fi
if [ ! -s .data/secret_key ]; then
    head -c 32 /dev/urandom | base64 >.data/secret_key
fi
umask 022

export HOOKD_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/hookd"
export HOOKD_ADMIN_KEY
HOOKD_ADMIN_KEY=$(<.data/admin_key)
export HOOKD_SECRET_KEY
HOOKD_SECRET_KEY=$(<.data/secret_key)
export HOOKD_ALLOW_PRIVATE_TARGETS=1
export HOOKD_WEB_DIR="$PWD/web"

build/hookd migrate

cat <<EOF

hookd is starting on http://$listen (Ctrl-C stops it)
  admin key: $HOOKD_ADMIN_KEY
  portal:    http://$listen/portal/
  try:       curl -s -H "Authorization: Bearer $HOOKD_ADMIN_KEY" http://$listen/v1/me
PostgreSQL keeps running in .data/pg (port $port); 'make stop' stops it.

EOF
exec build/hookd serve
