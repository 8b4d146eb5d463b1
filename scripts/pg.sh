#!/usr/bin/env bash
# pg.sh - a private PostgreSQL 15 cluster in one folder, for `make run`,
# `make test` and `make bench`: DIR/pgdata (the cluster), DIR/sock (its unix
# socket), DIR/pg.log. It listens on 127.0.0.1 only, trusts every local
# connection as user `postgres`, and is started and stopped by path, never by
# name.
#
#   scripts/pg.sh start DIR PORT [MODE]   create if missing, start, wait ready
#   scripts/pg.sh stop DIR                stop it if it runs
#
# By default the cluster runs with PostgreSQL's stock settings, as a fresh
# Debian install or a managed service would (autovacuum every minute, 1 GB
# of WAL between checkpoints, 100 connections): only the address, the port
# and the socket folder are set, since those are what let it run beside
# others. hookd must be fast on such a server, so that is what it is run and
# tested on. MODE `fast` also turns durability off (fsync,
# synchronous_commit, full_page_writes): only for throwaway test clusters,
# where a crash of the machine loses nothing anyone needs. MODE `tuned` adds
# what hookd's clusters set before hookd kept its own tables lean (autovacuum
# every second, 4 GB of WAL, 256 MB of shared buffers, 300 connections):
# only for `make bench`, as the yardstick of the sustained scenario. As
# root, the cluster belongs to the `postgres` user (initdb refuses root);
# otherwise to whoever runs this. Sourcing this file defines pg_start and
# pg_stop without running anything.
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
    local dir port mode=${3:-} running fast=
    if [ $# -lt 2 ] || [[ ! $2 =~ ^[0-9]+$ ]] || [[ ! $mode =~ ^(fast|tuned)?$ ]]; then
        echo "usage: pg.sh start DIR PORT [fast|tuned]" >&2
        return 2
    fi
    mkdir -p "$1"
    dir=$(realpath "$1")
    port=$2
    [ "$mode" = fast ] && fast=fast
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

    # Rewritten at every start so that the port and the mode follow the
    # caller; the include above reads it.
    mkdir -p "$dir/sock"
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir/sock'"
        if [ "$mode" = tuned ]; then
            echo "max_connections = 300"
            echo "shared_buffers = 256MB"
            echo "autovacuum_naptime = 1s"
            echo "max_wal_size = 4GB"
        fi
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
        echo "usage: pg.sh start DIR PORT [fast|tuned] | pg.sh stop DIR" >&2
        exit 2
        ;;
    esac
fi
