#!/usr/bin/env bash
# test_alerts.sh - docs/alerts.yml, the example Prometheus alerting rules of
# docs/operations.md, is a rule file Prometheus accepts (promtool check
# rules), its alerts fire when they should and only then (promtool test
# rules, docs/alerts.test.yml), and every hookd_ metric it names is one that
# hookd serves (a "# TYPE" line of server/metrics.c; histograms add _bucket,
# _sum and _count), so a renamed metric cannot leave a silent alert behind.
set -euo pipefail
cd "$(dirname "$0")/../.."

promtool check rules docs/alerts.yml
promtool test rules docs/alerts.test.yml

served=$(grep -oE '# TYPE hookd_[a-z_]+' server/metrics.c | cut -d' ' -f3 | sort -u)
[ -n "$served" ] || { echo "alerts: found no metric in server/metrics.c" >&2; exit 1; }
bad=0
while read -r m; do
    base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$m")
    if ! grep -qx -e "$m" -e "$base" <<<"$served"; then
        echo "alerts: docs/alerts.yml names $m, which hookd does not serve" >&2
        bad=1
    fi
done < <(grep -oE 'hookd_[a-z_]+' docs/alerts.yml | sort -u)
[ "$bad" = 0 ] && echo "alerts: every metric named is served"
exit "$bad"
