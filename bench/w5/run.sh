#!/usr/bin/env bash
# W5 (docs/performance.md): 10,000 runs parked on a Wait. Starts RUNS (default
# 10000) runs through a 202 webhook, each waiting until the same instant;
# reports the server's resident memory while they are parked and how long
# after that instant the last of them has finished.
#
#   bench/w5/run.sh
#
# Needs python3 and a release build (cargo build --release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
runs="${RUNS:-10000}"
bin="$root/target/release/n8n-work"
[ -x "$bin" ] || (cd "$root" && cargo build --release)
work="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
api=http://127.0.0.1:5785

"$bin" serve --listen 127.0.0.1:5785 --data-dir "$work/nw" >"$work/nw.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do curl -sf "$api/readyz" >/dev/null && break; sleep 0.5; done
"$bin" workflow push "$here/w5.yaml" --activate --server "$api" --data-dir "$work/nw" >/dev/null
key="$(cat "$work/nw/cli.key")"
running() { curl -sf -H "authorization: Bearer $key" "$api/api/v1/executions?status=running&limit=1" | grep -c '"id"' || true; }

# Every run waits until 45 s from now: time to start them all and settle.
until_ms=$(( $(date +%s%3N) + 45000 ))
# 16 keep-alive connections post until RUNS runs were accepted (202).
accepted="$(python3 - "$api/webhook/w5" "$runs" "$until_ms" <<'PY'
import http.client, json, sys, threading, urllib.parse
url, runs, until = urllib.parse.urlsplit(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"until": until})
left, accepted, lock = [runs], [0], threading.Lock()
def post():
    conn = http.client.HTTPConnection(url.hostname, url.port)
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        conn.request("POST", url.path, body, {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status == 202:
            with lock:
                accepted[0] += 1
threads = [threading.Thread(target=post) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(accepted[0])
PY
)"
started_by=$(( $(date +%s%3N) ))
[ "$started_by" -lt "$until_ms" ] || { echo "starting $runs runs took past their wake-up time; lower RUNS" >&2; exit 1; }
# Parked: resident memory a second before they wake.
sleep $(( (until_ms - started_by) / 1000 - 1 ))
rss_kib="$(ps -o rss= -p "$pid" | tr -d ' ')"
until [ "$(running)" = 0 ]; do sleep 0.1; done
done_ms="$(date +%s%3N)"
awk -v n="$accepted" -v rss="$rss_kib" -v d="$(( done_ms - until_ms ))" \
  'BEGIN { printf "W5 %d runs parked: %.0f MB resident; all resumed and finished %.2f s after their wake-up time\n", n, rss / 1024, d / 1000 }'
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); n8n-work $(git -C "$root" rev-parse --short HEAD)"
