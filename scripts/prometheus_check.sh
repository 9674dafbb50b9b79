#!/usr/bin/env bash
# By-hand check against a real Prometheus (not part of CI): needs `promtool`
# and `prometheus` on PATH (Debian: apt-get install prometheus).
#
# 1. records a run into a fresh database with examples/record_run (a
#    second process writing the file the whole time);
# 2. lints `multiagents export prometheus` with `promtool check metrics`;
# 3. serves it with `multiagents serve` on loopback and lets a real
#    Prometheus scrape it every 2 s;
# 4. asks Prometheus's API whether the target is up and has worker and
#    workflow metrics, and GET /health for its status code.
# The exposition's tests run `promtool check metrics` too (tests/prometheus.rs;
# .ci/run installs promtool and requires it).
#
# Usage: scripts/prometheus_check.sh [seconds-to-record]
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in promtool prometheus curl; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool not installed"; exit 0; }
done
SECONDS_TO_RECORD=${1:-40}
PORT_APP=${PORT_APP:-19464}
PORT_PROM=${PORT_PROM:-19090}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin multiagents --example record_run
bin=target/release/multiagents
db="$work/run.db"

target/release/examples/record_run "$db" --seconds "$SECONDS_TO_RECORD" --rate 20 \
    2>"$work/record.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$db" ] && break; sleep 0.1; done
sleep 3

echo "== promtool check metrics (while the run writes)"
"$bin" --db "$db" export prometheus > "$work/metrics.txt"
promtool check metrics < "$work/metrics.txt" && echo "promtool: no problems"

"$bin" --db "$db" serve --listen "127.0.0.1:$PORT_APP" 2>"$work/serve.log" &
pids+=($!)

cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
  - job_name: multiagents
    static_configs:
      - targets: ['127.0.0.1:$PORT_APP']
YAML
promtool check config "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$PORT_PROM" >"$work/prometheus.log" 2>&1 &
pids+=($!)

api="http://127.0.0.1:$PORT_PROM/api/v1/query"
for _ in $(seq 60); do
    if curl -sf "$api" --data-urlencode 'query=up{job="multiagents"}' | grep -q '"value":\[[^]]*,"1"\]'; then
        break
    fi
    sleep 1
done
sleep 6
echo "== up"
curl -s "$api" --data-urlencode 'query=up{job="multiagents"}'; echo
echo "== multiagents_worker_executions_total"
curl -s "$api" --data-urlencode 'query=multiagents_worker_executions_total'; echo
echo "== p95 from the histogram over 1m, per worker"
curl -s "$api" --data-urlencode \
    'query=histogram_quantile(0.95, sum by (worker, le) (rate(multiagents_worker_duration_seconds_bucket[1m])))'; echo
echo "== multiagents_workflows_total by outcome"
curl -s "$api" --data-urlencode 'query=sum by (outcome) (multiagents_workflows_total)'; echo
echo "== GET /health (HTTP status, overall status)"
curl -s -o "$work/health.json" -w '%{http_code} ' "http://127.0.0.1:$PORT_APP/health"
grep -o '"status":"[a-z]*"' "$work/health.json" | head -1
echo "== scrape errors in the target list"
curl -s "http://127.0.0.1:$PORT_PROM/api/v1/targets" | grep -o '"health":"[a-z]*"\|"lastError":"[^"]*"'
