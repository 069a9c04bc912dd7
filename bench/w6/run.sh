#!/usr/bin/env bash
# W6 (docs/performance.md): start-up. How long `serve` takes to answer /readyz
# the first time on this machine (no compiled components cached), on a new
# data directory once another has compiled them (the cache is shared by
# data directories), and again on the same one; and the first step of
# a component node after a restart (its compiled code cached on disk): the
# step's own duration as the run records it, and the whole request.
#
#   bench/w6/run.sh
#
# Needs the wasm32-wasip2 target and a release build (cargo build --release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
bin="${BIN:-$root/target/release/n8n-work}"
[ -x "$bin" ] || (cd "$root" && cargo build --release)
cargo build --release --target wasm32-wasip2 --manifest-path "$root/bench/w2/component/Cargo.toml" -q
component="$root/bench/w2/component/target/wasm32-wasip2/release/n8n_work_bench_w2.wasm"
work="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
api=http://127.0.0.1:5786

# The machine's cache of compiled components, empty at first.
export N8N_WORK_CACHE_DIR="$work/cache"

# ready [DIR]: starts serve on data directory DIR (nw); sets $took to the
# milliseconds until /readyz answers.
ready() {
  local start; start="$(date +%s%N)"
  "$bin" serve --listen 127.0.0.1:5786 --data-dir "$work/${1:-nw}" --node "bench/greet@0.1.0=$component" >>"$work/nw.log" 2>&1 &
  server=$!
  until curl -sf "$api/readyz" >/dev/null 2>&1; do sleep 0.005; done
  took=$(( ($(date +%s%N) - start) / 1000000 ))
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }

ready first; first="$took"
stop
ready; fresh="$took"
"$bin" workflow push "$root/bench/w2/w2.yaml" --activate --server "$api" --data-dir "$work/nw" >/dev/null
curl -sf -H 'content-type: application/json' -d '{"name":"Ada"}' "$api/webhook/w2" >/dev/null
stop
ready; again="$took"
request_ms="$(curl -sf -o /dev/null -w '%{time_total}' -H 'content-type: application/json' -d '{"name":"Ada"}' "$api/webhook/w2" | awk '{printf "%.1f", $1 * 1000}')"
key="$(cat "$work/nw/cli.key")"
run="$(curl -sf -H "authorization: Bearer $key" "$api/api/v1/executions?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
step_us="$(curl -sf -H "authorization: Bearer $key" "$api/api/v1/executions/$run" | python3 -c '
import json, sys
def durations(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("duration_us", "durationUs"):
                yield x
            else:
                yield from durations(x)
    elif isinstance(v, list):
        for x in v:
            yield from durations(x)
print(max(durations(json.load(sys.stdin)), default=0))')"
stop
printf 'W6 ready the first time on this machine %s ms; on a new data dir %s ms; on the same one %s ms; first component step after restart %s ms (whole request %s ms)\n' \
  "$first" "$fresh" "$again" "$(awk -v u="$step_us" 'BEGIN { printf "%.2f", u / 1000 }')" "$request_ms"
echo "machine: $(nproc) cores; n8n-work $(git -C "$root" rev-parse --short HEAD)"
