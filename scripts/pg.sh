#!/usr/bin/env bash
# pg.sh - a private PostgreSQL 15 cluster in one folder, for `make run` and
# `make test`: DIR/pgdata (the cluster), DIR/sock (its unix socket), DIR/pg.log.
# It listens on 127.0.0.1 only, trusts every local connection as user
# `postgres`, and is started and stopped by path, never by name.
#
#   scripts/pg.sh start DIR PORT [fast]   create if missing, start, wait ready
#   scripts/pg.sh stop DIR                stop it if it runs
#
# `fast` turns durability off (fsync, synchronous_commit, full_page_writes):
# only for throwaway test clusters. As root, the cluster belongs to the
# `postgres` user (initdb refuses root); otherwise to whoever runs this.
# Sourcing this file defines pg_start and pg_stop without running anything.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# Runs a command as the cluster's owner, from inside the cluster's folder.
pg_as_owner() {
    local dir=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

# As root: gives DIR to postgres and makes sure postgres can reach it, adding
# o+x (enter, not list) to the parent folders that lack it.
pg_prepare_dir() {
    local dir=$1 p
    [ "$(id -u)" = 0 ] || return 0
    [ "$(stat -c %U "$dir")" = postgres ] || chown -R postgres: "$dir"
    runuser -u postgres -- test -x "$dir" && return 0
    p=$dir
    while [ "$p" != / ]; do
        p=$(dirname "$p")
        if ! runuser -u postgres -- test -x "$p"; then
            chmod o+x "$p"
            echo "pg: made $p enterable by the postgres user (chmod o+x)"
        fi
    done
}

# The port the running postmaster of DIR listens on, if it runs.
pg_running_port() {
    local dir=$1
    pg_as_owner "$dir" "$PG_BIN/pg_ctl" status -D "$dir/pgdata" >/dev/null 2>&1 || return 1
    sed -n 4p "$dir/pgdata/postmaster.pid"
}

pg_fail() {
    echo "pg: $1" >&2
    if [ -f "$2/pg.log" ]; then
        echo "--- last lines of $2/pg.log ---" >&2
        tail -n 20 "$2/pg.log" >&2
    fi
    return 1
}

pg_start() {
    local dir port fast=${3:-} running
    if [ $# -lt 2 ] || [[ ! $2 =~ ^[0-9]+$ ]] || [[ ! $fast =~ ^(fast)?$ ]]; then
        echo "usage: pg.sh start DIR PORT [fast]" >&2
        return 2
    fi
    mkdir -p "$1"
    dir=$(realpath "$1")
    port=$2
    pg_prepare_dir "$dir"

    running=$(pg_running_port "$dir" || true)
    if [ -n "$running" ] && [ "$running" = "$port" ]; then
        return 0
    elif [ -n "$running" ]; then
        echo "pg: cluster in $dir runs on port $running; restarting it on $port"
        pg_stop "$dir"
    fi

    if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
        rm -rf "$dir/pgdata"
        pg_as_owner "$dir" "$PG_BIN/initdb" -D "$dir/pgdata" --auth=trust \
            -U postgres -E UTF8 --locale=C --no-instructions \
            ${fast:+--no-sync} >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; pg_fail "initdb failed in $dir" "$dir"; return 1; }
        echo "include_if_exists = 'hookd.conf'" >>"$dir/pgdata/postgresql.conf"
    fi

    # Rewritten at every start so that the port and the fast flag follow
    # the caller; the include above reads it.
    mkdir -p "$dir/sock"
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir/sock'"
        echo "max_connections = 300"
        echo "shared_buffers = 256MB"
        # hookd's queue table churns: let autovacuum look every second
        # (its per-table thresholds are in migrations/0006_queue_vacuum.sql)
        echo "autovacuum_naptime = 1s"
        # every delivery writes a few kB of WAL; with the default 1GB a
        # busy queue forces a checkpoint every few seconds, and each one
        # makes the next change of every page write the whole page again
        echo "max_wal_size = 4GB"
        if [ "$fast" = fast ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >"$dir/pgdata/hookd.conf"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir/sock" "$dir/pgdata/hookd.conf"; fi

    pg_as_owner "$dir" "$PG_BIN/pg_ctl" start -D "$dir/pgdata" -l "$dir/pg.log" \
        -w -t 60 >/dev/null 2>&1 ||
        { pg_fail "could not start PostgreSQL in $dir on port $port" "$dir"; return 1; }
    for _ in $(seq 100); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.1
    done
    pg_fail "PostgreSQL in $dir does not answer on 127.0.0.1:$port" "$dir"
}

pg_stop() {
    local dir
    [ $# -ge 1 ] || { echo "usage: pg.sh stop DIR" >&2; return 2; }
    [ -d "$1/pgdata" ] || return 0
    dir=$(realpath "$1")
    pg_running_port "$dir" >/dev/null || return 0
    pg_as_owner "$dir" "$PG_BIN/pg_ctl" stop -D "$dir/pgdata" -m fast -w -t 60 >/dev/null ||
        pg_fail "could not stop PostgreSQL in $dir" "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    cmd=${1:-}
    shift || true
    case $cmd in
    start) pg_start "$@" ;;
    stop) pg_stop "$@" ;;
    *)
        echo "usage: pg.sh start DIR PORT [fast] | pg.sh stop DIR" >&2
        exit 2
        ;;
    esac
fi
