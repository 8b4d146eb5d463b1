#!/usr/bin/env bash
# bench.sh - `make bench`: how fast hookd is on this machine, next to what
# the machine itself can do. In one run it starts a private PostgreSQL with
# PostgreSQL's stock settings, as a user's would have them (scripts/pg.sh),
# the sink (tests/bench/sink.c,
# a C receiver that answers 204 and records every webhook-id with its arrival
# time) and hookd, all on 127.0.0.1, and measures:
#
#   ceilings   raw HTTP: the load generator POSTing the event body straight
#              to the sink; raw PostgreSQL: pgbench, one single-row INSERT of
#              the same body per transaction; both over the same connections,
#              before the scenarios and again after them (ratios use the mean)
#   ingest     single-event POSTs, one matching endpoint: events/s, API p50/p99
#   sqlsend    the same events sent with hookd.send_event, one per
#              transaction, over as many pgbench clients: events/s, as a
#              ratio to the ingest scenario's of the same run
#   throughput events x 10 endpoints: deliveries/s from first to last receipt
#   latency    a fixed event rate: ingest-to-receipt p50/p99/max
#   backlog    deliveries queued while the sink is down, then it comes up:
#              drain rate and hookd's peak RSS during the drain
#   fairness   tenant A's deliveries queued to an endpoint that answers in 1 s
#              while tenant B sends a steady rate: B's ingest-to-receipt p99
#   tls_throughput, tls_backlog
#              throughput and backlog again with the endpoints on the sink's
#              HTTPS port (keep-alive; a CA made for the run, trusted through
#              HOOKD_CA_FILE): the rate as a ratio of the HTTP one of the
#              same run, CPU per delivery beside it
#   close, tls_close
#              deliveries to endpoints that close the connection after every
#              answer, over HTTP and then HTTPS (a TLS handshake for each
#              delivery, resumed sessions where the sink allows)
#   handshake  a fast HTTP endpoint's ingest-to-receipt p50/p99 alone, then
#              again while another endpoint's backlog goes to an HTTPS
#              receiver that closes every connection; and where each of the
#              fast endpoint's deliveries spent its time (hookd's debug
#              log's attempt timeline beside the sink's arrival times and
#              the events' rows): p50, p99 and the median among the slowest
#              1 % of each part. HS_FLOOD=http sends the flood to the
#              sink's HTTP side instead (a new TCP connection per delivery,
#              no TLS), SINK_TLS_NICE=n lowers the priority of the sink's
#              HTTPS threads by n: the host's share of the tail beside
#              hookd's
#   sustained  a steady event rate (SUSTAINED_RATE events/s, default 1,000,
#              each fanned out to 10 endpoints) for SUSTAINED_SECS (default
#              120): the deliveries still owed when the load stops, the time
#              to finish after it, the rate achieved and the CPU per
#              delivery; run twice, on the stock cluster and then on the same
#              cluster restarted `tuned` (autovacuum every second, as the
#              project's clusters had it), the yardstick of the same run
#
# ingest, sqlsend, throughput, backlog and sustained also report the CPU time hookd,
# PostgreSQL
# (and of that, the sessions of hookd's API, claims and records), the sink
# and the rest spent per item, what the hypervisor took meanwhile (steal),
# and the machine's idle share: a second table, steadier than rates on a
# shared host.
#
# Every scenario gets a fresh database and a fresh hookd, checks that every
# event arrived (duplicates are counted apart), and has a hard time limit.
# SCENARIO=name runs one (SCENARIO="ingest sqlsend" a few, in that order,
# for figures of one run to compare, as throughput and tls_throughput);
# QUICK=1 runs all with tiny counts (this is what
# `make test` runs: it checks only that every event arrived, never a speed).
# Results: a table on stdout, and JSON in tests/bench/results.json (a full run
# of every scenario), build/bench/results-NAME.json (a full run of one) or
# build/bench/results-quick.json (QUICK=1); the table also goes to
# build/bench/table.md and the logs of hookd, the sink, the load generator and
# PostgreSQL to build/bench/logs/. Everything started here is stopped on exit,
# whatever happens.
#
# For comparing builds and finding where PostgreSQL's time goes:
# BENCH_HOOKD=path runs that hookd binary instead of build/hookd (copy one
# aside and alternate runs of the two: hosts drift; not HOOKD_BIN, which the
# tests set to their sanitizer build around the quick run), with
# BENCH_MIGRATIONS=folder for the migrations it was built with (an older
# binary must not meet a newer schema), and STATEMENTS=1
# loads pg_stat_statements and writes each scenario's busiest statements,
# and how many times the WAL was written and flushed to disk, to
# build/bench/logs/statements-NAME.txt; such a run's results go to
# build/bench/results-statements.json, never to tests/bench/results.json.
# CEIL_HTTP_N=n and CEIL_PG_SECS=s shorten the ceilings of a run made to
# compare one scenario, and TP_EVENTS, BACKLOG_EVENTS, CLOSE_EVENTS,
# HS_QUEUED, HS_RATE and HS_SECS its size.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SCENARIO=${SCENARIO:-}
QUICK=${QUICK:-}
case $QUICK in '' | 0) QUICK= ;; *) QUICK=1 ;; esac
STATEMENTS=${STATEMENTS:-}
case $STATEMENTS in '' | 0) STATEMENTS= ;; *) STATEMENTS=1 ;; esac
BENCH_HOOKD=${BENCH_HOOKD:-build/hookd}
HS_FLOOD=${HS_FLOOD:-https}
case $HS_FLOOD in http | https) ;; *) echo "bench: HS_FLOOD must be http or https" >&2; exit 2 ;; esac
SINK_TLS_NICE=${SINK_TLS_NICE:-0}
[[ $SINK_TLS_NICE =~ ^([0-9]|1[0-9])$ ]] || { echo "bench: SINK_TLS_NICE must be 0-19" >&2; exit 2; }
# sustained last: it restarts the cluster tuned for its second half
ALL_SCENARIOS=(ingest sqlsend throughput tls_throughput latency backlog
    tls_backlog close tls_close handshake fairness sustained)

read -r -a chosen <<<"$SCENARIO"
for s in "${chosen[@]}"; do
    if [[ ! " ${ALL_SCENARIOS[*]} " == *" $s "* ]]; then
        echo "bench: unknown SCENARIO '$s' (one of: ${ALL_SCENARIOS[*]})" >&2
        exit 2
    fi
done
for b in "$BENCH_HOOKD" build/bench/sink build/bench/loadgen; do
    [ -x "$b" ] || { echo "bench: $b is missing; use 'make bench'" >&2; exit 1; }
done
for c in jq curl "$PG_BIN/pgbench"; do
    command -v "$c" >/dev/null || { echo "bench: $c is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done

# Sizes. The full ones are the issue's; QUICK ones prove the plumbing.
CONNS=32          # load generator connections, pgbench clients
BODY_BYTES=512    # the event POST body, and what the ceilings send
ENDPOINT_CONC=10  # max_concurrency of the fast endpoints (hookd's default)
SLOW_CONC=50      # max_concurrency of tenant A's slow endpoint
if [ -n "$QUICK" ]; then
    CEIL_HTTP_N=5000 CEIL_PG_SECS=2
    INGEST_N=500
    SQLSEND_RUN=(-t 4) # transactions per client: any machine does some
    TP_EVENTS=200 TP_ENDPOINTS=3
    LAT_RATE=100 LAT_SECS=3
    BACKLOG_EVENTS=500 BACKLOG_ENDPOINTS=10
    FAIR_QUEUED=200 FAIR_RATE=20 FAIR_SECS=3
    CLOSE_EVENTS=100 CLOSE_ENDPOINTS=2
    HS_QUEUED=200 HS_RATE=20 HS_SECS=2
    SUS_RATE=50 SUS_SECS=3 SUS_FANOUT=3
    LIMIT=60 # seconds per scenario
else
    CEIL_HTTP_N=${CEIL_HTTP_N:-200000} CEIL_PG_SECS=${CEIL_PG_SECS:-15}
    INGEST_N=50000
    SQLSEND_RUN=(-T 20) # seconds
    TP_EVENTS=${TP_EVENTS:-20000} TP_ENDPOINTS=10
    LAT_RATE=1000 LAT_SECS=30
    BACKLOG_EVENTS=${BACKLOG_EVENTS:-100000} BACKLOG_ENDPOINTS=10
    FAIR_QUEUED=100000 FAIR_RATE=100 FAIR_SECS=30
    CLOSE_EVENTS=${CLOSE_EVENTS:-2000} CLOSE_ENDPOINTS=5
    HS_QUEUED=${HS_QUEUED:-20000} HS_RATE=${HS_RATE:-100} HS_SECS=${HS_SECS:-20}
    SUS_RATE=${SUSTAINED_RATE:-1000} SUS_SECS=${SUSTAINED_SECS:-120} SUS_FANOUT=10
    LIMIT=1800
fi
for v in SUS_RATE SUS_SECS; do
    [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || { echo "bench: SUSTAINED_${v#SUS_} must be 1-99999" >&2; exit 2; }
done
SINK_CAP=$((BACKLOG_EVENTS * BACKLOG_ENDPOINTS + CEIL_HTTP_N + 100000))
sus_cap=$((SUS_RATE * SUS_SECS * SUS_FANOUT + 100000))
[ "$sus_cap" -le "$SINK_CAP" ] || SINK_CAP=$sus_cap
# How often the script asks the sink whether everything arrived. Rates come
# from the sink's own first and last arrival times, not from when the script
# notices, so a full run polls slowly: each poll is a few processes (curl,
# jq) taking CPU from what is being measured.
if [ -n "$QUICK" ]; then POLL_S=0.2; else POLL_S=1; fi

# hookd as a production user would run it: release build, warn-level logs,
# one API thread per client connection, as the README advises (a thread
# serves one request at a time and waits for its commit, so POSTs on more
# connections than threads queue behind one another), the dispatcher's
# default in-flight limit. Any of these set in the environment wins.
export HOOKD_LOG_LEVEL=${HOOKD_LOG_LEVEL:-warn}
export HOOKD_HTTP_THREADS=${HOOKD_HTTP_THREADS:-$CONNS}
export HOOKD_MAX_IN_FLIGHT=${HOOKD_MAX_IN_FLIGHT:-256}
[ -n "${HOOKD_DB_POOL:-}" ] && export HOOKD_DB_POOL

tmp=$(mktemp -d /tmp/hookd-bench.XXXXXX)
chmod 755 "$tmp"
logs=build/bench/logs
rm -rf "$logs"
mkdir -p "$logs"

# Every process started here leaves its pid in $tmp/*.pid, so that cleanup
# finds it even when a scenario's subshell started it.
alive() {
    local s
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
    s=${s##*) }
    [ "${s:0:1}" != Z ]
}

# Stops the process whose pid is in $1: TERM, up to 10 s, then KILL.
stop_pidfile() {
    local f=$1 pid i
    [ -s "$f" ] || return 0
    pid=$(<"$f")
    rm -f "$f"
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? f
    trap - EXIT INT TERM
    for f in "$tmp"/*.pid; do
        [ -e "$f" ] && stop_pidfile "$f"
    done
    scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
    cp "$tmp/pg/pg.log" "$logs/postgres.log" 2>/dev/null || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    local p i lo=20000 span=40000 eph
    # below the kernel's ephemeral range when there is room: a port that is
    # the local end of some outgoing connection answers nothing, yet cannot
    # be listened on
    read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=0
    if [ "${eph:-0}" -gt 12000 ]; then
        lo=10000
        span=$((eph - 10000))
    fi
    for i in $(seq 100); do
        p=$((lo + RANDOM % span))
        if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "bench: no free port found" >&2
    return 1
}

log() { echo "bench: $*" >&2; }

pgport=$(free_port)
sinkport=$(free_port)
hport=$(free_port)
tlsport=$(free_port)
while [ "$(printf '%s\n' "$pgport" "$sinkport" "$hport" "$tlsport" | sort -u | wc -l)" != 4 ]; do
    sinkport=$(free_port)
    hport=$(free_port)
    tlsport=$(free_port)
done
psql=(env PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1
    -h 127.0.0.1 -p "$pgport" -U postgres)

export HOOKD_DATABASE_URL="postgresql://postgres@127.0.0.1:$pgport/hookd_bench"
export HOOKD_LISTEN="127.0.0.1:$hport"
HOOKD_ADMIN_KEY="hk_admin_bench_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export HOOKD_ADMIN_KEY
HOOKD_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export HOOKD_SECRET_KEY
export HOOKD_ALLOW_PRIVATE_TARGETS=1
export HOOKD_MIGRATIONS_DIR=${BENCH_MIGRATIONS:-$PWD/migrations}
export HOOKD_WEB_DIR=$PWD/web
API=http://127.0.0.1:$hport
SINK=http://127.0.0.1:$sinkport
# The sink's HTTPS side, by name: SNI and the host name check as for a real
# receiver. Its certificate (ECDSA P-256, as most receivers' are now)
# comes from a CA made for this run, which hookd trusts through
# HOOKD_CA_FILE beside the system's CAs.
SINK_TLS=https://localhost:$tlsport
make_certs() {
    local d=$tmp/tls
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/CN=hookd bench CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/sink.key" -out "$d/sink.csr" -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/ext.cnf"
    openssl x509 -req -in "$d/sink.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/sink.pem" -days 2 -extfile "$d/ext.cnf" 2>/dev/null
}
make_certs
export HOOKD_CA_FILE=$tmp/tls/ca.pem

# The event body every POST sends, padded to BODY_BYTES; {{now_us}} is the
# send time the sink subtracts from the arrival time.
body_template() {
    local head='{"event_type":"bench.event","payload":{"sent_us":{{now_us}},"seq":{{seq}},"pad":"'
    local tail='"}}'
    # {{now_us}} renders as 16 digits, {{seq}} as at most 7.
    local fixed=$((${#head} + 6 + ${#tail}))
    local pad=$((BODY_BYTES - fixed))
    [ "$pad" -gt 0 ] || pad=1
    printf '%s%s%s' "$head" "$(printf 'x%.0s' $(seq "$pad"))" "$tail"
}
BODY=$(body_template)

# --- processes ----------------------------------------------------------

start_sink() {
    build/bench/sink -p "$sinkport" -t 2 -n "$SINK_CAP" -d 1000 \
        -s "$tlsport" -c "$tmp/tls/sink.pem" -k "$tmp/tls/sink.key" -N "$SINK_TLS_NICE" \
        >>"$logs/sink.log" 2>&1 &
    echo $! >"$tmp/sink.pid"
    local i
    for i in $(seq 100); do
        curl -sf "$SINK/_count" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    log "the sink does not answer on $SINK"
    return 1
}
stop_sink() { stop_pidfile "$tmp/sink.pid"; }

fresh_db() {
    "${psql[@]}" -d postgres -c 'DROP DATABASE IF EXISTS hookd_bench WITH (FORCE)' >/dev/null
    "${psql[@]}" -d postgres -c 'CREATE DATABASE hookd_bench' >/dev/null
    "$BENCH_HOOKD" migrate >>"$logs/hookd.log" 2>&1 || {
        log "hookd migrate failed:"
        tail -n 20 "$logs/hookd.log" >&2
        return 1
    }
    if [ -n "$STATEMENTS" ]; then
        "${psql[@]}" -d hookd_bench -c 'CREATE EXTENSION pg_stat_statements' \
            -c 'SELECT pg_stat_statements_reset()' \
            -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
    fi
}

# statements NAME: the scenario's busiest statements, by execution time.
statements() {
    "${psql[@]}" -d hookd_bench -P pager=off -c "
        SELECT calls, plans, rows,
               round(total_exec_time::numeric) AS exec_ms,
               round(mean_exec_time::numeric, 3) AS mean_ms,
               round((shared_blks_hit + shared_blks_read)::numeric
                     / greatest(calls, 1), 1) AS buffers_per_call,
               jit_functions AS jit_fns,
               round((jit_generation_time + jit_inlining_time
                      + jit_optimization_time + jit_emission_time)::numeric)
                   AS jit_ms,
               left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS statement
        FROM pg_stat_statements
        ORDER BY total_exec_time DESC LIMIT 15" >"$logs/statements-$1.txt"
    # how often the WAL reached the disk: every synchronous commit that
    # wrote something waits for one, unless another's covered it
    "${psql[@]}" -d hookd_bench -P pager=off -c "
        SELECT wal_records, pg_size_pretty(wal_bytes) AS wal_bytes,
               wal_write AS writes, wal_sync AS flushes
        FROM pg_stat_wal" >>"$logs/statements-$1.txt"
}

# start_hookd ROLE: serve, or api (no dispatcher), and wait until ready.
start_hookd() {
    echo "--- hookd $1" >>"$logs/hookd.log"
    "$BENCH_HOOKD" "$1" >>"$logs/hookd.log" 2>&1 &
    echo $! >"$tmp/hookd.pid"
    local i pid=$!
    for i in $(seq 200); do
        alive "$pid" || break
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    log "hookd $1 did not become ready on $API; its log ends with:"
    tail -n 20 "$logs/hookd.log" >&2
    return 1
}
stop_hookd() { stop_pidfile "$tmp/hookd.pid"; }

# hookd's peak resident memory (VmHWM), read just before it stops.
hookd_peak_rss_kb() {
    local pid
    pid=$(<"$tmp/hookd.pid")
    awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"
}

# Samples hookd's VmRSS every 200 ms into $tmp/rss.max until stopped: the
# peak while the drain runs, beside VmHWM which covers the whole life.
start_rss_sampler() {
    local pid
    pid=$(<"$tmp/hookd.pid")
    (
        max=0
        while [ -r "/proc/$pid/status" ]; do
            v=0
            while read -r k val _; do
                [ "$k" = VmRSS: ] && { v=$val; break; }
            done <"/proc/$pid/status" 2>/dev/null || true
            if [ "${v:-0}" -gt "$max" ]; then
                max=$v
                echo "$max" >"$tmp/rss.max"
            fi
            sleep 0.2
        done
    ) &
    echo $! >"$tmp/rss.pid"
}

# --- hookd API ----------------------------------------------------------

# api METHOD PATH [BODY]: the answer's body; fails unless 2xx.
api() {
    local out code
    out=$(curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $HOOKD_ADMIN_KEY" \
        -H 'Content-Type: application/json' ${3:+--data "$3"} "$API$2")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    if [[ $code != 2?? ]]; then
        log "$1 $2 answered $code: $out"
        return 1
    fi
    printf '%s' "$out"
}

make_event_type() { api POST /v1/event-types '{"name":"bench.event"}' >/dev/null; }
make_tenant() { api POST /v1/tenants "{\"name\":\"$1\"}" | jq -r .id; }
# make_endpoint TENANT PATH CONCURRENCY [BASE]: at the sink's HTTP side,
# or at BASE ($SINK_TLS for its HTTPS side)
make_endpoint() {
    api POST "/v1/tenants/$1/endpoints" \
        "{\"url\":\"${4:-$SINK}$2\",\"event_types\":[\"bench.event\"],\"max_concurrency\":$3}" >/dev/null
}

# --- measuring ----------------------------------------------------------

# left: seconds until this scenario's deadline (at least 1).
left() {
    local l=$((deadline - SECONDS))
    [ "$l" -gt 0 ] || l=1
    echo "$l"
}

# loadgen ARGS...: runs the load generator within the deadline; its JSON.
loadgen() {
    timeout "$(left)" build/bench/loadgen -c "$CONNS" -b "$BODY" "$@" 2>>"$logs/loadgen.log" || {
        local rc=$?
        [ "$rc" = 3 ] && return 0 # some answers were not 2xx: the JSON says so
        log "loadgen failed (exit $rc); its log ends with:"
        tail -n 5 "$logs/loadgen.log" >&2
        return 1
    }
}

sink_count() {
    curl -sf "$SINK/_count" | jq --arg p "/$1/" '[.paths | to_entries[] | select(.key | startswith($p)) | .value] | add // 0'
}
sink_stats() { curl -sf --max-time 120 "$SINK/_stats"; }

# wait_for GROUP EXPECTED: waits (within the deadline) until the sink has
# received EXPECTED distinct deliveries under /GROUP/; prints the group's
# stats. Fails when time runs out, with what did arrive.
wait_for() {
    local group=$1 want=$2 n st uniq
    while :; do
        n=$(sink_count "$group")
        if [ "$n" -ge "$want" ]; then
            st=$(sink_stats | jq --arg g "$group" '.groups[$g]')
            uniq=$(jq .unique <<<"$st")
            if [ "$uniq" -ge "$want" ]; then
                printf '%s' "$st"
                return 0
            fi
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$group: only $n of $want deliveries arrived within the time limit"
            sink_stats | jq --arg g "$group" '.groups[$g] // {}' >"$tmp/last-$group.json"
            return 1
        fi
        sleep "$POLL_S"
    done
}

# check_loadgen JSON WHAT: every request was accepted.
check_loadgen() {
    local ok req
    ok=$(jq .ok <<<"$1")
    req=$(jq .requests <<<"$1")
    if [ "$ok" != "$req" ]; then
        log "$2: only $ok of $req POSTs were accepted: $(jq -c .status <<<"$1")"
        return 1
    fi
}

# --- ceilings -----------------------------------------------------------

# The ceilings are measured before the scenarios and again after them
# (WHEN is start or end): on a shared host they move by tens of percent in
# a few minutes, and the ratios use the mean of the two.
ceiling_http() {
    log "ceiling ($1): raw HTTP, $CEIL_HTTP_N POSTs of $BODY_BYTES bytes over $CONNS connections to the sink"
    curl -sf -X POST "$SINK/_reset" >/dev/null
    loadgen -u "$SINK/raw/0" -n "$CEIL_HTTP_N" >"$tmp/ceiling-http-$1.json"
    check_loadgen "$(<"$tmp/ceiling-http-$1.json")" "raw HTTP ceiling"
}

# pgbench's "tps = N (without initial connection time)" and
# "latency average = N ms" lines, as JSON.
pgbench_json() {
    local tps lat
    tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$1" | tail -n 1)
    lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$1" | tail -n 1)
    if [ -z "$tps" ] || [ -z "$lat" ]; then
        log "pgbench printed no result:"
        cat "$1" >&2
        return 1
    fi
    jq -n --argjson tps "$tps" --argjson lat "$lat" '{tps: $tps, latency_ms: $lat}'
}

# pgbench_ceiling NAME CLIENTS SECS: pgbench's JSON (output in
# $tmp/NAME.out). A run so short, on a host so busy, that no transaction
# ended (the clients were still connecting) is run once more, four times
# as long, rather than failing the whole benchmark.
pgbench_ceiling() {
    local out=$tmp/$1.out secs=$3 _
    local pgb=("$PG_BIN/pgbench" -n -M extended -h 127.0.0.1 -p "$pgport" -U postgres
        -f "$tmp/ceiling.sql" -c "$2" -j "$(($2 < 2 ? 1 : 2))")
    for _ in 1 2; do
        timeout 120 "${pgb[@]}" -T "$secs" bench_ceiling >"$out" 2>&1 ||
            { log "pgbench failed:"; cat "$out" >&2; return 1; }
        grep -q '^tps = ' "$out" && break
        secs=$((secs * 4))
    done
    pgbench_json "$out"
}

ceiling_pg() {
    log "ceiling ($1): raw PostgreSQL, single-row INSERT transactions over $CONNS connections, ${CEIL_PG_SECS}s"
    "${psql[@]}" -d postgres -c 'DROP DATABASE IF EXISTS bench_ceiling WITH (FORCE)' >/dev/null
    "${psql[@]}" -d postgres -c 'CREATE DATABASE bench_ceiling' >/dev/null
    "${psql[@]}" -d bench_ceiling -c 'CREATE TABLE ceiling (id bigserial PRIMARY KEY,
        payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())' >/dev/null
    # The same bytes the event POST carries; the body holds no quote.
    local row=${BODY//\{\{now_us\}\}/1700000000000000}
    row=${row//\{\{seq\}\}/0}
    printf "INSERT INTO ceiling (payload) VALUES ('%s');\n" "$row" >"$tmp/ceiling.sql"
    pgbench_ceiling pgbench "$CONNS" "$CEIL_PG_SECS" >"$tmp/ceiling-pg-$1.json"
    # One client: the latency of a single commit, the floor under every
    # event's path (it commits at ingest and again when it is claimed).
    pgbench_ceiling pgbench1 1 $(((CEIL_PG_SECS + 1) / 2)) >"$tmp/ceiling-pg1-$1.json"
    "${psql[@]}" -d postgres -c 'DROP DATABASE bench_ceiling WITH (FORCE)' >/dev/null
}

# --- where the CPU goes --------------------------------------------------
# Rates on a shared host move with the host; CPU time per delivery moves
# less and shows which part a change moved, so each throughput-like
# scenario also reports what hookd, PostgreSQL, the sink and the rest (the
# load generator, this script, kernel threads) spent per item, what the
# hypervisor took from the cores meanwhile (steal: on a shared host it
# was counted in the rest before it had a column of its own), and how much
# of the machine stayed idle. PostgreSQL's time is also split by the part
# of hookd its sessions serve: the API's, the claimer's, the recorder's.

CLK_TCK=$(getconf CLK_TCK)

# stat_fields FILE: the caller's array f gets the fields of a /proc stat
# file from field 3 (state) on: f[11] and f[12] are utime and stime, f[13]
# and f[14] the reaped children's, f[1] the parent pid. False when gone.
stat_fields() {
    local s
    { read -r s <"$1"; } 2>/dev/null || return 1
    s=${s##*) }
    read -r -a f <<<"$s"
}

# ticks PID: its user + system time in clock ticks (0 when it is gone).
ticks() {
    local -a f
    if stat_fields "/proc/$1/stat"; then echo $((f[11] + f[12])); else echo 0; fi
}

# pg_ticks: the cluster's CPU so far: the postmaster (with the children it
# has reaped, so short-lived workers count too) and its children alive now.
pg_ticks() {
    local pm total st
    local -a f
    pm=$(head -n 1 "$tmp/pg/pgdata/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    stat_fields "/proc/$pm/stat" || { echo 0; return; }
    total=$((f[11] + f[12] + f[13] + f[14]))
    for st in /proc/[0-9]*/stat; do
        stat_fields "$st" || continue
        [ "${f[1]}" = "$pm" ] && total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

pid_ticks() { # PIDFILE
    if [ -s "$1" ]; then ticks "$(<"$1")"; else echo 0; fi
}

# part_ticks: "api claimer recorder", the CPU so far of the PostgreSQL
# sessions serving each part of hookd (its connections name the part they
# serve in application_name), 0 for a part with no session now.
part_ticks() {
    local pid name api=0 claimer=0 recorder=0 t
    while IFS='|' read -r pid name; do
        t=$(ticks "$pid")
        case $name in
        'hookd api') api=$((api + t)) ;;
        'hookd claimer') claimer=$((claimer + t)) ;;
        'hookd recorder') recorder=$((recorder + t)) ;;
        esac
    done < <("${psql[@]}" -d postgres -At -c "SELECT pid, application_name
        FROM pg_stat_activity WHERE application_name LIKE 'hookd %'" 2>/dev/null || true)
    echo "$api $claimer $recorder"
}

# cpu_snap: "hookd postgres sink busy idle api claimer recorder steal", in
# clock ticks; busy (steal included), idle and steal are the whole
# machine's (all cores), api, claimer and recorder PostgreSQL's sessions
# for hookd's API, claims and records (part_ticks).
cpu_snap() {
    local c user nice sys idle iow irq sirq steal rest
    read -r c user nice sys idle iow irq sirq steal rest </proc/stat
    echo "$(pid_ticks "$tmp/hookd.pid") $(pg_ticks) $(pid_ticks "$tmp/sink.pid")" \
        "$((user + nice + sys + irq + sirq + steal)) $((idle + iow)) $(part_ticks)" \
        "$steal"
}

# cpu_json "SNAP0" "SNAP1" ITEMS WHAT: microseconds of CPU per item.
cpu_json() {
    jq -n --arg a "$1" --arg b "$2" --argjson n "$3" --arg per "$4" \
        --argjson hz "$CLK_TCK" '
        ($a | split(" ") | map(tonumber)) as $x |
        ($b | split(" ") | map(tonumber)) as $y |
        [range(9)] | map([$y[.] - $x[.], 0] | max) as $d |
        (1e6 / $hz / (if $n > 0 then $n else 1 end)) as $us |
        def r(v): (v * 10 | round) / 10;
        {per: $per, items: $n,
         hookd_us: r($d[0] * $us), postgres_us: r($d[1] * $us),
         postgres_parts_us: {api: r($d[5] * $us), claims: r($d[6] * $us),
                             records: r($d[7] * $us)},
         sink_us: r($d[2] * $us),
         rest_us: r([($d[3] - $d[8] - $d[0] - $d[1] - $d[2]), 0] | max * $us),
         steal_us: r($d[8] * $us),
         idle_pct: (if $d[3] + $d[4] > 0
                    then r($d[4] * 100 / ($d[3] + $d[4])) else null end)}'
}

# --- scenarios ----------------------------------------------------------
# Each runs in its own subshell with its own deadline, writes its figures
# to $tmp/result-NAME.json, and fails when an event did not arrive.

# The role defaults to serve; a scenario may pass another.
# shellcheck disable=SC2120
setup() {
    curl -sf -X POST "$SINK/_reset" >/dev/null
    fresh_db
    start_hookd "${1:-serve}"
    make_event_type
}

scenario_ingest() {
    setup
    local t lg st c0 cpu
    t=$(make_tenant bench-ingest)
    make_endpoint "$t" /ingest/0 "$ENDPOINT_CONC"
    log "ingest: $INGEST_N single-event POSTs over $CONNS connections"
    c0=$(cpu_snap)
    lg=$(loadgen -u "$API/v1/tenants/$t/events" -a "$HOOKD_ADMIN_KEY" -n "$INGEST_N")
    check_loadgen "$lg" ingest
    st=$(wait_for ingest "$INGEST_N")
    cpu=$(cpu_json "$c0" "$(cpu_snap)" "$INGEST_N" "event posted and delivered")
    stop_hookd
    jq -n --argjson lg "$lg" --argjson st "$st" --argjson cpu "$cpu" '{
        cpu: $cpu,
        events: $lg.requests, accepted: $lg.ok, accepted_per_s: ($lg.ok / $lg.duration_s),
        api_latency_ms: $lg.latency_ms, status: $lg.status,
        received: $st.total, unique: $st.unique, duplicates: $st.duplicates}' \
        >"$tmp/result-ingest.json"
}

# The ingest scenario's events, sent from SQL: each pgbench client commits
# one hookd.send_event per transaction, as an application would beside its
# own writes, for SQLSEND_RUN with the dispatchers woken at each commit
# (the default) and as long again without (wake_dispatchers 0: PostgreSQL
# commits one notifying transaction at a time). The payload is the one the
# POSTs carry (no send time: the sink leaves it out of its latencies).
scenario_sqlsend() {
    setup
    local t payload wake n out st c0 cpu res=()
    t=$(make_tenant bench-sqlsend)
    make_endpoint "$t" /sqlsend/0 "$ENDPOINT_CONC"
    payload=${BODY#*\"payload\":}
    payload=${payload%\}}
    payload=${payload//\{\{now_us\}\}/0}
    payload=${payload//\{\{seq\}\}/0}
    printf "SELECT hookd.send_event(:tid::uuid, 'bench.event', '%s');\n" "$payload" >"$tmp/sqlsend.sql"
    for wake in 1 0; do
        "${psql[@]}" -d hookd_bench -c "UPDATE hookd.settings SET value = $wake WHERE name = 'wake_dispatchers'"
        log "sqlsend: hookd.send_event transactions over $CONNS connections (pgbench ${SQLSEND_RUN[*]}), wake_dispatchers $wake"
        c0=$(cpu_snap)
        timeout "$(left)" "$PG_BIN/pgbench" -n -M extended -h 127.0.0.1 -p "$pgport" -U postgres \
            -f "$tmp/sqlsend.sql" -D "tid=$t" -c "$CONNS" -j 2 "${SQLSEND_RUN[@]}" hookd_bench \
            >"$tmp/sqlsend-$wake.out" 2>&1 ||
            { log "pgbench failed:"; tail -n 20 "$tmp/sqlsend-$wake.out" >&2; return 1; }
        out=$(pgbench_json "$tmp/sqlsend-$wake.out")
        n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$tmp/sqlsend-$wake.out")
        st=$(wait_for sqlsend "$n")
        cpu=$(cpu_json "$c0" "$(cpu_snap)" "$(jq .total <<<"$st")" "event sent and delivered")
        res+=("$(jq -n --argjson out "$out" --argjson st "$st" --argjson cpu "$cpu" '{
            cpu: $cpu, sent_per_s: $out.tps, transaction_ms: $out.latency_ms,
            received: $st.total, unique: $st.unique, duplicates: $st.duplicates}')")
        # each phase counts its own deliveries
        curl -sf -X POST "$SINK/_reset" >/dev/null
    done
    stop_hookd
    jq -n --argjson on "${res[0]}" --argjson off "${res[1]}" '$on + {cpu: $on.cpu,
        without_wake_up: $off}' >"$tmp/result-sqlsend.json"
}

# throughput_run NAME GROUP EVENTS ENDPOINTS [BASE]: EVENTS events to
# ENDPOINTS endpoints under /GROUP/ (at BASE, default the sink's HTTP side),
# rate from first to last receipt, CPU per delivery.
throughput_run() {
    setup
    local name=$1 group=$2 events=$3 endpoints=$4 base=${5:-$SINK}
    local t i lg st c0 cpu want=$((events * endpoints))
    t=$(make_tenant "bench-$name")
    for i in $(seq 0 $((endpoints - 1))); do
        make_endpoint "$t" "/$group/$i" "$ENDPOINT_CONC" "$base"
    done
    log "$name: $events events x $endpoints endpoints = $want deliveries to $base/$group/"
    c0=$(cpu_snap)
    lg=$(loadgen -u "$API/v1/tenants/$t/events" -a "$HOOKD_ADMIN_KEY" -n "$events")
    check_loadgen "$lg" "$name"
    st=$(wait_for "$group" "$want")
    cpu=$(cpu_json "$c0" "$(cpu_snap)" "$want" "delivery, ingest included")
    stop_hookd
    jq -n --argjson lg "$lg" --argjson st "$st" --argjson want "$want" \
        --argjson cpu "$cpu" '{
        cpu: $cpu,
        events: $lg.ok, endpoints: ($want / $lg.ok), deliveries: $want,
        received: $st.total, unique: $st.unique, duplicates: $st.duplicates,
        first_to_last_s: $st.span_s, deliveries_per_s: $st.per_s,
        ingest_per_s: ($lg.ok / $lg.duration_s)}' >"$tmp/result-$name.json"
}

scenario_throughput() { throughput_run throughput tp "$TP_EVENTS" "$TP_ENDPOINTS"; }
scenario_tls_throughput() {
    throughput_run tls_throughput tps "$TP_EVENTS" "$TP_ENDPOINTS" "$SINK_TLS"
}
# Receivers that close the connection after every answer (the sink does so
# under /close…): a new connection, and over HTTPS a handshake, for each.
scenario_close() { throughput_run close close "$CLOSE_EVENTS" "$CLOSE_ENDPOINTS"; }
scenario_tls_close() {
    throughput_run tls_close closes "$CLOSE_EVENTS" "$CLOSE_ENDPOINTS" "$SINK_TLS"
}

scenario_latency() {
    setup
    local t lg st want=$((LAT_RATE * LAT_SECS))
    t=$(make_tenant bench-latency)
    make_endpoint "$t" /lat/0 "$ENDPOINT_CONC"
    log "latency: $LAT_RATE events/s for ${LAT_SECS}s"
    lg=$(loadgen -u "$API/v1/tenants/$t/events" -a "$HOOKD_ADMIN_KEY" -r "$LAT_RATE" -s "$LAT_SECS")
    check_loadgen "$lg" latency
    st=$(wait_for lat "$want")
    stop_hookd
    jq -n --argjson lg "$lg" --argjson st "$st" --argjson rate "$LAT_RATE" '{
        offered_per_s: $rate, sent_per_s: $lg.per_s, late_sends: $lg.late,
        events: $lg.ok, received: $st.total, unique: $st.unique, duplicates: $st.duplicates,
        ingest_to_receipt_ms: $st.latency_ms, api_latency_ms: $lg.latency_ms}' \
        >"$tmp/result-latency.json"
}

# The queue is built by hookd's API role alone while the sink is down, so
# no attempt is made (and none fails into the retry schedule) before the
# drain; then the sink comes up and `hookd serve` starts on that backlog.
# backlog_run NAME GROUP [BASE]: the drain to endpoints under /GROUP/ at
# BASE (default the sink's HTTP side).
backlog_run() {
    local name=$1 group=$2 base=${3:-$SINK}
    stop_sink
    fresh_db
    start_hookd api
    make_event_type
    local t i lg st want=$((BACKLOG_EVENTS * BACKLOG_ENDPOINTS)) t0 t1 hwm rss c0 cpu
    t=$(make_tenant "bench-$name")
    for i in $(seq 0 $((BACKLOG_ENDPOINTS - 1))); do
        make_endpoint "$t" "/$group/$i" "$ENDPOINT_CONC" "$base"
    done
    log "$name: queueing $BACKLOG_EVENTS events x $BACKLOG_ENDPOINTS endpoints = $want deliveries to $base/$group/, sink down"
    lg=$(loadgen -u "$API/v1/tenants/$t/events" -a "$HOOKD_ADMIN_KEY" -n "$BACKLOG_EVENTS")
    check_loadgen "$lg" "$name"
    stop_hookd
    start_sink
    log "$name: sink up, draining"
    t0=$(date +%s%6N)
    c0=$(cpu_snap) # hookd is not running: all of its time counts
    start_hookd serve
    start_rss_sampler
    st=$(wait_for "$group" "$want")
    cpu=$(cpu_json "$c0" "$(cpu_snap)" "$want" "delivery")
    t1=$(jq .last_us <<<"$st")
    hwm=$(hookd_peak_rss_kb)
    stop_pidfile "$tmp/rss.pid"
    rss=$(cat "$tmp/rss.max" 2>/dev/null || echo 0)
    stop_hookd
    jq -n --argjson lg "$lg" --argjson st "$st" --argjson want "$want" \
        --argjson t0 "$t0" --argjson t1 "$t1" --argjson hwm "${hwm:-0}" --argjson rss "$rss" \
        --argjson cpu "$cpu" '{
        cpu: $cpu,
        deliveries: $want, queue_ingest_per_s: ($lg.ok / $lg.duration_s),
        received: $st.total, unique: $st.unique, duplicates: $st.duplicates,
        first_to_last_s: $st.span_s, drain_per_s: $st.per_s,
        start_to_last_s: (($t1 - $t0) / 1e6),
        peak_rss_mb: ((if $hwm > $rss then $hwm else $rss end) / 1024)}' \
        >"$tmp/result-$name.json"
}

scenario_backlog() { backlog_run backlog backlog; }
scenario_tls_backlog() { backlog_run tls_backlog tlsbacklog "$SINK_TLS"; }

# A's endpoint (/slow/…) answers after 1 s; A's queue is posted first, then
# B sends a steady rate to a fast endpoint while A's backlog is being sent.
scenario_fairness() {
    setup
    local a b lga lgb stb sta
    a=$(make_tenant bench-fair-a)
    b=$(make_tenant bench-fair-b)
    make_endpoint "$a" /slow/a "$SLOW_CONC"
    make_endpoint "$b" /fair/b "$ENDPOINT_CONC"
    log "fairness: tenant A queues $FAIR_QUEUED deliveries to a 1 s endpoint"
    lga=$(loadgen -u "$API/v1/tenants/$a/events" -a "$HOOKD_ADMIN_KEY" -n "$FAIR_QUEUED")
    check_loadgen "$lga" "fairness (tenant A)"
    log "fairness: tenant B sends $FAIR_RATE events/s for ${FAIR_SECS}s"
    lgb=$(loadgen -u "$API/v1/tenants/$b/events" -a "$HOOKD_ADMIN_KEY" -r "$FAIR_RATE" -s "$FAIR_SECS")
    check_loadgen "$lgb" "fairness (tenant B)"
    stb=$(wait_for fair "$((FAIR_RATE * FAIR_SECS))")
    # A's whole queue takes FAIR_QUEUED / SLOW_CONC seconds: waited for in
    # QUICK runs only; a full run reports how much of it had arrived.
    if [ -n "$QUICK" ]; then
        sta=$(wait_for slow "$FAIR_QUEUED")
    else
        sta=$(sink_stats | jq '.groups.slow // {total: 0, unique: 0, duplicates: 0}')
    fi
    stop_hookd
    jq -n --argjson lgb "$lgb" --argjson stb "$stb" --argjson sta "$sta" \
        --argjson queued "$FAIR_QUEUED" --argjson rate "$FAIR_RATE" '{
        a_queued: $queued, a_received: $sta.total, a_unique: $sta.unique,
        b_offered_per_s: $rate, b_events: $lgb.ok,
        b_received: $stb.total, b_unique: $stb.unique, duplicates: ($stb.duplicates + $sta.duplicates),
        b_ingest_to_receipt_ms: $stb.latency_ms}' >"$tmp/result-fairness.json"
}

# hs_parts GROUP: where the time of each delivery under /GROUP/ went,
# from the load generator's send to the sink's arrival and on to hookd's
# collecting the answer, lined up by webhook-id (the event's id) from three
# clocks of this host: the sink's records, the events' rows and hookd's
# debug-level "attempt timeline" and "ingest timeline" lines
# ($tmp/timeline.jsonl, $tmp/ingest.jsonl). The parts:
#   api          sent -> the event's transaction began (the API's own
#                   time, the tenant's rate-limit take included), made of
#     to_handler   sent -> hookd's handler began (the request read whole)
#     limit        -> the tenant's rate let the event go to be written (a
#                     take of tokens by a statement of its own included)
#     to_write     -> its transaction began (the hand-over to the group
#                     writer, the group before it)
#   to_claim     -> the claim that brought it began (the ingest's commit,
#                   the wake-up, the claimer finishing the claim before)
#   claim        -> that claim returned (the claim statement)
#   to_send      -> handed to a send thread (the claimed queue, the lane)
#   send_queue   -> the send thread signed it and gave it to libcurl
#   to_receiver  -> it arrived at the sink (libcurl, the network, the
#                   sink's reading)
#   answer       -> libcurl had the answer (the sink's answering, the way
#                   back, the send thread's noticing)
#   collect      -> the dispatcher took the finished attempt
#   commit       the event's transaction began -> its answer was ready
#                   (the statement and its synchronous commit)
# end_to_end is the scenario's latency (sent -> arrival), the sum of api,
# to_claim, claim, to_send, send_queue and to_receiver; connect (TCP and
# TLS) and ttfb are libcurl's own phases of the same attempts. Each part:
# p50, p99, and its median among the slowest 1 % by end_to_end (where the
# tail sits); then api again for the events whose token the process held
# and for those that took a batch ("own": a statement of its own before
# the event's, "with_event": the statement that wrote the event). In
# milliseconds.
hs_parts() {
    curl -sf --max-time 60 "$SINK/_records?group=$1" >"$tmp/records-$1.json"
    cp "$tmp/records-$1.json" "$logs/records-$1.json"
    jq -n --slurpfile r "$tmp/records-$1.json" --slurpfile c "$tmp/created.json" \
        --slurpfile t "$tmp/timeline.jsonl" --slurpfile g "$tmp/ingest.jsonl" '
        def pct(p): map(select(. != null)) | sort | if length == 0 then null
            else .[(p * (length - 1) + 0.5) | floor] / 1000 end;
        ["end_to_end", "api", "to_handler", "limit", "to_write", "to_claim", "claim",
         "to_send", "send_queue", "to_receiver", "answer", "collect", "commit", "connect",
         "ttfb"] as $parts
        | ($c[0] // [] | map({key: .[0], value: .[1]}) | from_entries) as $made
        | (reduce $t[] as $x ({}; if .[$x.event_id] then . else .[$x.event_id] = $x end)) as $tl
        | (reduce $g[] as $x ({}; .[$x.event_id] = $x)) as $ig
        | [$r[0][] | . as [$id, $sent, $arr] | ($tl[$id] // null) as $x
           | select($x != null and $made[$id] != null and $sent > 0)
           | ($x | with_entries(select(.key | endswith("_us")) | .value |= tonumber)) as $u
           | ($ig[$id] // null) as $i
           | ($i // {} | with_entries(select(.key | endswith("_us")) | .value |= tonumber)) as $iu
           | {end_to_end: ($arr - $sent), api: ($made[$id] - $sent),
              to_handler: (if $i then $iu.handler_us - $sent else null end),
              limit: (if $i then $iu.limited_us - $iu.handler_us else null end),
              to_write: (if $i then $made[$id] - $iu.limited_us else null end),
              commit: (if $i then $iu.answered_us - $made[$id] else null end),
              take: ($i.take // null),
              to_claim: ($u.claim_began_us - $made[$id]),
              claim: ($u.claimed_us - $u.claim_began_us), to_send: ($u.added_us - $u.claimed_us),
              send_queue: ($u.started_us - $u.added_us), to_receiver: ($arr - $u.started_us),
              answer: ($u.answered_us - $arr), collect: ($u.collected_us - $u.answered_us),
              connect: ($u.connect_us + $u.tls_us), ttfb: $u.ttfb_us}] as $rows
        | ($rows | map(.end_to_end) | sort | .[((length - 1) * 0.99) | floor] // 0) as $cut
        | ($rows | map(select(.end_to_end >= $cut))) as $slow
        | {n: ($rows | length), slowest: ($slow | length),
           parts: ([$parts[] as $k | {part: $k, p50: ($rows | map(.[$k]) | pct(0.5)),
                    p99: ($rows | map(.[$k]) | pct(0.99)),
                    slowest_p50: ($slow | map(.[$k]) | pct(0.5))}]
                   + [$rows | map(select(.take != null)) | group_by(.take)[]
                      | {part: "api, token \(.[0].take) (\(length))",
                         p50: (map(.api) | pct(0.5)), p99: (map(.api) | pct(0.99)),
                         slowest_p50: null}])}'
}

# A fast HTTP endpoint (/alone/, then /beside/) at a steady rate: first by
# itself, then while another tenant's backlog (queued meanwhile by the API
# role) goes to an HTTPS endpoint
# that closes every connection (/closeh/; the sink's HTTP side with
# HS_FLOOD=http), so that the dispatcher makes a TLS handshake (or a TCP
# connection) for each of those deliveries meanwhile. hookd logs at debug
# level here, for the attempt timelines hs_parts reads.
scenario_handshake() {
    export HOOKD_LOG_LEVEL=debug
    local from
    touch "$logs/hookd.log"
    from=$(($(wc -l <"$logs/hookd.log") + 1))
    setup
    local a b b2 lg1 lg2 lga st1 st2 sta pa pb c0 t0 cpu1 cpu2 from2 turns n=$((HS_RATE * HS_SECS)) flood=$SINK_TLS
    [ "$HS_FLOOD" = http ] && flood=$SINK
    a=$(make_tenant bench-hs-a)
    b=$(make_tenant bench-hs-b)
    b2=$(make_tenant bench-hs-b2)
    make_endpoint "$b" /alone/b "$ENDPOINT_CONC"
    make_endpoint "$b2" /beside/b "$ENDPOINT_CONC"
    log "handshake: the HTTP endpoint alone, $HS_RATE events/s for ${HS_SECS}s"
    c0=$(cpu_snap)
    t0=$(date +%s%3N)
    lg1=$(loadgen -u "$API/v1/tenants/$b/events" -a "$HOOKD_ADMIN_KEY" -r "$HS_RATE" -s "$HS_SECS")
    cpu1=$(cpu_json "$c0" "$(cpu_snap)" "$(($(date +%s%3N) - t0))" "millisecond of the phase")
    check_loadgen "$lg1" "handshake (alone)"
    st1=$(wait_for alone "$n")
    # The closing receiver's queue is built by the API role alone, so that
    # it is all still owed when the fast endpoint's second phase starts
    # (over plain HTTP it would drain as fast as it is posted).
    stop_hookd
    start_hookd api
    make_endpoint "$a" /closeh/a "$ENDPOINT_CONC" "$flood"
    log "handshake: $HS_QUEUED deliveries queued to an $HS_FLOOD endpoint that closes every connection"
    lga=$(loadgen -u "$API/v1/tenants/$a/events" -a "$HOOKD_ADMIN_KEY" -n "$HS_QUEUED")
    check_loadgen "$lga" "handshake (closing $HS_FLOOD endpoint)"
    stop_hookd
    from2=$(($(wc -l <"$logs/hookd.log") + 1))
    start_hookd serve
    log "handshake: the HTTP endpoint again, beside the handshakes"
    c0=$(cpu_snap)
    t0=$(date +%s%3N)
    lg2=$(loadgen -u "$API/v1/tenants/$b2/events" -a "$HOOKD_ADMIN_KEY" -r "$HS_RATE" -s "$HS_SECS")
    cpu2=$(cpu_json "$c0" "$(cpu_snap)" "$(($(date +%s%3N) - t0))" "millisecond of the phase")
    check_loadgen "$lg2" "handshake (beside)"
    st2=$(wait_for beside "$n")
    sta=$(sink_stats | jq '.groups.closeh // {total: 0, unique: 0, duplicates: 0, per_s: 0}')
    if [ -n "$QUICK" ]; then
        sta=$(wait_for closeh "$HS_QUEUED")
    fi
    stop_hookd
    tail -n "+$from" "$logs/hookd.log" | grep -F '"msg":"attempt timeline"' >"$tmp/timeline.jsonl" || true
    tail -n "+$from" "$logs/hookd.log" | grep -F '"msg":"ingest timeline"' >"$tmp/ingest.jsonl" || true
    # the claimer's turns of 20 ms or more beside the flood (each claim
    # waits for the turn before it), the slowest with its steps
    turns=$(tail -n "+$from2" "$logs/hookd.log" | { grep -F '"msg":"slow claimer turn"' || true; } |
        jq -s 'map(with_entries(select(.key | endswith("_ms")) | .value |= tonumber))
            | {n: length, slowest: (max_by(.turn_ms) // null)}')
    "${psql[@]}" -d hookd_bench -At -c "SELECT coalesce(json_agg(json_build_array(id,
        (extract(epoch FROM created_at) * 1000000)::bigint)), '[]') FROM hookd.events" >"$tmp/created.json"
    pa=$(hs_parts alone)
    pb=$(hs_parts beside)
    jq -n --argjson st1 "$st1" --argjson st2 "$st2" --argjson sta "$sta" --argjson pa "$pa" \
        --argjson pb "$pb" --argjson lg1 "$lg1" --argjson lg2 "$lg2" \
        --argjson cpu1 "$cpu1" --argjson cpu2 "$cpu2" --argjson turns "$turns" \
        --argjson queued "$HS_QUEUED" --argjson rate "$HS_RATE" \
        --arg flood "$HS_FLOOD" --argjson nice "$SINK_TLS_NICE" '{
        offered_per_s: $rate, flood: $flood, sink_tls_nice: $nice,
        tls_queued: $queued, tls_received: $sta.total,
        tls_per_s: $sta.per_s,
        flood_overlap_s: ((([$sta.last_us // 0, $st2.last_us] | min)
                           - ([$sta.first_us // 0, $st2.first_us] | max)) / 1e6
                          | if . < 0 then 0 else . end),
        beside_span_s: $st2.span_s,
        duplicates: ($st1.duplicates + $st2.duplicates + $sta.duplicates),
        alone_ms: $st1.latency_ms, beside_ms: $st2.latency_ms,
        alone_api_ms: $lg1.latency_ms, beside_api_ms: $lg2.latency_ms,
        alone_parts_ms: $pa, beside_parts_ms: $pb, beside_slow_turns: $turns,
        alone_cpu: $cpu1, beside_cpu: $cpu2}' \
        >"$tmp/result-handshake.json"
}

# pg_mode MODE: restarts the cluster with scripts/pg.sh's MODE (tuned, or
# empty for stock) on the same port and folder; $tmp/pg.tuned marks a tuned
# cluster, so that the loop puts it back to stock after a failure.
pg_mode() {
    scripts/pg.sh stop "$tmp/pg" >/dev/null
    scripts/pg.sh start "$tmp/pg" "$pgport" ${1:+"$1"} >/dev/null
    if [ "$1" = tuned ]; then touch "$tmp/pg.tuned"; else rm -f "$tmp/pg.tuned"; fi
}

# The hot tables' row counts and vacuums so far, as JSON: what autovacuum
# (or hookd) left of the churn when the load stopped.
table_stats() {
    "${psql[@]}" -d hookd_bench -At -c "
        SELECT coalesce(json_object_agg(relname, json_build_object(
            'live', n_live_tup, 'dead', n_dead_tup, 'vacuums', vacuum_count,
            'autovacuums', autovacuum_count)), '{}')
        FROM pg_stat_user_tables
        WHERE schemaname = 'hookd' AND relname IN ('queue', 'leases', 'deliveries')"
}

# sustained_phase GROUP: SUS_RATE events/s for SUS_SECS to one tenant with
# SUS_FANOUT endpoints under /GROUP/; the figures go to $tmp/sus-GROUP.json.
sustained_phase() {
    local g=$1 t i lg st c0 cpu t_end got want owed stats
    setup
    t=$(make_tenant "bench-sustained-$g")
    for i in $(seq 0 $((SUS_FANOUT - 1))); do
        make_endpoint "$t" "/$g/$i" "$ENDPOINT_CONC"
    done
    log "sustained ($g): $SUS_RATE events/s x $SUS_FANOUT endpoints for ${SUS_SECS}s"
    c0=$(cpu_snap)
    lg=$(loadgen -u "$API/v1/tenants/$t/events" -a "$HOOKD_ADMIN_KEY" -r "$SUS_RATE" -s "$SUS_SECS")
    t_end=$(date +%s%6N)
    got=$(sink_count "$g")
    stats=$(table_stats)
    check_loadgen "$lg" "sustained ($g)"
    want=$(($(jq .ok <<<"$lg") * SUS_FANOUT))
    owed=$((want - got))
    [ "$owed" -ge 0 ] || owed=0
    log "sustained ($g): load stopped with $owed of $want deliveries owed"
    st=$(wait_for "$g" "$want")
    cpu=$(cpu_json "$c0" "$(cpu_snap)" "$want" "delivery, ingest included")
    stop_hookd
    jq -n --argjson lg "$lg" --argjson st "$st" --argjson want "$want" \
        --argjson owed "$owed" --argjson t_end "$t_end" --argjson cpu "$cpu" \
        --argjson rate "$SUS_RATE" --argjson fan "$SUS_FANOUT" --argjson secs "$SUS_SECS" \
        --argjson tables "$stats" '{
        cpu: $cpu,
        events_per_s: $rate, endpoints: $fan, seconds: $secs,
        asked_per_s: ($rate * $fan), sent_per_s: $lg.per_s, late_sends: $lg.late,
        deliveries: $want, received: $st.total, unique: $st.unique,
        duplicates: $st.duplicates,
        owed_at_stop: $owed,
        finished_after_s: ([($st.last_us - $t_end) / 1e6, 0] | max),
        deliveries_per_s: $st.per_s,
        tables_at_stop: $tables}' >"$tmp/sus-$g.json"
    # kept in the logs too: a later failure loses the run's results
    cp "$tmp/sus-$g.json" "$logs/sustained-$g.json"
    log "sustained ($g): $(jq -r '"done \(.finished_after_s * 10 | round / 10) s after the stop, \(.deliveries_per_s | round) deliveries/s"' "$tmp/sus-$g.json")"
}

# The same load on the stock cluster, then on the cluster restarted tuned;
# the cluster is stock again at the end.
scenario_sustained() {
    sustained_phase stock
    pg_mode tuned
    sustained_phase tuned
    pg_mode ""
    jq -n --slurpfile s "$tmp/sus-stock.json" --slurpfile t "$tmp/sus-tuned.json" \
        '{stock: $s[0], tuned: $t[0]}' >"$tmp/result-sustained.json"
}

# --- run ----------------------------------------------------------------

log "PostgreSQL on 127.0.0.1:$pgport (stock settings), sink on :$sinkport, hookd on :$hport"
scripts/pg.sh start "$tmp/pg" "$pgport" >/dev/null
if [ -n "$STATEMENTS" ]; then
    # preloaded libraries are read at server start only
    printf '%s\n' "shared_preload_libraries = 'pg_stat_statements'" \
        "pg_stat_statements.track_planning = on" \
        >>"$tmp/pg/pgdata/postgresql.auto.conf"
    scripts/pg.sh stop "$tmp/pg" >/dev/null
    scripts/pg.sh start "$tmp/pg" "$pgport" >/dev/null
fi
start_sink
deadline=$((SECONDS + 300))
ceiling_http start
ceiling_pg start

scenarios=("${ALL_SCENARIOS[@]}")
[ ${#chosen[@]} -gt 0 ] && scenarios=("${chosen[@]}")
failed=()
for s in "${scenarios[@]}"; do
    # A subshell, so that -e stops the scenario at its first failure and
    # the loop goes on with the next; its processes are in the pid files.
    set +e
    (
        set -e
        deadline=$((SECONDS + LIMIT))
        "scenario_$s"
    )
    rc=$?
    set -e
    stop_hookd
    if [ -n "$STATEMENTS" ] && [ "$rc" = 0 ]; then
        statements "$s" || log "$s: could not read pg_stat_statements"
    fi
    stop_pidfile "$tmp/rss.pid"
    [ -s "$tmp/sink.pid" ] || start_sink
    [ -e "$tmp/pg.tuned" ] && pg_mode ""
    if [ "$rc" != 0 ]; then
        failed+=("$s")
        log "$s: FAILED"
        jq -n '{failed: true}' >"$tmp/result-$s.json"
    fi
done

deadline=$((SECONDS + 300))
ceiling_http end
ceiling_pg end

# --- report -------------------------------------------------------------

cores=$(nproc)
mem_gb=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
cpu=$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)
scen=$SCENARIO
[[ $scen == *" "* ]] && scen="\"$scen\""
cmd="make bench${SCENARIO:+ SCENARIO=$scen}${QUICK:+ QUICK=1}${STATEMENTS:+ STATEMENTS=1}"
results=$(
    for s in "${scenarios[@]}"; do
        jq -c --arg s "$s" '{($s): .}' "$tmp/result-$s.json"
    done | jq -s 'add // {}'
)
json=$(jq -n \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg cmd "$cmd" --argjson quick "${QUICK:-0}" \
    --arg cpu "$cpu" --argjson cores "$cores" --argjson mem "$mem_gb" --arg kernel "$(uname -r)" \
    --arg pgv "$("$PG_BIN/postgres" --version)" \
    --argjson conns "$CONNS" --argjson body "$BODY_BYTES" \
    --arg threads "$HOOKD_HTTP_THREADS" --arg pool "${HOOKD_DB_POOL:-default}" \
    --arg inflight "$HOOKD_MAX_IN_FLIGHT" --argjson conc "$ENDPOINT_CONC" --argjson slowconc "$SLOW_CONC" \
    --slurpfile hs "$tmp/ceiling-http-start.json" --slurpfile he "$tmp/ceiling-http-end.json" \
    --slurpfile ps "$tmp/ceiling-pg-start.json" --slurpfile pe "$tmp/ceiling-pg-end.json" \
    --slurpfile p1s "$tmp/ceiling-pg1-start.json" --slurpfile p1e "$tmp/ceiling-pg1-end.json" \
    --argjson sc "$results" '
    def mean(a; b): ((a + b) / 2 * 100 | round) / 100;
    {per_s: mean($hs[0].per_s; $he[0].per_s), latency_ms: $hs[0].latency_ms,
     requests: $hs[0].requests, at_start: $hs[0].per_s, at_end: $he[0].per_s} as $h |
    {tps: mean($ps[0].tps; $pe[0].tps), latency_ms: $ps[0].latency_ms,
     at_start: $ps[0].tps, at_end: $pe[0].tps} as $p |
    {latency_ms: mean($p1s[0].latency_ms; $p1e[0].latency_ms),
     at_start: $p1s[0].latency_ms, at_end: $p1e[0].latency_ms} as $p1 |
    (2 * $p1.latency_ms) as $floor |
    def ratio(a; b): if (a | type) == "number" and (b | type) == "number" and b > 0
                     then ((a / b) * 1000 | round) / 1000 else null end;
    {
      date: $date, command: $cmd, quick: ($quick == 1),
      machine: {cpu: $cpu, cores: $cores, memory_gb: $mem, kernel: $kernel, postgresql: $pgv},
      settings: {connections: $conns, body_bytes: $body,
                 HOOKD_HTTP_THREADS: $threads, HOOKD_DB_POOL: $pool, HOOKD_MAX_IN_FLIGHT: $inflight,
                 endpoint_max_concurrency: $conc, slow_endpoint_max_concurrency: $slowconc,
                 postgresql: "stock settings (fsync on, synchronous_commit on, autovacuum_naptime 1min, max_wal_size 1GB, shared_buffers 128MB, max_connections 100); the sustained scenario also on the cluster tuned (autovacuum_naptime 1s, max_wal_size 4GB, shared_buffers 256MB, max_connections 300)"},
      ceilings: {
        measured: "before and after the scenarios; figures are the mean of the two",
        http: {requests_per_s: $h.per_s, at_start: $h.at_start, at_end: $h.at_end,
               latency_ms: $h.latency_ms, requests: $h.requests},
        postgres: {tx_per_s: $p.tps, at_start: $p.at_start, at_end: $p.at_end,
                   latency_ms: $p.latency_ms,
                   single_client_commit_ms: $p1.latency_ms,
                   single_client_commit_ms_at_start: $p1.at_start,
                   single_client_commit_ms_at_end: $p1.at_end}
      },
      scenarios: ($sc
        | (if .ingest.accepted_per_s then .ingest += {bound: "postgres tx/s",
              ratio: ratio(.ingest.accepted_per_s; $p.tps)} else . end)
        | (if .sqlsend.sent_per_s then .sqlsend += {bound: "API ingest events/s",
              ratio: ratio(.sqlsend.sent_per_s; .ingest.accepted_per_s),
              ratio_without_wake_up: ratio(.sqlsend.without_wake_up.sent_per_s;
                                           .ingest.accepted_per_s)} else . end)
        | (if .throughput.deliveries_per_s then .throughput += {bound: "raw HTTP req/s",
              ratio: ratio(.throughput.deliveries_per_s; $h.per_s)} else . end)
        | (if .latency.ingest_to_receipt_ms then .latency += {bound: "2 commits (ms)",
              floor_ms: $floor, ratio: ratio(.latency.ingest_to_receipt_ms.p50; $floor)} else . end)
        | (if .backlog.drain_per_s then .backlog += {bound: "raw HTTP req/s",
              ratio: ratio(.backlog.drain_per_s; $h.per_s)} else . end)
        | (if .tls_throughput.deliveries_per_s then .tls_throughput += {bound: "throughput over HTTP",
              ratio: ratio(.tls_throughput.deliveries_per_s; .throughput.deliveries_per_s),
              cpu_ratio: ratio(.tls_throughput.cpu.hookd_us; .throughput.cpu.hookd_us)} else . end)
        | (if .tls_backlog.drain_per_s then .tls_backlog += {bound: "backlog over HTTP",
              ratio: ratio(.tls_backlog.drain_per_s; .backlog.drain_per_s),
              cpu_ratio: ratio(.tls_backlog.cpu.hookd_us; .backlog.cpu.hookd_us),
              rss_ratio: ratio(.tls_backlog.peak_rss_mb; .backlog.peak_rss_mb)} else . end)
        | (if .close.deliveries_per_s then .close += {bound: "throughput over HTTP",
              ratio: ratio(.close.deliveries_per_s; .throughput.deliveries_per_s)} else . end)
        | (if .tls_close.deliveries_per_s then .tls_close += {bound: "closing receiver over HTTP",
              ratio: ratio(.tls_close.deliveries_per_s; .close.deliveries_per_s),
              cpu_ratio: ratio(.tls_close.cpu.hookd_us; .close.cpu.hookd_us)} else . end)
        | (if .handshake.beside_ms then .handshake += {bound: "the same endpoint alone (p99)",
              ratio: ratio(.handshake.beside_ms.p99; .handshake.alone_ms.p99)} else . end)
        | (if .fairness.b_ingest_to_receipt_ms then .fairness += {bound: "2 commits (ms)",
              floor_ms: $floor, ratio: ratio(.fairness.b_ingest_to_receipt_ms.p99; $floor)} else . end)
        | (if .sustained.stock then .sustained += {bound: "the tuned cluster, same run",
              ratio: ratio(.sustained.stock.deliveries_per_s; .sustained.tuned.deliveries_per_s)} else . end))
    }')

if [ -n "$QUICK" ]; then
    out=build/bench/results-quick.json
elif [ -n "$STATEMENTS" ]; then
    out=build/bench/results-statements.json
elif [ -n "$SCENARIO" ]; then
    out=build/bench/results-${SCENARIO// /+}.json
else
    out=tests/bench/results.json
fi
printf '%s\n' "$json" >"$out"

# The table: one row per figure, with the ceiling that bounds it.
table=$(jq -r '
    def n(x): if x == null then "-" elif x >= 100 then (x | round | tostring)
              else ((x * 100 | round) / 100 | tostring) end;
    def r(x): if x == null then "-" else ((x * 1000 | round) / 1000 | tostring) end;
    def miss(s): if s.failed then "FAILED" else null end;
    .ceilings as $c | .scenarios as $s |
    "| scenario | result | bounded by | ratio |",
    "|---|---|---|---|",
    "| ceiling: raw HTTP | \(n($c.http.requests_per_s)) req/s (\(n($c.http.at_start)) before, \(n($c.http.at_end)) after), p50 \(n($c.http.latency_ms.p50)) ms, p99 \(n($c.http.latency_ms.p99)) ms | | |",
    "| ceiling: raw PostgreSQL | \(n($c.postgres.tx_per_s)) tx/s (\(n($c.postgres.at_start)) before, \(n($c.postgres.at_end)) after; 1 client: \(n($c.postgres.single_client_commit_ms)) ms a commit) | | |",
    (if $s.ingest then (if $s.ingest.failed then "| ingest | FAILED | | |" else
      "| ingest | \(n($s.ingest.accepted_per_s)) events/s, API p50 \(n($s.ingest.api_latency_ms.p50)) ms, p99 \(n($s.ingest.api_latency_ms.p99)) ms | PostgreSQL \(n($c.postgres.tx_per_s)) tx/s | \(r($s.ingest.ratio)) |" end) else empty end),
    (if $s.sqlsend then (if $s.sqlsend.failed then "| sqlsend | FAILED | | |" else
      "| sqlsend | \(n($s.sqlsend.sent_per_s)) events/s through hookd.send_event, \(n($s.sqlsend.transaction_ms)) ms a transaction; without wake-ups \(n($s.sqlsend.without_wake_up.sent_per_s)) events/s (ratio \(r($s.sqlsend.ratio_without_wake_up))) | API ingest \(n($s.ingest.accepted_per_s)) events/s | \(r($s.sqlsend.ratio)) |" end) else empty end),
    (if $s.throughput then (if $s.throughput.failed then "| throughput | FAILED | | |" else
      "| throughput | \(n($s.throughput.deliveries_per_s)) deliveries/s (\($s.throughput.unique) of \($s.throughput.deliveries), \($s.throughput.duplicates) duplicates) | raw HTTP \(n($c.http.requests_per_s)) req/s | \(r($s.throughput.ratio)) |" end) else empty end),
    (if $s.tls_throughput then (if $s.tls_throughput.failed then "| throughput over HTTPS | FAILED | | |" else
      "| throughput over HTTPS | \(n($s.tls_throughput.deliveries_per_s)) deliveries/s (\($s.tls_throughput.unique) of \($s.tls_throughput.deliveries)), hookd \(n($s.tls_throughput.cpu.hookd_us)) µs a delivery (\(r($s.tls_throughput.cpu_ratio)) of HTTP'"'"'s) | throughput over HTTP \(n($s.throughput.deliveries_per_s // null))/s | \(r($s.tls_throughput.ratio)) |" end) else empty end),
    (if $s.latency then (if $s.latency.failed then "| latency | FAILED | | |" else
      "| latency | at \($s.latency.offered_per_s)/s: p50 \(n($s.latency.ingest_to_receipt_ms.p50)) ms, p99 \(n($s.latency.ingest_to_receipt_ms.p99)) ms, max \(n($s.latency.ingest_to_receipt_ms.max)) ms | 2 commits \(n($s.latency.floor_ms)) ms (p50) | \(r($s.latency.ratio)) |" end) else empty end),
    (if $s.backlog then (if $s.backlog.failed then "| backlog | FAILED | | |" else
      "| backlog | \($s.backlog.deliveries) drained at \(n($s.backlog.drain_per_s))/s, peak RSS \(n($s.backlog.peak_rss_mb)) MB | raw HTTP \(n($c.http.requests_per_s)) req/s | \(r($s.backlog.ratio)) |" end) else empty end),
    (if $s.tls_backlog then (if $s.tls_backlog.failed then "| backlog over HTTPS | FAILED | | |" else
      "| backlog over HTTPS | \($s.tls_backlog.deliveries) drained at \(n($s.tls_backlog.drain_per_s))/s, peak RSS \(n($s.tls_backlog.peak_rss_mb)) MB (\(r($s.tls_backlog.rss_ratio)) of HTTP'"'"'s), hookd \(n($s.tls_backlog.cpu.hookd_us)) µs a delivery (\(r($s.tls_backlog.cpu_ratio)) of HTTP'"'"'s) | backlog over HTTP \(n($s.backlog.drain_per_s // null))/s | \(r($s.tls_backlog.ratio)) |" end) else empty end),
    (if $s.close then (if $s.close.failed then "| closing receiver, HTTP | FAILED | | |" else
      "| closing receiver, HTTP | \(n($s.close.deliveries_per_s)) deliveries/s (\($s.close.unique) of \($s.close.deliveries)), hookd \(n($s.close.cpu.hookd_us)) µs a delivery | throughput over HTTP \(n($s.throughput.deliveries_per_s // null))/s | \(r($s.close.ratio)) |" end) else empty end),
    (if $s.tls_close then (if $s.tls_close.failed then "| closing receiver, HTTPS | FAILED | | |" else
      "| closing receiver, HTTPS | \(n($s.tls_close.deliveries_per_s)) deliveries/s (\($s.tls_close.unique) of \($s.tls_close.deliveries)), hookd \(n($s.tls_close.cpu.hookd_us)) µs a delivery (\(r($s.tls_close.cpu_ratio)) of HTTP'"'"'s) | closing receiver over HTTP \(n($s.close.deliveries_per_s // null))/s | \(r($s.tls_close.ratio)) |" end) else empty end),
    (if $s.handshake then (if $s.handshake.failed then "| handshake | FAILED | | |" else
      "| HTTP beside TLS handshakes | at \($s.handshake.offered_per_s)/s: p50 \(n($s.handshake.beside_ms.p50)) ms, p99 \(n($s.handshake.beside_ms.p99)) ms while \($s.handshake.tls_received) of \($s.handshake.tls_queued) went to a closing \(($s.handshake.flood // "https") | ascii_upcase) endpoint at \(n($s.handshake.tls_per_s))/s for \(n($s.handshake.flood_overlap_s)) of its \(n($s.handshake.beside_span_s)) s\(if ($s.handshake.sink_tls_nice // 0) > 0 then " (sink'"'"'s HTTPS at nice \($s.handshake.sink_tls_nice))" else "" end) | alone: p50 \(n($s.handshake.alone_ms.p50)) ms, p99 \(n($s.handshake.alone_ms.p99)) ms | \(r($s.handshake.ratio)) |" end) else empty end),
    (if $s.fairness then (if $s.fairness.failed then "| fairness | FAILED | | |" else
      "| fairness | B at \($s.fairness.b_offered_per_s)/s behind A'"'"'s \($s.fairness.a_queued) slow: p50 \(n($s.fairness.b_ingest_to_receipt_ms.p50)) ms, p99 \(n($s.fairness.b_ingest_to_receipt_ms.p99)) ms | 2 commits \(n($s.fairness.floor_ms)) ms (p99) | \(r($s.fairness.ratio)) |" end) else empty end),
    (if $s.sustained then (if $s.sustained.failed then "| sustained | FAILED | | |" else
      ($s.sustained.stock) as $k | ($s.sustained.tuned) as $u |
      "| sustained | \($k.events_per_s)/s x \($k.endpoints) for \($k.seconds) s (\($k.asked_per_s) deliveries/s asked), stock: \($k.owed_at_stop) owed at the stop, done \(n($k.finished_after_s)) s after, \(n($k.deliveries_per_s))/s | tuned: \($u.owed_at_stop) owed, done \(n($u.finished_after_s)) s after, \(n($u.deliveries_per_s))/s | \(r($s.sustained.ratio)) |" end) else empty end)
    ' <<<"$json")
# Where the CPU went, per item, for the scenarios that measure a rate.
cputable=$(jq -r '
    .scenarios as $s |
    ([("ingest", "sqlsend", "throughput", "tls_throughput", "backlog",
       "tls_backlog", "close", "tls_close") as $k
      | select($s[$k].cpu != null) | {k: $k} + $s[$k].cpu]
     + [("stock", "tuned") as $k
      | select($s.sustained[$k].cpu != null)
      | {k: "sustained, \($k)"} + $s.sustained[$k].cpu]) as $rows |
    if ($rows | length) == 0 then empty else
    "| scenario | CPU per | hookd | PostgreSQL | of which API · claims · records | sink | the rest | stolen | machine idle |",
    "|---|---|---|---|---|---|---|---|---|",
    ($rows[] | "| \(.k) | \(.per) | \(.hookd_us) µs | \(.postgres_us) µs | \(.postgres_parts_us.api) · \(.postgres_parts_us.claims) · \(.postgres_parts_us.records) µs | \(.sink_us) µs | \(.rest_us) µs | \(.steal_us) µs | \(.idle_pct) % |")
    end' <<<"$json")
# Where the fast endpoint's deliveries of the handshake scenario spent
# their time (hs_parts), alone and beside the closing receiver.
partstable=$(jq -r '
    def n(x): if x == null then "-" elif x >= 100 then (x | round | tostring)
              else ((x * 100 | round) / 100 | tostring) end;
    .scenarios.handshake as $h |
    if ($h.beside_parts_ms.parts // null) == null then empty else
    "| fast endpoint, ms | alone p50 | alone p99 | beside p50 | beside p99 | beside: the slowest 1 % (\($h.beside_parts_ms.slowest) of \($h.beside_parts_ms.n)), median |",
    "|---|---|---|---|---|---|",
    ([$h.alone_parts_ms.parts, $h.beside_parts_ms.parts] | transpose[]
     | "| \(.[1].part) | \(n(.[0].p50)) | \(n(.[0].p99)) | \(n(.[1].p50)) | \(n(.[1].p99)) | \(n(.[1].slowest_p50)) |"),
    ("| cores busy: hookd · PostgreSQL · sink · the rest · stolen; machine idle |"
     + ([$h.alone_cpu, $h.beside_cpu] | map(if . == null then " - | - |" else
        " \(n(.hookd_us / 1000)) · \(n(.postgres_us / 1000)) · \(n(.sink_us / 1000)) · \(n(.rest_us / 1000)) · \(n(.steal_us / 1000)); \(n(.idle_pct)) % | |" end) | add) + " |"),
    ($h.beside_slow_turns // null | if . == null then empty else
     "| claimer turns of 20 ms or more, beside | | | \(.n) | \(if .slowest == null then "-" else "slowest \(n(.slowest.turn_ms)): round \(n(.slowest.own_ms)) · check \(n(.slowest.check_ms)) · claim \(n(.slowest.claim_ms)) · hold \(n(.slowest.hold_ms))" end) | |" end)
    end' <<<"$json")
printf '%s\n' "$table" >build/bench/table.md
if [ -n "$cputable" ]; then
    table=$(printf '%s\n\n%s' "$table" "$cputable")
    printf '\n%s\n' "$cputable" >>build/bench/table.md
fi
if [ -n "$partstable" ]; then
    table=$(printf '%s\n\n%s' "$table" "$partstable")
    printf '\n%s\n' "$partstable" >>build/bench/table.md
fi

echo
echo "hookd benchmark: $cmd"
echo "machine: $cpu, $cores cores, $mem_gb GB; connections $CONNS, body $BODY_BYTES bytes"
echo
printf '%s\n' "$table"
echo
echo "results: $out"
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench: FAILED: ${failed[*]} (see above, and the logs in $logs/)" >&2
    exit 1
fi
