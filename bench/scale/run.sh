#!/usr/bin/env bash
# Scale-out (issue 8), on this machine, in one run: W1 (webhook → Set →
# answer, synchronous, wrk at 16 connections) and W3's shape (a 202 webhook
# starting a 10-step chain; durable steps/s until every accepted run has
# finished), on the embedded SQLite store and on PostgreSQL + Redis with one
# API process and 1, then 2, workers.
#
#   bench/scale/run.sh
#
# Needs wrk and psql (apt), PostgreSQL and Redis (PG_URL, REDIS_URL), and a
# release build (cargo build --release). DURATION (default 10s) is each
# load's length.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
duration="${DURATION:-10s}"
pg="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
redis="${REDIS_URL:-redis://127.0.0.1:6379}"
bin="$root/target/release/n8n-work"
[ -x "$bin" ] || (cd "$root" && cargo build --release)
work="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done; echo "no answer from $1" >&2; exit 1; }
stop_all() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }

# setup NAME WORKERS: the processes of one configuration; WORKERS=0 is the
# embedded store in one process. Sets $api and $data.
setup() {
  data="$work/$1"; mkdir -p "$data"
  api=http://127.0.0.1:5781
  if [ "$2" = 0 ]; then
    unset N8N_WORK_DATABASE_URL N8N_WORK_REDIS_URL
    "$bin" serve --listen 127.0.0.1:5781 --data-dir "$data" >"$data/all.log" 2>&1 &
  else
    local db="n8n_work_scale_$$_$2"
    psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    export N8N_WORK_DATABASE_URL="$pg/$db" N8N_WORK_REDIS_URL="$redis"
    "$bin" migrate >/dev/null
    "$bin" serve --role api --listen 127.0.0.1:5781 --data-dir "$data" >"$data/api.log" 2>&1 &
    for i in $(seq 1 "$2"); do
      "$bin" serve --role worker --listen "127.0.0.1:$((5790 + i))" --data-dir "$data" >"$data/worker$i.log" 2>&1 &
      wait_for "http://127.0.0.1:$((5790 + i))/readyz"
    done
  fi
  wait_for "$api/readyz"
}

# w1: requests/s and p50/p99 at 16 connections.
w1() {
  "$bin" workflow push "$root/bench/w1/w1.yaml" --activate --server "$api" --data-dir "$data" >/dev/null
  curl -sf -H 'content-type: application/json' -d '{"name":"Ada"}' "$api/webhook/w1" >/dev/null
  local out; out="$(wrk -t2 -c16 -d"$duration" --latency -s "$root/bench/w1/post.lua" "$api/webhook/w1")"
  printf 'W1 %-12s %10s req/s  p50 %-9s p99 %-9s %s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
    "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')"
}

# w3: webhooks for DURATION at 16 connections, then until every accepted
# run has finished; steps/s over the whole time.
w3() {
  local key; key="$(cat "$data/cli.key")"
  "$bin" workflow push "$here/w3.yaml" --activate --server "$api" --data-dir "$data" >/dev/null
  local start; start="$(date +%s.%N)"
  local out; out="$(wrk -t2 -c16 -d"$duration" -s "$root/bench/w1/post.lua" "$api/webhook/w3")"
  local accepted; accepted="$(awk '/requests in/ {print $1}' <<<"$out")"
  local refused; refused="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
  accepted=$(( accepted - ${refused:-0} ))
  until [ "$(curl -sf -H "authorization: Bearer $key" "$api/api/v1/executions?status=running&limit=1" | grep -c '"id"')" = 0 ]; do sleep 0.2; done
  local end; end="$(date +%s.%N)"
  awk -v n="$accepted" -v s="$start" -v e="$end" -v name="$1" \
    -v refused="${refused:-0}" \
    'BEGIN { printf "W3 %-12s %8d runs  %10.0f steps/s  (%.1f s until all finished; %d refused with 429 past --max-in-flight)\n", name, n, n * 10 / (e - s), e - s, refused }'
}

for config in "embedded 0" "pg-1-worker 1" "pg-2-workers 2"; do
  set -- $config
  setup "$1" "$2"; w1 "$1"; stop_all
  setup "$1-w3" "$2"; w3 "$1"; stop_all
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(psql "$pg/postgres" -tAc 'show server_version' | sed 's/^/PostgreSQL /'); n8n-work $(git -C "$root" rev-parse --short HEAD)"
