#!/usr/bin/env python3
"""Webhook workflows (examples/n8n/webhook-*.json) and the requests that
`record.sh` sends them in a running n8n; the answers (status, the headers the
workflow sets, body) go to `<case>.expected.json`."""
import json
import os
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "examples", "n8n")

def node(name, type_, version, params, x, y=0, **extra):
    n = {"parameters": params, "id": f"10000000-0000-4000-8000-{abs(sum(map(ord, name))) * 7919 % 10**12:012d}",
         "name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "position": [x, y]}
    n.update(extra)
    return n

def hook(path, **params):
    p = {"httpMethod": "POST", "path": path, "options": {}}
    p.update(params)
    return node("Webhook", "webhook", 2.1, p, 0, webhookId="00000000-0000-4000-9000-" + path.replace("-", "")[:12].ljust(12, "0"))

def chain(*names):
    c = {}
    for a, b in zip(names, names[1:]):
        c[a] = {"main": [[{"node": b, "type": "main", "index": 0}]]}
    return c

GREET = node("Greet", "set", 3.4, {"assignments": {"assignments": [
    {"id": "g1", "name": "greeting", "value": "=hello {{ $json.body.name }}", "type": "string"},
    {"id": "g2", "name": "double", "value": "={{ $json.body.n * 2 }}", "type": "number"}]}, "options": {}}, 220)
SPLIT = node("Split", "splitOut", 1, {"fieldToSplitOut": "body.items", "options": {}}, 220)

CASES = {
    "webhook-last-first": ({"name": "webhook-last-first", "nodes": [hook("compat-last-first", responseMode="lastNode", options={"responseCode": {"values": {"responseCode": 201}}}), GREET],
                            "connections": chain("Webhook", "Greet")}, {"name": "Ada", "n": 21}),
    "webhook-last-all": ({"name": "webhook-last-all", "nodes": [hook("compat-last-all", responseMode="lastNode", responseData="allEntries"), SPLIT],
                          "connections": chain("Webhook", "Split")}, {"items": [{"a": 1}, {"a": 2}]}),
    "webhook-respond-json": ({"name": "webhook-respond-json", "nodes": [hook("compat-respond-json", responseMode="responseNode"), GREET,
        node("Respond", "respondToWebhook", 1.4, {"respondWith": "json", "responseBody": "={\n  \"message\": \"{{ $json.greeting }}\",\n  \"twice\": {{ $json.double }}\n}",
             "options": {"responseCode": 202, "responseHeaders": {"entries": [{"name": "X-Compat", "value": "={{ $json.double }}"}]}}}, 440)],
        "connections": chain("Webhook", "Greet", "Respond")}, {"name": "Ada", "n": 21}),
    "webhook-respond-text": ({"name": "webhook-respond-text", "nodes": [hook("compat-respond-text", responseMode="responseNode"),
        node("Respond", "respondToWebhook", 1.4, {"respondWith": "text", "responseBody": "=Hi {{ $json.body.name }}!",
             "options": {"responseHeaders": {"entries": [{"name": "Content-Type", "value": "text/plain"}]}}}, 220)],
        "connections": chain("Webhook", "Respond")}, {"name": "Ada"}),
    "webhook-respond-all": ({"name": "webhook-respond-all", "nodes": [hook("compat-respond-all", responseMode="responseNode"), SPLIT,
        node("Respond", "respondToWebhook", 1.4, {"respondWith": "allIncomingItems", "options": {"responseKey": "data.rows"}}, 440)],
        "connections": chain("Webhook", "Split", "Respond")}, {"items": [{"a": 1}, {"a": 2}]}),
}

if __name__ == "__main__":
    requests = {}
    for name, (wf, body) in CASES.items():
        wf.update({"id": (name.replace("-", "") + "x" * 16)[:16], "active": False, "settings": {"executionOrder": "v1"}})
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(wf, f, indent=2)
            f.write("\n")
        path = wf["nodes"][0]["parameters"]["path"]
        requests[name] = {"id": wf["id"], "path": path, "body": body}
    json.dump(requests, sys.stdout)
