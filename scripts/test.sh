#!/usr/bin/env bash
# test.sh - `make test`: runs every test program against a throwaway
# PostgreSQL cluster, in order: the unit tests, the end-to-end tests, the Node
# tests, the shell tests (tests/sh), `make lint`, then the quick benchmark.
# Between them, each libFuzzer target of tests/fuzz/ runs FUZZ_RUNS inputs
# (fuzz_NAME), and the engine's end-to-end tests run again against the
# ThreadSanitizer build of hookd (tsan_test_NAME; `make tsan` runs only
# those).
# Each program's output goes to the terminal
# and to build/test-logs/NAME.log; the counts of cmocka and node --test are
# added up into the last line. TEST=substring runs only the matching programs.
# Whatever happens, the cluster, the processes started here and the temp
# folder are gone at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/hookd-test.XXXXXX)
chmod 755 "$tmp"
current=""  # session id of the program running now
passed=0
failed=0
failures=()

# Every process whose session is $1.
session_pids() {
    local f s sid
    for f in /proc/[0-9]*/stat; do
        { read -r s <"$f"; } 2>/dev/null || continue
        s=${s##*) }
        # state, parent, process group, then the session
        read -r _ _ _ sid _ <<<"$s"
        [ "$sid" = "$1" ] && echo "${f//[^0-9]/}"
    done
    return 0
}

# Every process but $2 that holds the file $1 open.
holders() {
    local f pid
    for f in /proc/[0-9]*/fd/*; do
        [ "$f" -ef "$1" ] 2>/dev/null || continue
        pid=${f#/proc/}
        pid=${pid%%/*}
        [ "$pid" = "$2" ] || echo "$pid"
    done | sort -u
}

# Every process but this shell that carries this run's marker.
marked_pids() {
    local f pid
    for f in /proc/[0-9]*/environ; do
        pid=${f//[^0-9]/}
        [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
        grep -qzxF -- "HOOKD_TEST_RUN=$tmp" "$f" 2>/dev/null && echo "$pid"
    done
    return 0
}

# True while one of the processes is alive (a zombie is not).
alive() {
    local pid s
    for pid in "$@"; do
        { read -r s <"/proc/$pid/stat"; } 2>/dev/null || continue
        s=${s##*) }
        [ "${s:0:1}" = Z ] || return 0
    done
    return 1
}

# TERM, a moment's grace, then KILL.
kill_pids() {
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for _ in $(seq 10); do
        alive "$@" || return 0
        sleep 0.2
    done
    kill -KILL "$@" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$current" ]; then
        mapfile -t pids < <(session_pids "$current")
        kill_pids "${pids[@]}"
    fi
    scripts/pg.sh stop "$tmp/pg" || true
    mapfile -t pids < <(marked_pids)
    kill_pids "${pids[@]}"
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port on 127.0.0.1: one nobody answers on.
free_port() {
    local p lo=20000 span=40000 eph
    # below the kernel's ephemeral range when there is room: a port that is
    # the local end of some outgoing connection answers nothing, yet cannot
    # be listened on
    read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=0
    if [ "${eph:-0}" -gt 12000 ]; then
        lo=10000
        span=$((eph - 10000))
    fi
    for _ in $(seq 100); do
        p=$((lo + RANDOM % span))
        if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "test: no free port found" >&2
    return 1
}

# a port can still be taken between the check and PostgreSQL's bind: try
# another one then
for attempt in 1 2 3; do
    pgport=$(free_port)
    if scripts/pg.sh start "$tmp/pg" "$pgport" fast; then
        break
    fi
    [ "$attempt" = 3 ] && exit 1
done

export HOOKD_TEST_RUN=$tmp
export HOOKD_BIN=$PWD/build/asan/hookd
export HOOKD_TEST_PGHOST=127.0.0.1
export HOOKD_TEST_PGPORT=$pgport
export HOOKD_TEST_PGUSER=postgres
# the cluster's folder, for tests that stop and start it (test_pgrestart);
# they must leave it running on the same port
export HOOKD_TEST_PGDIR=$tmp/pg
export HOOKD_SOURCE_DIR=$PWD
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1

rm -rf build/test-logs
mkdir -p build/test-logs

# Sums the counts NAME's log reports; kind is cmocka, node or plain (exit
# status only). A failing program whose log names no failure counts as one.
count() {
    local name=$1 kind=$2 rc=$3 log=build/test-logs/$1.log p=0 f=0
    case $kind in
    cmocka)
        p=$(awk '/^\[  PASSED  \] [0-9]+ test/ { n += $4 } END { print n + 0 }' "$log")
        f=$(awk '/^\[  FAILED  \] [0-9]+ test/ { n += $4 } END { print n + 0 }' "$log")
        ;;
    node)
        p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$log" | tail -n 1)
        f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$log" | tail -n 1)
        ;;
    esac
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1
    elif [ "$kind" = plain ] && [ "$rc" = 0 ]; then
        p=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" = 0 ] || failures+=("$name (exit $rc, see build/test-logs/$name.log)")
}

# Runs one program in its own session, so that it and everything it leaves
# behind can be stopped as one. Its output reaches the terminal and its log
# through tee, which ends once no leftover process holds that output.
run() {
    local name=$1 kind=$2 rc=0 pids tee_pid
    shift 2
    [[ $name == *"${TEST:-}"* ]] || return 0
    echo "=== $name"
    rm -f "$tmp/out"
    mkfifo "$tmp/out"
    tee "build/test-logs/$name.log" <"$tmp/out" &
    tee_pid=$!
    (
        trap - INT QUIT
        exec setsid "$@"
    ) >"$tmp/out" 2>&1 </dev/null &
    current=$!
    wait "$current" || rc=$?
    mapfile -t pids < <(session_pids "$current"; holders "$tmp/out" "$tee_pid")
    kill_pids "${pids[@]}"
    current=""
    wait "$tee_pid" || true
    count "$name" "$kind" "$rc"
}

shopt -s nullglob
for t in build/asan/unit/test_* build/asan/e2e/test_*; do
    if [ ! -f "$t" ] || [ ! -x "$t" ]; then
        continue
    fi
    run "$(basename "$t")" cmocka "$t"
done
# A fixed number of inputs from a fixed seed, so that a run is repeatable:
# what it finds, it finds again. New inputs go to a scratch corpus, never
# into the checked-in seeds.
# fuzz_query runs a tenth of the others' inputs: each goes through a
# socket to the HTTP layer.
for t in build/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    runs=${FUZZ_RUNS:-100000}
    if [ "$name" = fuzz_query ]; then
        runs=$((runs / 10))
    fi
    mkdir -p "$tmp/corpus/$name" build/fuzz/crash
    run "$name" plain "$t" -runs="$runs" -seed="${FUZZ_SEED:-1}" \
        -max_len=4096 -timeout=30 -artifact_prefix="build/fuzz/crash/$name-" \
        "$tmp/corpus/$name" "tests/fuzz/seeds/${name#fuzz_}"
done
# The tests that drive the dispatcher, the delivery thread, the API
# threads and the long-poll waiter together, against hookd built with
# -fsanitize=thread. Every report goes to a file of its own as the race
# happens (a hookd killed with -9 leaves its reports too); any report
# fails the test. The suppressions name only races inside libraries (see
# the file).
# shellcheck disable=SC2016 # expanded by the bash that runs it
tsan_check='dir=$1 rc=0
shift
"$@" || rc=$?
for f in "$dir"/report.*; do
    [ -f "$f" ] || continue
    cat "$f"
    echo "tsan: ThreadSanitizer report in $f (see above)"
    rc=1
done
exit "$rc"'
# TSAN_TESTS names others, or "all" for every end-to-end test.
tsan_tests=${TSAN_TESTS:-test_engine test_claim test_crash test_disable \
test_lifecycle test_tls test_portal test_metrics test_sql_send test_pgrestart \
test_owners}
if [ "$tsan_tests" = all ]; then
    tsan_tests=$(cd build/asan/e2e && echo test_*)
fi
for t in build/tsan/unit/test_*; do
    [ -x "$t" ] || continue
    rm -rf "$tmp/tsan"
    mkdir -p "$tmp/tsan"
    TSAN_OPTIONS="log_path=$tmp/tsan/report second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
        run "tsan_$(basename "$t")" cmocka bash -c "$tsan_check" tsan_check \
        "$tmp/tsan" "$t"
done
if [ -x build/tsan/hookd ]; then
    for t in $tsan_tests; do
        [ -x "build/asan/e2e/$t" ] || continue
        rm -rf "$tmp/tsan"
        mkdir -p "$tmp/tsan"
        HOOKD_BIN=$PWD/build/tsan/hookd \
            TSAN_OPTIONS="log_path=$tmp/tsan/report second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
            run "tsan_$t" cmocka bash -c "$tsan_check" tsan_check "$tmp/tsan" \
            "build/asan/e2e/$t"
    done
fi
for t in tests/node/*.test.mjs; do
    NODE_PATH=$PWD/tests/node_modules run "$(basename "$t" .test.mjs)" node \
        node --test --test-reporter=tap "$t"
done
for t in tests/sh/test_*.sh; do
    run "$(basename "$t" .sh)" plain "$t"
done
run lint plain make --no-print-directory lint
if [ -f scripts/bench.sh ]; then
    QUICK=1 run bench plain make --no-print-directory bench QUICK=1
fi

if [ $((passed + failed)) = 0 ]; then
    echo "test: no test ran${TEST:+ (TEST=$TEST matched nothing)}" >&2
    exit 1
fi
for f in "${failures[@]}"; do
    echo "FAILED: $f"
done
echo "summary: $passed passed, $failed failed"
[ "$failed" = 0 ]
