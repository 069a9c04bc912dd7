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
if [ $# -gt 0 ]; then cases="$*"; else
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
