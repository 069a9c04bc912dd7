#!/usr/bin/env bash
# W2 beside `wasmtime serve`, on this machine, in one run (docs/performance.md):
# the same component (bench/w2/component: an n8n-work node that is also a
# wasi:http handler) answers `{"name":"Ada"}` with a greeting, once as a
# workflow's node behind n8n-work's webhook (every request a durable run),
# once as `wasmtime serve`'s handler (nothing stored). wrk at 1, 16 and 64
# connections, 10 s each.
#
#   bench/w2/run.sh        # WASMTIME=path/to/wasmtime, else wasmtime on PATH,
#                          # else `cargo install wasmtime-cli@48.0.8` into bench/.wasmtime
#
# Needs wrk (apt), the wasm32-wasip2 target and a release build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
duration="${DURATION:-10s}"
bin="$root/target/release/n8n-work"
[ -x "$bin" ] || (cd "$root" && cargo build --release)
wasmtime="${WASMTIME:-$(command -v wasmtime || true)}"
if [ -z "$wasmtime" ]; then
  cargo install wasmtime-cli --version 48.0.8 --locked --root "$root/bench/.wasmtime"
  wasmtime="$root/bench/.wasmtime/bin/wasmtime"
fi
cargo build --release --target wasm32-wasip2 --manifest-path "$here/component/Cargo.toml"
component="$here/component/target/wasm32-wasip2/release/n8n_work_bench_w2.wasm"
work="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { for _ in $(seq 1 120); do curl -sf -o /dev/null -d '{}' "$1" && return 0; sleep 0.5; done; echo "no answer from $1" >&2; exit 1; }

bench() { # name url
  for c in 1 16 64; do
    t=$(( c < 2 ? 1 : 2 ))
    out="$(wrk -t"$t" -c"$c" -d"$duration" --latency -s "$root/bench/w1/post.lua" "$2")"
    printf '%-15s c=%-3s %10s req/s  p50 %-9s p99 %-9s %s\n' "$1" "$c" \
      "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
      "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')"
  done
}

"$bin" serve --listen 127.0.0.1:5683 --data-dir "$work/nw" --node "bench/greet@0.1.0=$component" >"$work/nw.log" 2>&1 &
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:5683/healthz >/dev/null && break; sleep 0.5; done
"$bin" workflow push "$here/w2.yaml" --activate --server http://127.0.0.1:5683 --data-dir "$work/nw" >/dev/null
curl -sf -H 'content-type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:5683/webhook/w2; echo
bench n8n-work http://127.0.0.1:5683/webhook/w2
kill %1; wait %1 2>/dev/null || true

"$wasmtime" serve -Scli --addr 127.0.0.1:5684 "$component" >"$work/wasmtime.log" 2>&1 &
wait_for http://127.0.0.1:5684/
curl -sf -H 'content-type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:5684/; echo
bench "wasmtime serve" http://127.0.0.1:5684/
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $("$wasmtime" --version); n8n-work $(git -C "$root" rev-parse --short HEAD)"
