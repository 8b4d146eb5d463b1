#!/usr/bin/env bash
# run.sh - `make run`: hookd on this machine with everything it needs. Keeps
# its state in .data/ (a PostgreSQL cluster in .data/pg on port 5433, or
# HOOKD_PG_PORT, and the admin and secret keys, made once), applies the
# migrations and serves the API and the portal in the foreground. On the
# first run it creates a tenant named "Demo" (its id kept in
# .data/demo_tenant); on every start it makes a 24-hour portal session for
# it through the API and prints the ready sign-in link, and the admin key.
# Running it again reuses the cluster, the keys and the Demo tenant;
# `make stop` stops the cluster. HOOKD_DATA_DIR names another folder than
# .data (the tests use a throwaway one).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
port=${HOOKD_PG_PORT:-5433}
listen=${HOOKD_LISTEN:-127.0.0.1:8080}

[ -x build/hookd ] || { echo "run: build/hookd is missing; use 'make run'" >&2; exit 1; }

data=${HOOKD_DATA_DIR:-.data}
mkdir -p "$data"
chmod 755 "$data" # the postgres user walks through it to $data/pg
scripts/pg.sh start "$data/pg" "$port"

psql=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres)
if [ -z "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'hookd'")" ]; then
    "${psql[@]}" -d postgres -c 'CREATE DATABASE hookd'
fi

# The keys are made once and kept, so that tokens and sealed endpoint secrets
# stay valid from one run to the next.
umask 077
if [ ! -s "$data/admin_key" ]; then
    key=$(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)
    echo "hk_admin_$key" >"$data/admin_key"
fi
if [ ! -s "$data/secret_key" ]; then
    head -c 32 /dev/urandom | base64 >"$data/secret_key"
fi
umask 022

export HOOKD_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/hookd"
export HOOKD_ADMIN_KEY
HOOKD_ADMIN_KEY=$(<"$data/admin_key")
export HOOKD_SECRET_KEY
HOOKD_SECRET_KEY=$(<"$data/secret_key")
export HOOKD_ALLOW_PRIVATE_TARGETS=1
export HOOKD_WEB_DIR="$PWD/web"

build/hookd migrate

# Links in the portal and in session answers point at this server.
export HOOKD_PUBLIC_URL=${HOOKD_PUBLIC_URL:-http://$listen}
export HOOKD_LISTEN=$listen
base=http://$listen

build/hookd serve &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM

api() { # method path [json body]: the answer's body, failing on 4xx/5xx
    curl -sS --fail-with-body -X "$1" \
        -H "Authorization: Bearer $HOOKD_ADMIN_KEY" \
        ${3:+-H 'Content-Type: application/json' --data "$3"} "$base$2"
}

up=""
for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" || exit $?
        exit 1
    fi
    if curl -sf "$base/healthz" >/dev/null 2>&1; then
        up=1
        break
    fi
    sleep 0.1
done
if [ -z "$up" ]; then
    echo "run: hookd did not answer on $base" >&2
    kill "$pid"
    exit 1
fi

# The Demo tenant, made once (again if its database was wiped).
demo=""
if [ -s "$data/demo_tenant" ]; then
    demo=$(<"$data/demo_tenant")
    api GET "/v1/tenants/$demo" >/dev/null 2>&1 || demo=""
fi
if [ -z "$demo" ]; then
    demo=$(api POST /v1/tenants '{"name":"Demo"}' | jq -r .id)
    echo "$demo" >"$data/demo_tenant"
fi
link=$(api POST "/v1/tenants/$demo/portal-sessions" \
    '{"ttl_seconds":86400,"scope":"write"}' | jq -r .url)

cat <<EOF

hookd is running on $base (Ctrl-C stops it)
  portal:    $link
             (the Demo tenant, for 24 hours; a new link at every start)
  admin key: $HOOKD_ADMIN_KEY
             (the portal's operator sign-in takes it too)
  try:       curl -s -H "Authorization: Bearer $HOOKD_ADMIN_KEY" $base/v1/me
PostgreSQL keeps running in $data/pg (port $port); 'make stop' stops it.

EOF
rc=0
wait "$pid" || rc=$?
# a signal ends the first wait early: wait for hookd's own exit
if kill -0 "$pid" 2>/dev/null; then
    rc=0
    wait "$pid" || rc=$?
fi
exit "$rc"
