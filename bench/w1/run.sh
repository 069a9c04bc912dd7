#!/usr/bin/env bash
# W1 beside n8n, on this machine, in one run (docs/performance.md):
# webhook → Set → answer with the last node, synchronous; every request is a
# run both servers record. wrk at 1, 16 and 64 connections, 10 s each.
#
#   bench/w1/run.sh            # installs n8n 1.119.2 into bench/.n8n once
#   N8N_DIR=/dir/with/node_modules/n8n bench/w1/run.sh
#
# Needs wrk (apt), node and npm, and a release build (cargo build --release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
duration="${DURATION:-10s}"
n8n_dir="${N8N_DIR:-$root/bench/.n8n}"
if [ ! -x "$n8n_dir/node_modules/.bin/n8n" ]; then
  mkdir -p "$n8n_dir"
  echo '{"private":true,"dependencies":{"n8n":"1.119.2"},"overrides":{"xlsx":"0.18.5"}}' >"$n8n_dir/package.json"
  (cd "$n8n_dir" && npm install --no-audit --no-fund --loglevel=error)
fi
n8n="$n8n_dir/node_modules/.bin/n8n"
bin="$root/target/release/n8n-work"
[ -x "$bin" ] || (cd "$root" && cargo build --release)
work="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { for _ in $(seq 1 180); do curl -sf "$1" >/dev/null && return 0; sleep 1; done; echo "no answer from $1" >&2; exit 1; }

bench() { # name url
  for c in 1 16 64; do
    t=$(( c < 2 ? 1 : 2 ))
    out="$(wrk -t"$t" -c"$c" -d"$duration" --latency -s "$here/post.lua" "$2")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
    printf '%-9s c=%-3s %10s req/s  p50 %-9s p99 %-9s %s\n' "$1" "$c" "$rps" "$p50" "$p99" "$errors"
  done
}

# n8n-work: the release binary on its embedded SQLite store.
"$bin" serve --listen 127.0.0.1:5681 --data-dir "$work/nw" >"$work/nw.log" 2>&1 &
wait_for http://127.0.0.1:5681/healthz
"$bin" workflow push "$here/w1.yaml" --activate --server http://127.0.0.1:5681 --data-dir "$work/nw" >/dev/null
curl -sf -H 'content-type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:5681/webhook/w1; echo
bench n8n-work http://127.0.0.1:5681/webhook/w1
kill %1; wait %1 2>/dev/null || true

# n8n: its defaults (SQLite, regular execution mode), saving every run.
export N8N_USER_FOLDER="$work/n8n" N8N_PORT=5682 N8N_RUNNERS_ENABLED=false \
  N8N_DIAGNOSTICS_ENABLED=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=false \
  EXECUTIONS_DATA_SAVE_ON_SUCCESS=all N8N_LOG_LEVEL=warn
"$n8n" import:workflow --input="$here/w1-n8n.json" >/dev/null 2>&1
"$n8n" update:workflow --id=benchw1xxxxxxxxx --active=true >/dev/null 2>&1
"$n8n" start >"$work/n8n.log" 2>&1 &
wait_for http://127.0.0.1:5682/healthz
for _ in $(seq 1 60); do
  curl -sf -H 'content-type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:5682/webhook/w1 && break; sleep 1
done; echo
bench n8n http://127.0.0.1:5682/webhook/w1
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); n8n $("$n8n" --version)"
