#!/usr/bin/env python3
"""Writes the n8n workflows in examples/n8n/ (n8n 1.119.2's export format).

Each case is Start (Manual Trigger) -> Input (Edit Fields, JSON mode) ->
Items (Split Out) -> the nodes under test, with a No Op on every branch so
that each output shows in the recording. `record.sh` runs them in n8n and
writes `<case>.expected.json`; the Rust test in host/import runs the
imported workflows and compares.
"""
import hashlib
import json
import os
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "examples", "n8n")

def digest(text):
    return hashlib.sha1(text.encode()).hexdigest()

def node(name, type_, version, params, x, y=0, **extra):
    n = {"parameters": params, "id": f"00000000-0000-4000-8000-{digest(name)[:12]}",
         "name": name, "type": f"n8n-nodes-base.{type_}", "typeVersion": version, "position": [x, y]}
    n.update(extra)
    return n

def noop(name, x, y):
    return node(name, "noOp", 1, {}, x, y)

def cond(left, op_type, operation, right=None, single=False, right_type=None):
    c = {"id": "c" + digest(left + operation + str(right))[:8], "leftValue": left,
         "rightValue": "" if right is None else right, "operator": {"type": op_type, "operation": operation}}
    if single:
        c["operator"]["singleValue"] = True
    if right_type:
        c["operator"]["rightType"] = right_type
    return c

def conditions(items, combinator="and", case=True, validation="strict", version=2):
    return {"options": {"caseSensitive": case, "leftValue": "", "typeValidation": validation, "version": version},
            "conditions": items, "combinator": combinator}

def workflow(name, items, tested, edges):
    """`tested`: nodes after Items; `edges`: (from, output, to, input)."""
    nodes = [
        node("Start", "manualTrigger", 1, {}, 0),
        node("Input", "set", 3.4, {"mode": "raw", "jsonOutput": json.dumps({"items": items}), "options": {}}, 220),
        node("Items", "splitOut", 1, {"fieldToSplitOut": "items", "options": {}}, 440),
    ] + tested
    connections = {}
    def link(a, out, b, inp=0):
        outs = connections.setdefault(a, {"main": []})["main"]
        while len(outs) <= out:
            outs.append([])
        outs[out].append({"node": b, "type": "main", "index": inp})
    link("Start", 0, "Input")
    link("Input", 0, "Items")
    for e in edges:
        link(*e)
    return {"name": name, "nodes": nodes, "connections": connections, "active": False,
            "settings": {"executionOrder": "v1"}, "id": (name.replace("-", "") + "x" * 16)[:16],
            "tags": []}

PEOPLE = [{"name": "Ada", "age": 36, "city": "London", "tags": ["math", "code"]},
          {"name": "alan", "age": "41", "city": "Wilmslow", "tags": []},
          {"name": "Grace", "age": 85, "city": None, "tags": ["navy"]}]

CASES = {}

def case(name, items, tested, edges):
    CASES[name] = workflow(name, items, tested, edges)

# Edit Fields (Set) 3.4: typed assignments, include modes, dotted names.
case("set-manual", PEOPLE, [
    node("Typed", "set", 3.4, {"assignments": {"assignments": [
        {"id": "a1", "name": "age", "value": "={{ $json.age }}", "type": "number"},
        {"id": "a2", "name": "label", "value": "={{ $json.name.toUpperCase() }} ({{ $json.age }})", "type": "string"},
        {"id": "a3", "name": "address.city", "value": "={{ $json.city }}", "type": "string"},
        {"id": "a4", "name": "adult", "value": "true", "type": "boolean"},
        {"id": "a5", "name": "tagCount", "value": "={{ $json.tags.length }}", "type": "number"},
        {"id": "a6", "name": "meta", "value": "={\"from\": \"{{ $json.name }}\"}", "type": "object"},
        {"id": "a7", "name": "list", "value": "[1, 2]", "type": "array"}]},
        "options": {}}, 660),
    node("Keep all", "set", 3.4, {"assignments": {"assignments": [
        {"id": "b1", "name": "seen", "value": True, "type": "boolean"}]},
        "includeOtherFields": True, "options": {}}, 880),
    node("Except", "set", 3.4, {"assignments": {"assignments": [
        {"id": "c1", "name": "x.y", "value": 1, "type": "number"}]},
        "includeOtherFields": True, "include": "except", "excludeFields": "tags, city", "options": {"dotNotation": False}}, 1100),
    node("Selected", "set", 3.4, {"assignments": {"assignments": []},
        "includeOtherFields": True, "include": "selected", "includeFields": "name,x.y", "options": {}}, 1320),
], [("Items", 0, "Typed"), ("Typed", 0, "Keep all"), ("Keep all", 0, "Except"), ("Except", 0, "Selected")])

case("set-json", PEOPLE, [
    node("As JSON", "set", 3.4, {"mode": "raw", "jsonOutput": "={\n  \"who\": \"{{ $json.name }}\",\n  \"next\": {{ $json.age + 1 }},\n  \"tags\": {{ JSON.stringify($json.tags) }}\n}", "includeOtherFields": True, "include": "selected", "includeFields": "city", "options": {}}, 660),
], [("Items", 0, "As JSON")])

case("set-type-error", PEOPLE, [
    node("Bad number", "set", 3.4, {"assignments": {"assignments": [
        {"id": "a1", "name": "n", "value": "={{ $json.name }}", "type": "number"}]}, "options": {}}, 660),
], [("Items", 0, "Bad number")])

# IF 2.2 and Filter 2.2: operators, strict and loose types.
case("if-operators", PEOPLE, [
    node("Older than 40", "if", 2.2, {"conditions": conditions([
        cond("={{ $json.age }}", "number", "gt", 40)], validation="loose"), "looseTypeValidation": True, "options": {}}, 660),
    noop("Old", 880, -100), noop("Young", 880, 100),
    node("Name and tags", "if", 2.2, {"conditions": conditions([
        cond("={{ $json.name }}", "string", "startsWith", "a"),
        cond("={{ $json.tags }}", "array", "empty", single=True)], combinator="or", case=False), "options": {}}, 1100, 100),
    noop("Matched", 1320, 0), noop("Other", 1320, 200),
], [("Items", 0, "Older than 40"), ("Older than 40", 0, "Old"), ("Older than 40", 1, "Young"),
    ("Young", 0, "Name and tags"), ("Name and tags", 0, "Matched"), ("Name and tags", 1, "Other")])

case("if-v1", PEOPLE, [
    node("Old IF", "if", 1, {"conditions": {
        "number": [{"value1": "={{ $json.age }}", "operation": "larger", "value2": 40}],
        "string": [{"value1": "={{ $json.name }}", "operation": "startsWith", "value2": "G"},
                   {"value1": "={{ $json.city }}", "operation": "isEmpty"}]}, "combineOperation": "any"}, 660),
    noop("V1 true", 880, -100), noop("V1 false", 880, 100),
    node("All of", "if", 1, {"conditions": {
        "boolean": [{"value1": "={{ $json.tags.length > 0 }}", "value2": True}],
        "string": [{"value1": "={{ $json.name }}", "operation": "regex", "value2": "/^a/i"}]}}, 1100, 100),
    noop("Both", 1320, 0), noop("Not both", 1320, 200),
], [("Items", 0, "Old IF"), ("Old IF", 0, "V1 true"), ("Old IF", 1, "V1 false"),
    ("V1 false", 0, "All of"), ("All of", 0, "Both"), ("All of", 1, "Not both")])

case("if-strict-error", PEOPLE, [
    node("Strict", "if", 2.2, {"conditions": conditions([
        cond("={{ $json.age }}", "number", "gt", 40)]), "options": {}}, 660),
    noop("Yes", 880, -100), noop("No", 880, 100),
], [("Items", 0, "Strict"), ("Strict", 0, "Yes"), ("Strict", 1, "No")])

case("filter", PEOPLE, [
    node("Has city", "filter", 2.2, {"conditions": conditions([
        cond("={{ $json.city }}", "string", "exists", single=True),
        cond("={{ $json.tags }}", "array", "contains", "code", right_type="any")], combinator="or"), "options": {}}, 660),
    node("Regex", "filter", 2.2, {"conditions": conditions([
        cond("={{ $json.name }}", "string", "regex", "^[A-Z]")]), "options": {}}, 880),
], [("Items", 0, "Has city"), ("Has city", 0, "Regex")])

# Switch 3.2: rules, fallback, all matching, expression mode.
case("switch-rules", PEOPLE, [
    node("Route", "switch", 3.2, {"rules": {"values": [
        {"conditions": conditions([cond("={{ $json.city }}", "string", "equals", "london")], case=False), "renameOutput": True, "outputKey": "London"},
        {"conditions": conditions([cond("={{ $json.tags.length }}", "number", "gte", 1)])}]},
        "options": {"fallbackOutput": "extra", "allMatchingOutputs": True}}, 660),
    noop("To London", 880, -200), noop("Tagged", 880, 0), noop("Elsewhere", 880, 200),
    node("By index", "switch", 3.2, {"mode": "expression", "numberOutputs": 2, "output": "={{ $json.name.length > 4 ? 1 : 0 }}"}, 1100, 200),
    noop("Short", 1320, 100), noop("Long", 1320, 300),
], [("Items", 0, "Route"), ("Route", 0, "To London"), ("Route", 1, "Tagged"), ("Route", 2, "Elsewhere"),
    ("Tagged", 0, "By index"), ("By index", 0, "Short"), ("By index", 1, "Long")])

# Merge 3.2: two branches of the same items.
ORDERS = [{"id": 1, "who": "Ada", "total": 10}, {"id": 2, "who": "Bob", "total": 20}, {"id": 3, "who": "Ada", "total": 5}]
def merge_case(name, params):
    case(name, ORDERS, [
        node("Customers", "set", 3.4, {"mode": "raw", "jsonOutput": json.dumps({"people": [{"who": "Ada", "vip": True}, {"who": "Cy", "vip": False}]}), "options": {}}, 660, 200),
        node("People", "splitOut", 1, {"fieldToSplitOut": "people", "options": {}}, 880, 200),
        node("Merge", "merge", 3.2, params, 1100),
    ], [("Items", 0, "Merge", 0), ("Items", 0, "Customers"), ("Customers", 0, "People"), ("People", 0, "Merge", 1)])
merge_case("merge-append", {})
merge_case("merge-inner", {"mode": "combine", "fieldsToMatchString": "who", "options": {}})
merge_case("merge-left", {"mode": "combine", "fieldsToMatchString": "who", "joinMode": "enrichInput1", "options": {}})
merge_case("merge-outer", {"mode": "combine", "fieldsToMatchString": "who", "joinMode": "keepEverything", "options": {}})
merge_case("merge-nonmatches", {"mode": "combine", "fieldsToMatchString": "who", "joinMode": "keepNonMatches", "options": {}})
merge_case("merge-enrich2", {"mode": "combine", "fieldsToMatchString": "who", "joinMode": "enrichInput2", "options": {}})
merge_case("merge-position", {"mode": "combine", "combineBy": "combineByPosition", "options": {"includeUnpaired": True}})
merge_case("merge-all", {"mode": "combine", "combineBy": "combineAll", "options": {}})
merge_case("merge-choose", {"mode": "chooseBranch", "useDataOfInput": 2})

# Split Out, Aggregate, Sort, Limit, Remove Duplicates, NoOp, Stop and Error.
SAME_TYPES = [dict(p, age=int(p["age"])) for p in PEOPLE] + [PEOPLE[0]]
case("transforms", SAME_TYPES, [
    node("Dedupe", "removeDuplicates", 2, {"compare": "selectedFields", "fieldsToCompare": "name, age"}, 660),
    node("Sorted", "sort", 1, {"sortFieldsUi": {"sortField": [{"fieldName": "name"}, {"fieldName": "age", "order": "descending"}]}, "options": {}}, 880),
    node("Top two", "limit", 1, {"maxItems": 2}, 1100),
    node("Names", "aggregate", 1, {"fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "name"}, {"fieldToAggregate": "tags", "renameField": True, "outputFieldName": "allTags"}]}, "options": {"mergeLists": True}}, 1320),
    node("All", "aggregate", 1, {"aggregate": "aggregateAllItemData", "destinationFieldName": "people"}, 1320, 200),
    node("Tags", "splitOut", 1, {"fieldToSplitOut": "allTags", "include": "allOtherFields", "options": {"destinationFieldName": "tag"}}, 1540),
    node("Last", "limit", 1, {"maxItems": 1, "keep": "lastItems"}, 1760),
    node("Same city", "removeDuplicates", 2, {"compare": "selectedFields", "fieldsToCompare": "city"}, 1100, 200),
], [("Items", 0, "Dedupe"), ("Dedupe", 0, "Sorted"), ("Sorted", 0, "Top two"), ("Top two", 0, "Names"),
    ("Sorted", 0, "All"), ("Names", 0, "Tags"), ("Tags", 0, "Last"), ("Dedupe", 0, "Same city")])

case("dedupe-nested-error", SAME_TYPES, [
    node("Dedupe", "removeDuplicates", 2, {}, 660),
], [("Items", 0, "Dedupe")])

case("dedupe-all-fields", [{"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {"a": 2, "b": "x"}], [
    node("Dedupe", "removeDuplicates", 2, {}, 660),
], [("Items", 0, "Dedupe")])

case("stop-and-error", PEOPLE, [
    node("Fail", "stopAndError", 1, {"errorMessage": "=no good: {{ $json.name }}"}, 660),
], [("Items", 0, "Fail")])

# Expressions as n8n evaluates them.
case("expressions", PEOPLE[:2], [
    node("Exprs", "set", 3.4, {"assignments": {"assignments": [
        {"id": f"e{i}", "name": n, "value": v, "type": t} for i, (n, v, t) in enumerate([
            ("first", "={{ $('Input').item.json.items[0].name }}", "string"),
            ("node", "={{ $node[\"Items\"].json.name }}", "string"),
            ("inputFirst", "={{ $input.first().json.name }}", "string"),
            ("count", "={{ $input.all().length }}", "number"),
            ("index", "={{ $itemIndex }}", "number"),
            ("upper", "={{ $json.name.toUpperCase() }}", "string"),
            ("title", "={{ $json.city.toLowerCase().toTitleCase() }}", "string"),
            ("snake", "={{ 'Hello World'.toSnakeCase() }}", "string"),
            ("ternary", "={{ $json.age > 40 ? 'old' : 'young' }}", "string"),
            ("sum", "={{ [1, 2, 3].sum() }}", "number"),
            ("uniq", "={{ [1, 1, 2].unique() }}", "array"),
            ("rounded", "={{ (1.256).round(2) }}", "number"),
            ("email", "={{ 'mail ada@example.com now'.extractEmail() }}", "string"),
            ("isEmpty", "={{ ''.isEmpty() }}", "boolean"),
            ("keys", "={{ Object.keys($json).sort().join(',') }}", "string"),
            ("wf", "={{ $workflow.name }}", "string"),
            ("json", "={{ JSON.stringify({a: 1}) }}", "string"),
            ("mix", "=Hi {{ $json.name }}, {{ $json.tags.length }} tags", "string"),
        ])]}, "options": {}}, 660),
], [("Items", 0, "Exprs")])

os.makedirs(OUT, exist_ok=True)
for name, wf in CASES.items():
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(wf, f, indent=2)
        f.write("\n")
print(" ".join(sorted(CASES)))
