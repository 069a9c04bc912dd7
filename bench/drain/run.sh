#!/usr/bin/env bash
# Drain under a worker's death (issue 17), on this machine, in one run:
# RUNS webhook deliveries (202, each starting a run whose one step is an
# HTTP Request node calling a local vendor) sent through 2 API processes on
# PostgreSQL + Redis, 2 workers, one SIGKILLed once a quarter of the calls
# have reached the vendor. Prints the runs accepted, the vendor calls
# received (at least one per run: a call the dead worker had in flight is
# made again), every run's final status, and runs/s from the first delivery
# until the last run ended.
#
#   bench/drain/run.sh           # RUNS (default 6000), LEASE_MS (default 2000)
#
# Needs wrk, psql and python3, PostgreSQL and Redis (PG_URL, REDIS_URL), and
# a release build. LEASE_MS is how long the dead worker's claims hold: its
# runs move on after it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
runs="${RUNS:-6000}"
lease="${LEASE_MS:-2000}"
pg="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
redis="${REDIS_URL:-redis://127.0.0.1:6379}"
bin="$root/target/release/n8n-work"
[ -x "$bin" ] || (cd "$root" && cargo build --release --locked)
work="$(mktemp -d)"
db="n8n_work_drain_$$"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_for() { for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done; echo "no answer from $1" >&2; exit 1; }

psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export N8N_WORK_DATABASE_URL="$pg/$db" N8N_WORK_REDIS_URL="$redis" N8N_WORK_REDIS_PREFIX="drain$$"
export N8N_WORK_LEASE_MS="$lease"
sql() { psql "$pg/$db" -tAc "$1"; }
data="$work/data"; mkdir -p "$data"
"$bin" migrate >/dev/null
flags=(--data-dir "$data" --egress-allow-private 127.0.0.1)
"$bin" serve --role api --listen 127.0.0.1:5781 "${flags[@]}" >"$work/api1.log" 2>&1 &
wait_for http://127.0.0.1:5781/readyz
"$bin" serve --role api --listen 127.0.0.1:5782 "${flags[@]}" >"$work/api2.log" 2>&1 &
"$bin" serve --role worker --listen 127.0.0.1:5791 "${flags[@]}" >"$work/worker1.log" 2>&1 &
doomed=$!
"$bin" serve --role worker --listen 127.0.0.1:5792 "${flags[@]}" >"$work/worker2.log" 2>&1 &
for port in 5782 5791 5792; do wait_for "http://127.0.0.1:$port/readyz"; done

python3 "$here/vendor.py" 5799 "$work/vendor.count" &
until [ -s "$work/vendor.count" ]; do sleep 0.1; done
vendor() { cat "$work/vendor.count"; }
cat >"$work/drain.yaml" <<YAML
name: drain
nodes:
  - {id: hook, type: webhook, params: {path: drain, method: POST, respond: onReceived}}
  - {id: pay, type: 'builtin:http', params: {method: POST, url: 'http://127.0.0.1:5799/charge', body: {json: {order: '{{ \$json.body.order }}'}}}, egress: ['http://127.0.0.1:5799']}
connections:
  - {from: hook, to: pay}
YAML
"$bin" workflow push "$work/drain.yaml" --activate --server http://127.0.0.1:5781 --data-dir "$data" >/dev/null
# A first run warms both workers' HTTP nodes up; it is not counted.
for _ in 1 2 3 4; do curl -sf -H 'content-type: application/json' -d '{"order":0}' http://127.0.0.1:5781/webhook/drain >/dev/null; done
until [ "$(sql "SELECT count(*) FROM executions WHERE status NOT IN ('succeeded','failed','cancelled')")" = 0 ]; do sleep 0.1; done
before="$(vendor)"; warm="$(sql "SELECT count(*) FROM executions")"

start="$(date +%s.%N)"
loads=()
for port in 5781 5782; do
  LIMIT=$((runs / 2)) wrk -t1 -c8 -d120s -s "$here/count.lua" "http://127.0.0.1:$port/webhook/drain" >"$work/wrk$port.txt" &
  loads+=($!)
done
until [ $(( $(vendor) - before )) -ge $((runs / 4)) ]; do sleep 0.05; done
kill -9 "$doomed"
killed="$(date +%s.%N)"
# wrk stops sending after LIMIT answers per connection group, but sleeps out
# its duration: the end is when every run it started has ended.
unfinished="SELECT count(*) FROM executions WHERE status NOT IN ('succeeded','failed','cancelled')"
until [ $(( $(sql "SELECT count(*) FROM executions") - warm )) -ge "$runs" ] && [ "$(sql "$unfinished")" = 0 ]; do sleep 0.25; done  # each check is a psql process and a backend: not too often
end="$(date +%s.%N)"
kill -INT "${loads[@]}" 2>/dev/null || true  # wrk prints its summary on SIGINT
wait "${loads[@]}" 2>/dev/null || true
accepted=0
for port in 5781 5782; do
  n="$(awk '/requests in/ {print $1}' "$work/wrk$port.txt")"; bad="$(awk '/Non-2xx/ {print $5}' "$work/wrk$port.txt")"
  accepted=$(( accepted + ${n:-0} - ${bad:-0} ))
done
stored=$(( $(sql "SELECT count(*) FROM executions") - warm ))
statuses="$(sql "SELECT status || ' ' || count(*) FROM executions GROUP BY status ORDER BY status" | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
awk -v a="$accepted" -v st="$stored" -v v="$(( $(vendor) - before ))" -v s="$start" -v k="$killed" -v e="$end" -v l="$lease" -v f="$statuses" \
  'BEGIN { printf "drain  %d accepted, %d stored (%s), %d vendor calls; worker killed at %.1f s, all ended at %.1f s: %.0f runs/s (lease %d ms)\n", a, st, f, v, k - s, e - s, st / (e - s), l }'
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(psql "$pg/postgres" -tAc 'show server_version' | sed 's/^/PostgreSQL /'); n8n-work $(git -C "$root" rev-parse --short HEAD)"
