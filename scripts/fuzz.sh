#!/usr/bin/env bash
# fuzz.sh - `make fuzz`: runs each libFuzzer target of build/fuzz/ for
# FUZZ_SECONDS (default 60) one after the other. Each target grows its own
# corpus in build/fuzz/corpus/NAME, starting from the checked-in seeds in
# tests/fuzz/seeds/NAME (read, never written); an input that breaks a
# property or crashes is saved as build/fuzz/crash/NAME-*, and the run
# goes on with the next target. FUZZ_ONLY=substring runs only the
# matching targets. Ends with one line per target and fails if one did.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECONDS:-60}
case $secs in
'' | *[!0-9]*)
    echo "fuzz: FUZZ_SECONDS must be a whole number of seconds" >&2
    exit 2
    ;;
esac

results=()
failed=0
shopt -s nullglob
for t in build/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    [[ $name == *"${FUZZ_ONLY:-}"* ]] || continue
    corpus=build/fuzz/corpus/$name
    mkdir -p "$corpus" build/fuzz/crash
    echo "=== $name for ${secs}s"
    if "$t" -max_total_time="$secs" -max_len=4096 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/crash/$name-" \
        "$corpus" "tests/fuzz/seeds/${name#fuzz_}"; then
        results+=("$name: ok ($(find "$corpus" -type f | wc -l) inputs in its corpus)")
    else
        results+=("$name: FAILED (input saved in build/fuzz/crash/)")
        failed=$((failed + 1))
    fi
done
if [ ${#results[@]} = 0 ]; then
    echo "fuzz: no target ran${FUZZ_ONLY:+ (FUZZ_ONLY=$FUZZ_ONLY matched nothing)}" >&2
    exit 1
fi
printf '%s\n' "${results[@]}"
[ "$failed" = 0 ]
