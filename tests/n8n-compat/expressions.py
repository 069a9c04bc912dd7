#!/usr/bin/env python3
"""The expression corpus: n8n expressions from n8n's documentation (data
transformation functions, expression examples) and common workflows, each
evaluated against one item. `record.sh` runs them in n8n (one Edit Fields
node per expression, the value JSON-encoded) and writes
tests/n8n-compat/expressions.expected.json; host/expr's corpus test compares.
"""
import json
import sys

ITEM = {
    "name": "ada lovelace", "email": "Ada.Lovelace@Example.com", "age": 36, "score": 87.456,
    "tags": ["math", "code", "math", "poetry"], "nums": [3, 1, 4, 1, 5, 9, 2, 6],
    "empty": "", "nothing": None, "flag": True, "zero": 0, "price": "19.99",
    "html": "<p>Hello <b>world</b></p>", "url": "https://n8n.io/path?q=1#top",
    "text": "The quick brown fox jumps over the lazy dog", "padded": "  spaced out  ",
    "address": {"city": "London", "zip": "N1 9GU", "geo": {"lat": 51.5, "lng": -0.1}},
    "people": [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}, {"name": "Grace", "age": 85}],
    "date": "2024-03-15T10:30:00.000Z", "csv": "a,b,,c", "camel": "helloWorldFooBar",
    "snake": "hello_world_foo", "mixed": [1, "two", None, 3, "", 0],
    "obj": {"a": 1, "b": None, "c": "", "d": [1]},
}

E = []
def e(*exprs):
    E.extend(exprs)

# Plain JavaScript on $json, as n8n users write it.
e("$json.name", "$json.age + 1", "$json.age * 2", "$json.score.toFixed(1)", "$json.name.length",
  "$json.name.toUpperCase()", "$json.name.toLowerCase()", "$json.email.toLowerCase()",
  "$json.name.split(' ')", "$json.name.split(' ')[0]", "$json.name.replace('ada', 'Ada')",
  "$json.name.includes('love')", "$json.name.startsWith('ada')", "$json.name.endsWith('x')",
  "$json.name.indexOf('love')", "$json.name.slice(0, 3)", "$json.name.substring(4)",
  "$json.padded.trim()", "$json.padded.trimStart()", "$json.padded.trimEnd()",
  "$json.name.padStart(15, '*')", "$json.name.padEnd(15, '-')", "$json.name.charAt(0).toUpperCase() + $json.name.slice(1)",
  "$json.name.repeat(2)", "$json.text.split(' ').length", "$json.text.match(/o/g).length",
  "$json.text.replace(/o/g, '0')", "$json.text.search('fox')", "$json.csv.split(',')",
  "$json.tags.length", "$json.tags[0]", "$json.tags.join(', ')", "$json.tags.indexOf('code')",
  "$json.tags.includes('poetry')", "$json.tags.slice(1, 3)", "$json.tags.concat(['x'])",
  "$json.nums.filter(n => n > 3)", "$json.nums.map(n => n * 2)", "$json.nums.reduce((a, b) => a + b, 0)",
  "$json.nums.find(n => n > 4)", "$json.nums.findIndex(n => n > 4)", "$json.nums.some(n => n > 8)",
  "$json.nums.every(n => n > 0)", "[...$json.nums].sort((a, b) => a - b)", "[...$json.nums].reverse()",
  "$json.people.map(p => p.name)", "$json.people.filter(p => p.age > 40).length",
  "$json.people.find(p => p.name === 'Alan').age", "$json.address.city", "$json.address.geo.lat",
  "$json.address['zip']", "Object.keys($json.address)", "Object.values($json.address.geo)",
  "Object.entries($json.address.geo)", "JSON.stringify($json.address.geo)", "JSON.parse('{\"a\":1}')",
  "$json.nothing ?? 'default'", "$json.empty || 'fallback'", "$json.missing?.deep", "$json.missing === undefined",
  "typeof $json.age", "typeof $json.price", "Number($json.price)", "parseFloat($json.price) * 2",
  "parseInt('42px')", "String($json.age)", "Boolean($json.empty)", "!!$json.flag",
  "$json.age > 30 ? 'senior' : 'junior'", "$json.age >= 36 && $json.flag", "Math.round($json.score)",
  "Math.max(...$json.nums)", "Math.min(...$json.nums)", "Math.floor($json.score)", "Math.ceil($json.score)",
  "Math.abs(-5)", "Math.pow(2, 10)", "Math.sqrt(81)", "(0.1 + 0.2).toFixed(2)", "10 % 3",
  "`${$json.name} is ${$json.age}`", "[1, [2, [3]]].flat(2)", "Array.from({length: 3}, (_, i) => i)",
  "Array.isArray($json.tags)", "new Set($json.tags).size", "Object.assign({}, $json.address.geo, {alt: 0})",
  "({...$json.address.geo, lat: 0})", "$json.tags.at(-1)", "Number.isInteger($json.age)",
  "encodeURIComponent('a b&c')", "decodeURIComponent('a%20b')", "$json.url.split('?')[0]",
  "new Date($json.date).getTime()", "new Date($json.date).toISOString()", "new Date($json.date).getUTCFullYear()",
  "$json.age.toString(2)", "(1234.5678).toFixed(2)", "$json.nums.length > 5",
  "$json.mixed.filter(Boolean)", "$json.name.split('').reverse().join('')", "$json.text.toUpperCase().split(' ').slice(0, 2).join('-')")

# n8n's data transformation functions (strings).
e("$json.name.toTitleCase()", "$json.name.toSentenceCase()", "$json.camel.toSnakeCase()",
  "$json.name.toSnakeCase()", "$json.name.toKebabCase()", "$json.snake.toCamelCase()",
  "$json.name.toCamelCase()", "$json.email.extractEmail()", "('mail me at a@b.co today').extractEmail()",
  "$json.url.extractDomain()", "$json.email.extractDomain()", "('see https://n8n.io/x now').extractUrl()",
  "$json.email.isEmail()", "$json.name.isEmail()", "$json.url.isUrl()", "$json.name.isUrl()",
  "$json.price.isNumeric()", "$json.name.isNumeric()", "$json.empty.isEmpty()", "$json.name.isEmpty()",
  "$json.name.isNotEmpty()", "$json.price.toNumber()", "$json.price.toFloat()", "'42'.toInt()",
  "'true'.toBoolean()", "'false'.toBoolean()", "'0'.toBoolean()", "'yes'.toBoolean()",
  "$json.html.removeTags()", "$json.name.quote()", "$json.name.quote(\"'\")",
  "$json.text.removeMarkdown()", "'hello'.hash('md5')", "'hello'.base64Encode()", "'aGVsbG8='.base64Decode()",
  "'a b&c'.urlEncode()", "'a%20b'.urlDecode()", "$json.url.extractUrlPath()", "$json.text.replaceSpecialChars()",
  "'ï'.replaceSpecialChars()", "$json.text.toWholeNumber === undefined", "'  x '.trim().length",
  "$json.name.length.isEven()", "'12.7'.toNumber().round()", "$json.url.parseJson === undefined",
  "'{\"a\": 2}'.parseJson()", "'2024-03-15'.toDateTime().toISODate()", "$json.camel.toTitleCase()")

# Numbers.
e("$json.score.round(1)", "$json.score.round()", "$json.score.floor()", "$json.score.ceil()",
  "(-3).abs()", "$json.age.isEven()", "$json.age.isOdd()", "$json.age.isInteger()", "$json.score.isInteger()",
  "$json.zero.toBoolean()", "(1).toBoolean()", "(1234567.891).format()", "(1234.5).format('de-DE')",
  "$json.age.toFloat === undefined", "(15).isEven()")

# Arrays.
e("$json.nums.sum()", "$json.nums.max()", "$json.nums.min()", "$json.nums.average()",
  "$json.tags.unique()", "$json.tags.removeDuplicates()", "$json.nums.first()", "$json.nums.last()",
  "$json.mixed.compact()", "$json.tags.isEmpty()", "[].isEmpty()", "$json.tags.isNotEmpty()",
  "$json.people.pluck('name')", "$json.people.pluck('name', 'age')", "$json.nums.chunk(3)",
  "$json.tags.difference(['math'])", "$json.tags.intersection(['code', 'x'])", "$json.tags.union(['x'])",
  "$json.tags.smartJoin === undefined", "[{k: 'a', v: 1}, {k: 'b', v: 2}].smartJoin('k', 'v')",
  "$json.people.renameKeys('name', 'who')", "[[1, 2], [3]].merge === undefined",
  "[{a: 1}, {b: 2}].merge()", "$json.tags.toJsonString()", "$json.nums.randomItem() !== undefined",
  "[1, 2, 3].append(4, 5)", "$json.people.sum === undefined", "[3, 1, 2].sort()", "$json.nums.includes(9)")

# Objects.
e("$json.obj.isEmpty()", "({}).isEmpty()", "$json.obj.isNotEmpty()", "$json.obj.hasField('a')",
  "$json.obj.hasField('z')", "$json.obj.removeField('a')", "$json.obj.compact()", "$json.obj.keys()",
  "$json.obj.values()", "$json.address.geo.toJsonString()", "$json.obj.removeFieldsContaining === undefined",
  "$json.obj.keepFieldsContaining === undefined", "$json.address.geo.urlEncode()", "({a: 1}).merge({b: 2})")

# Dates (Luxon), with fixed times so the answer does not depend on when it runs.
e("DateTime.fromISO($json.date).toISO()", "DateTime.fromISO($json.date).toFormat('yyyy-MM-dd')",
  "DateTime.fromISO($json.date).toFormat('dd/MM/yyyy HH:mm')", "DateTime.fromISO($json.date).year",
  "DateTime.fromISO($json.date).month", "DateTime.fromISO($json.date).day", "DateTime.fromISO($json.date).weekday",
  "DateTime.fromISO($json.date).plus({days: 7}).toISODate()", "DateTime.fromISO($json.date).minus({months: 1}).toISODate()",
  "DateTime.fromISO($json.date).startOf('month').toISO()", "DateTime.fromISO($json.date).toMillis()",
  "DateTime.fromMillis(0).toISO()", "DateTime.fromSeconds(86400).toISODate()",
  "DateTime.fromISO('2024-03-20T00:00:00Z').diff(DateTime.fromISO($json.date), 'days').days",
  "DateTime.fromISO($json.date).toFormat('MMMM d, yyyy')", "DateTime.fromISO($json.date).toFormat('EEE')",
  "DateTime.fromISO($json.date).endOf('day').toISO()", "DateTime.fromISO($json.date).toUTC().hour",
  "$json.date.toDateTime().toISODate()", "DateTime.fromISO($json.date) < DateTime.fromISO('2025-01-01T00:00:00Z')",
  "typeof $now.toISO()", "$now.isValid", "$today.hour", "DateTime.fromISO($json.date).isValid",
  "DateTime.fromISO('nope').isValid")

# n8n's own variables and helpers.
e("$itemIndex", "$input.item.json.name", "$input.first().json.age", "$input.last().json.age",
  "$input.all().length", "$('Items').item.json.name", "$('Items').first().json.email",
  "$('Items').all().length", "$node['Items'].json.name", "$('Items').isExecuted",
  "$workflow.name", "$runIndex", "$ifEmpty($json.empty, 'was empty')", "$ifEmpty($json.name, 'x')",
  "$ifEmpty($json.nothing, 0)", "$max(1, 5, 3)", "$min(4, 2, 8)", "$json.tags.length > 2 ? $json.tags[2] : null")

def workflow():
    nodes = [
        {"parameters": {}, "id": "00000000-0000-4000-8000-000000000001", "name": "Start",
         "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0]},
        {"parameters": {"mode": "raw", "jsonOutput": json.dumps({"items": [ITEM]}), "options": {}},
         "id": "00000000-0000-4000-8000-000000000002", "name": "Input", "type": "n8n-nodes-base.set",
         "typeVersion": 3.4, "position": [200, 0]},
        {"parameters": {"fieldToSplitOut": "items", "options": {}}, "id": "00000000-0000-4000-8000-000000000003",
         "name": "Items", "type": "n8n-nodes-base.splitOut", "typeVersion": 1, "position": [400, 0]},
    ]
    targets = []
    for i, expr in enumerate(E):
        name = f"E{i:03d}"
        nodes.append({"parameters": {"assignments": {"assignments": [
            {"id": f"a{i}", "name": "v", "value": "={{ JSON.stringify(" + expr + ") }}", "type": "string"}]},
            "options": {}}, "id": f"00000000-0000-4000-8001-{i:012d}", "name": name,
            "type": "n8n-nodes-base.set", "typeVersion": 3.4, "position": [600, i * 100],
            "onError": "continueRegularOutput"})
        targets.append({"node": name, "type": "main", "index": 0})
    return {"name": "expression-corpus", "id": "exprcorpusxxxxxx", "active": False, "nodes": nodes,
            "settings": {"executionOrder": "v1"},
            "connections": {"Start": {"main": [[{"node": "Input", "type": "main", "index": 0}]]},
                            "Input": {"main": [[{"node": "Items", "type": "main", "index": 0}]]},
                            "Items": {"main": [targets]}}}

if __name__ == "__main__":
    if sys.argv[1:] == ["workflow"]:
        json.dump(workflow(), sys.stdout)
    else:
        json.dump({"item": ITEM, "expressions": E}, sys.stdout)
