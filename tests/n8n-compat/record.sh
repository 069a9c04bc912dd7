#!/usr/bin/env bash
# Records what real n8n answers for each workflow in examples/n8n/, as
# examples/n8n/<case>.expected.json. Not run in CI: CI compares against the
# committed recordings (host/import/tests/compat.rs).
#
#   N8N_DIR=/path/with/node_modules/n8n tests/n8n-compat/record.sh [CASE...]
#
# N8N_DIR must hold n8n 1.119.2, installed with
#   {"dependencies": {"n8n": "1.119.2"}, "overrides": {"xlsx": "0.18.5"}}
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cases_dir="$here/../../examples/n8n"
n8n="${N8N_DIR:?set N8N_DIR to the folder holding node_modules/n8n}/node_modules/.bin/n8n"
version="$("$n8n" --version)"
[ "$version" = "1.119.2" ] || { echo "expected n8n 1.119.2, found $version" >&2; exit 1; }
export N8N_USER_FOLDER="${N8N_USER_FOLDER:-$(mktemp -d)}" N8N_RUNNERS_ENABLED=false \
  N8N_DIAGNOSTICS_ENABLED=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=false \
  GENERIC_TIMEZONE=UTC TZ=UTC
python3 "$here/fixtures.py" "$cases_dir" >/dev/null
if [ $# -gt 0 ]; then cases="$(printf '%s\n' "$@" | grep -vx -e expressions -e webhooks || true)"; else
  cases="$(cd "$cases_dir" && ls *.json | grep -v -e '\.expected\.json$' -e '^webhook-' | sed 's/\.json$//')"; fi
for case in $cases; do
  file="$cases_dir/$case.json"
  id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$file")"
  "$n8n" import:workflow --input="$file" >/dev/null 2>&1
  raw="$(mktemp)"
  "$n8n" execute --id="$id" --rawOutput >"$raw" 2>/dev/null || true
  # Keep each node's output items (their JSON) per output, and the error.
  python3 - "$raw" "$cases_dir/$case.expected.json" "$version" <<'PY'
import json, sys
raw, out, version = sys.argv[1:4]
text = open(raw).read()
run, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
result = run["data"]["resultData"]
nodes = {}
for name, runs in result["runData"].items():
    last = runs[-1]
    data = (last.get("data") or {}).get("main") or []
    nodes[name] = [[item["json"] for item in (output or [])] for output in data]
expected = {"n8n": version, "nodes": nodes}
error = result.get("error")
if error:
    expected["error"] = {"node": (error.get("node") or {}).get("name"), "message": error.get("message")}
with open(out, "w") as f:
    json.dump(expected, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(out, "error" if error else "ok")
PY
  rm -f "$raw"
done

# The expression corpus: one node per expression, each value JSON-encoded.
if [ $# -eq 0 ] || [[ " $* " == *" expressions "* ]]; then
  wf="$(mktemp --suffix=.json)"
  python3 "$here/expressions.py" workflow >"$wf"
  "$n8n" import:workflow --input="$wf" >/dev/null 2>&1
  raw="$(mktemp)"
  "$n8n" execute --id=exprcorpusxxxxxx --rawOutput >"$raw" 2>/dev/null || true
  python3 - "$raw" "$here/expressions.expected.json" "$version" "$here/expressions.py" <<'PY'
import json, subprocess, sys
raw, out, version, source = sys.argv[1:5]
corpus = json.loads(subprocess.check_output([sys.executable, source]))
text = open(raw).read()
run, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
data = run["data"]["resultData"]["runData"]
cases = []
for i, expr in enumerate(corpus["expressions"]):
    item = data[f"E{i:03d}"][-1]["data"]["main"][0][0]["json"]
    case = {"expression": expr}
    if "error" in item:
        case["error"] = item["error"]
    else:
        v = item.get("v")
        case["value"] = None if v is None else json.loads(v)
    cases.append(case)
with open(out, "w") as f:
    json.dump({"n8n": version, "item": corpus["item"], "cases": cases}, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(out, len(cases), "cases,", sum("error" in c for c in cases), "errors in n8n")
PY
  rm -f "$raw" "$wf"
fi

# Webhooks: import and activate each workflow, start n8n, call each webhook.
if [ $# -eq 0 ] || [[ " $* " == *" webhooks "* ]]; then
  requests="$(mktemp)"
  python3 "$here/webhooks.py" "$cases_dir" >"$requests"
  for id in $(python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(open(sys.argv[1])).values()))' "$requests"); do
    name="$(python3 -c 'import json,sys; print([k for k,r in json.load(open(sys.argv[1])).items() if r["id"]==sys.argv[2]][0])' "$requests" "$id")"
    "$n8n" import:workflow --input="$cases_dir/$name.json" >/dev/null 2>&1
    "$n8n" update:workflow --id="$id" --active=true >/dev/null 2>&1
  done
  port="${N8N_PORT:-5679}"
  N8N_PORT="$port" "$n8n" start >"$N8N_USER_FOLDER/start.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done
  # Webhooks register just after /healthz answers.
  for _ in $(seq 1 30); do
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d '{}' "http://127.0.0.1:$port/webhook/compat-respond-text")"
    [ "$code" != 404 ] && break; sleep 1
  done
  python3 - "$requests" "$cases_dir" "$version" "$port" <<'PY'
import json, sys, urllib.request
requests, cases_dir, version, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
for name, r in json.load(open(requests)).items():
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhook/{r['path']}", data=json.dumps(r["body"]).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        res = urllib.request.urlopen(req)
    except urllib.error.HTTPError as e:
        res = e
    body = res.read().decode()
    ctype = res.headers.get("content-type", "")
    expected = {"n8n": version, "request": r["body"], "status": res.status,
                "headers": {k.lower(): v for k, v in res.headers.items() if k.lower() in ("content-type", "x-compat")},
                "body": json.loads(body) if "json" in ctype else body}
    with open(f"{cases_dir}/{name}.expected.json", "w") as f:
        json.dump(expected, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(name, res.status, body[:80])
PY
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  rm -f "$requests"
fi
