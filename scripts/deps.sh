#!/usr/bin/env bash
# deps.sh - installs what hookd needs on Debian 12, and only what is missing:
# the C toolchain and -dev libraries, PostgreSQL 15, Node.js and npm. Called
# as `deps.sh test` (by `make test`) it also installs Chromium for the portal's
# browser tests, Prometheus for promtool (the alert rules' check), the
# script checker of `make lint` (Debian's shellcheck), clang with the
# libFuzzer runtime for the fuzz targets, gcc's ThreadSanitizer runtime for
# `make tsan`, and the Node packages of tests/package-lock.json. One line on
# success; the installer's whole output on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case $mode in
run | test) ;;
*)
    echo "usage: deps.sh [test]" >&2
    exit 2
    ;;
esac

pkgs=(build-essential pkg-config libmicrohttpd-dev libpq-dev
    libcurl4-openssl-dev libssl-dev libjansson-dev uuid-dev libcmocka-dev
    postgresql-15 postgresql-client-15 curl ca-certificates jq)
# promtool (in Debian's prometheus package, 19 MB) checks docs/alerts.yml;
# where systemd runs, the package also starts a Prometheus server on port
# 9090 (`systemctl disable --now prometheus` stops it)
[ "$mode" = test ] && pkgs+=(chromium prometheus shellcheck)
# the fuzz targets (tests/fuzz/) need clang: libFuzzer and clang's own
# sanitizer runtimes are in libclang-rt-14-dev, which clang only
# recommends. libtsan2 is gcc's ThreadSanitizer runtime (`make tsan`).
[ "$mode" = test ] && pkgs+=(clang libclang-rt-14-dev libtsan2)

# Node.js may come from another source than Debian (NodeSource's nodejs
# bundles npm and conflicts with Debian's npm): the commands are what count.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)

installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" 2>/dev/null || true)
missing=()
for p in "${pkgs[@]}"; do
    grep -qx "$p install ok installed" <<<"$installed" || missing+=("$p")
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs a step with its output in the log; on failure shows the log and stops.
step() {
    local what=$1
    shift
    if ! "$@" >>"$log" 2>&1; then
        cat "$log" >&2
        echo "deps: FAILED: $what (command: $*)" >&2
        exit 1
    fi
}

done_what=()
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || {
            echo "deps: missing ${missing[*]}; install them as root (no sudo here)" >&2
            exit 1
        }
        echo "deps: installing ${missing[*]} with sudo"
        sudo=(sudo)
    else
        echo "deps: installing ${missing[*]}"
    fi
    step "apt-get update" "${sudo[@]}" apt-get update
    step "apt-get install" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
    done_what+=("installed ${missing[*]}")
fi

# The test's Node packages, refreshed when the lock file is newer than what
# npm last installed.
if [ "$mode" = test ]; then
    stamp=tests/node_modules/.package-lock.json
    if [ ! -f "$stamp" ] || [ tests/package-lock.json -nt "$stamp" ] ||
        [ tests/package.json -nt "$stamp" ]; then
        if [ -f tests/package-lock.json ]; then
            step "npm ci in tests/" npm ci --prefix tests --no-audit --no-fund
        else
            step "npm install in tests/" npm install --prefix tests --no-audit --no-fund
        fi
        done_what+=("installed tests/node_modules")
    fi
fi

if [ ${#done_what[@]} -gt 0 ]; then
    (IFS=';' && echo "deps: ok (${done_what[*]})")
else
    echo "deps: ok"
fi
