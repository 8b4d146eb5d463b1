#!/usr/bin/env bash
# test_schema.sh - docs/schema.sql is the schema the migrations produce: a
# fresh database migrated by the hookd under test must dump to exactly that
# file (scripts/schema.sh check prints the difference when it does not).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/schema.sh check
