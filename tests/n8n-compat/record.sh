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
if [ $# -gt 0 ]; then cases="$(printf '%s\n' "$@" | grep -vx expressions || true)"; else
  cases="$(cd "$cases_dir" && ls *.json | grep -v '\.expected\.json$' | sed 's/\.json$//')"; fi
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
