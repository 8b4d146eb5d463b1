#!/usr/bin/env bash
# entrypoint.sh - the container's start: brings the database schema up to
# date, then runs hookd in the role given (serve by default) in its place.
# Inside the container hookd listens on every interface, port 8080, unless
# HOOKD_LISTEN says otherwise; the port mapping decides who reaches it.
set -euo pipefail
export HOOKD_LISTEN=${HOOKD_LISTEN:-0.0.0.0:8080}
hookd migrate
exec hookd "${@:-serve}"
