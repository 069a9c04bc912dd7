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

# Luxon in depth: every toFormat token, the toLocaleString presets, the
# properties, arithmetic, zones, Duration, parsing, and n8n's date extensions.
D = "DateTime.fromISO($json.date)"
PM = "DateTime.fromISO('2024-12-01T15:05:09.045Z')"
TOKENS = ["S", "SSS", "u", "uu", "uuu", "s", "ss", "m", "mm", "h", "hh", "H", "HH", "Z", "ZZ", "ZZZ", "ZZZZ",
          "ZZZZZ", "z", "a", "d", "dd", "c", "ccc", "cccc", "ccccc", "E", "EEE", "EEEE", "EEEEE", "L", "LL", "LLL",
          "LLLL", "LLLLL", "M", "MM", "MMM", "MMMM", "MMMMM", "y", "yy", "yyyy", "yyyyyy", "G", "GG", "GGGGG", "kk",
          "kkkk", "W", "WW", "o", "ooo", "q", "qq", "X", "x", "D", "DD", "DDD", "DDDD", "t", "tt", "ttt", "tttt",
          "T", "TT", "TTT", "TTTT", "f", "ff", "fff", "ffff", "F", "FF", "FFF", "FFFF"]
e(*[f"{D}.toFormat('{t}')" for t in TOKENS])
e(f"{PM}.toFormat('h hh a S SSS u uu uuu')", f"{PM}.toFormat('cccc, LLLL d, yyyy')", f"{PM}.toFormat(\"'Week' W 'of' kkkk, 'day' o\")",
  f"{D}.toFormat(\"yyyy-MM-dd'T'HH:mm:ss.SSSZZ\")", f"{D}.toFormat('EEE, MMM d')", f"{D}.toFormat('LLL yyyy')",
  "DateTime.fromISO('2021-01-01T00:00:00Z').toFormat('kkkk-WW')", "DateTime.fromISO('2024-12-30T00:00:00Z').toFormat('kkkk-WW-c')")
e(*[f"{D}.toLocaleString(DateTime.{p})" for p in ["DATE_SHORT", "DATE_MED", "DATE_MED_WITH_WEEKDAY", "DATE_FULL", "DATE_HUGE",
  "TIME_SIMPLE", "TIME_WITH_SECONDS", "TIME_WITH_SHORT_OFFSET", "TIME_WITH_LONG_OFFSET", "TIME_24_SIMPLE", "TIME_24_WITH_SECONDS",
  "TIME_24_WITH_SHORT_OFFSET", "DATETIME_SHORT", "DATETIME_SHORT_WITH_SECONDS", "DATETIME_MED", "DATETIME_MED_WITH_SECONDS",
  "DATETIME_MED_WITH_WEEKDAY", "DATETIME_FULL", "DATETIME_HUGE"]])
e(f"{D}.toLocaleString()", f"{PM}.toLocaleString(DateTime.DATETIME_MED)", f"{D}.toLocaleString({{month: 'long', day: 'numeric'}})",
  f"{D}.toLocaleString({{weekday: 'long'}})", f"{D}.toLocaleString({{month: 'short', year: 'numeric'}})",
  f"{D}.toLocaleString({{year: 'numeric', month: '2-digit', day: '2-digit'}})")
e(*[f"{D}.{p}" for p in ["weekdayLong", "weekdayShort", "monthLong", "monthShort", "quarter", "offsetNameShort", "offsetNameLong",
  "offset", "zoneName", "isOffsetFixed", "isInDST", "isInLeapYear", "daysInMonth", "daysInYear", "weekNumber", "weekYear", "ordinal",
  "millisecond", "second", "minute", "hour", "locale", "weeksInWeekYear", "zone.name", "invalidReason"]])
e("DateTime.fromISO('2024-02-30').invalidReason", "DateTime.fromISO('2024-02-30').toISO()", "DateTime.fromISO('2024-02-30').toString()")
# Arithmetic.
e(f"{D}.plus({{hours: 36}}).toISO()", "DateTime.fromISO('2024-01-31T12:00:00Z').plus({months: 1}).toISO()",
  f"{D}.minus({{weeks: 2}}).toISO()", f"{D}.plus(Duration.fromObject({{days: 1, hours: 2}})).toISO()", f"{D}.plus(3600000).toISO()",
  f"{D}.plus({{days: 1.5}}).toISO()", f"{D}.startOf('year').toISO()", f"{D}.startOf('quarter').toISO()", f"{D}.startOf('week').toISO()",
  f"{D}.startOf('hour').toISO()", f"{D}.endOf('month').toISO()", f"{D}.endOf('year').toISO()", f"{D}.endOf('week').toISO()",
  f"{D}.endOf('quarter').toISO()", f"{D}.set({{day: 1, hour: 9}}).toISO()", f"{D}.set({{month: 2, day: 31}}).toISO()",
  f"{D}.set({{weekday: 1}}).toISODate()",
  f"DateTime.fromISO('2024-12-25T00:00:00Z').diff({D}, ['months', 'days']).toObject()",
  f"DateTime.fromISO('2024-12-25T00:00:00Z').diff({D}, 'hours').hours", f"DateTime.fromISO('2024-12-25T00:00:00Z').diff({D}, 'weeks').weeks",
  f"{D}.diff(DateTime.fromISO('2020-02-29T00:00:00Z'), 'years').years", f"{D}.diff(DateTime.fromISO('2024-03-14T08:00:00Z')).toMillis()",
  f"{D}.diff(DateTime.fromISO('2024-03-14T08:00:00Z'), ['days', 'hours', 'minutes']).toObject()",
  f"DateTime.fromISO('2024-01-01T00:00:00Z').diff({D}, 'days').days", f"{D}.diff(DateTime.fromISO('2023-01-15T10:30:00Z'), 'months').months",
  f"{D}.hasSame(DateTime.fromISO('2024-03-01T00:00:00Z'), 'month')", f"{D}.hasSame(DateTime.fromISO('2024-04-01T00:00:00Z'), 'month')",
  f"{D}.equals(DateTime.fromISO('2024-03-15T10:30:00Z'))", f"DateTime.max({D}, DateTime.fromISO('2025-01-01')).toISODate()",
  f"DateTime.min({D}, DateTime.fromISO('2025-01-01')).toISODate()", f"{D}.toRelative({{base: DateTime.fromISO('2024-03-20T10:30:00Z')}})",
  f"{D}.toRelative({{base: DateTime.fromISO('2024-03-15T08:30:00Z')}})", f"{D}.toRelative({{base: DateTime.fromISO('2024-01-01T00:00:00Z'), unit: 'days'}})",
  f"{D}.toRelativeCalendar({{base: DateTime.fromISO('2024-03-16T09:00:00Z')}})", f"{D}.toRelativeCalendar({{base: DateTime.fromISO('2024-03-15T00:00:00Z')}})")
# Zones.
NY = f"{D}.setZone('America/New_York')"
BER = f"{D}.setZone('Europe/Berlin')"
e(f"{NY}.toISO()", f"{NY}.toFormat('HH:mm ZZZZ')", f"{NY}.offsetNameShort", f"{NY}.offsetNameLong", f"{NY}.isInDST", f"{NY}.offset",
  f"{NY}.zoneName", f"{NY}.toFormat('ZZZZZ')", f"{NY}.toLocaleString(DateTime.DATETIME_FULL)", f"{NY}.isOffsetFixed",
  f"{BER}.toISO()", f"{BER}.toFormat('HH:mm ZZZZ')", f"{BER}.offsetNameLong", f"{BER}.plus({{days: 20}}).toISO()",
  f"{BER}.plus({{days: 20}}).offsetNameLong", f"{D}.setZone('Asia/Kolkata').toISO()", f"{D}.setZone('Asia/Kolkata').offsetNameShort",
  f"{D}.setZone('Asia/Tokyo').toFormat('yyyy-MM-dd HH:mm z')", f"{D}.setZone('UTC+2').toISO()", f"{D}.setZone('UTC-5:30').toISO()",
  f"{D}.setZone('UTC+2').zoneName", f"{D}.setZone('UTC+2').offsetNameShort", f"{D}.setZone(120).toISO()",
  f"{D}.setZone('Nowhere/Zone').isValid", f"{D}.setZone('Nowhere/Zone').invalidReason", f"{NY}.toUTC().toISO()",
  f"{D}.setZone('Europe/Berlin', {{keepLocalTime: true}}).toISO()", f"{NY}.startOf('day').toISO()", f"{NY}.startOf('day').toMillis()",
  "DateTime.fromISO('2024-03-15T10:30:00+02:00').toISO()", "DateTime.fromISO('2024-03-15T10:30:00+02:00', {setZone: true}).toISO()",
  "DateTime.fromISO('2024-03-15T10:30:00', {zone: 'America/Los_Angeles'}).toISO()",
  "DateTime.fromObject({year: 2024, month: 7, day: 4}, {zone: 'America/Chicago'}).toISO()",
  "DateTime.fromISO('2024-03-10T06:30:00Z').setZone('America/New_York').plus({hours: 1}).toISO()",
  "DateTime.fromISO('2024-03-09T12:00:00', {zone: 'America/New_York'}).plus({days: 1}).toISO()")
# Duration.
e("Duration.fromObject({hours: 2, minutes: 30}).as('minutes')", "Duration.fromObject({hours: 2, minutes: 30}).toFormat('hh:mm:ss')",
  "Duration.fromObject({hours: 2, minutes: 30}).toISO()", "Duration.fromObject({hours: 2, minutes: 30}).toHuman()",
  "Duration.fromObject({days: 1, hours: 1}).toHuman()", "Duration.fromObject({hours: 2, minutes: 30}).shiftTo('minutes').minutes",
  "Duration.fromMillis(90061000).shiftTo('days', 'hours', 'minutes', 'seconds').toObject()",
  "Duration.fromISO('P1Y2M3DT4H5M6S').toObject()", "Duration.fromISO('PT1H30M').as('hours')",
  "Duration.fromObject({minutes: 150}).normalize().toObject()", "Duration.fromObject({hours: 1}).plus({minutes: 45}).toObject()",
  "Duration.fromObject({hours: 1, minutes: 5}).negate().toObject()", "Duration.fromObject({days: 2}).toMillis()",
  "Duration.fromObject({days: 1.5}).shiftTo('hours').hours", "Duration.fromObject({minutes: 90}).toFormat('h:mm')",
  "Duration.fromMillis(93784000).toFormat(\"d 'days' h 'hours' m 'minutes'\")", "Duration.fromObject({weeks: 1}).as('days')",
  "Duration.fromObject({seconds: 3725}).rescale().toObject()", "Duration.fromObject({hours: 2}).toJSON()",
  "Duration.fromISO('bad').isValid", "Duration.fromObject({months: 1}).as('days')", "Duration.fromObject({years: 1}).as('months')",
  f"{D}.diff(DateTime.fromISO('2024-03-14T08:00:00Z')).toFormat('hh:mm')",
  f"DateTime.fromISO('2024-03-20T00:00:00Z').diff({D}).as('hours')", "Duration.fromObject({hours: 1}).equals(Duration.fromObject({minutes: 60}))")
# Parsing and output.
e("DateTime.fromFormat('15/03/2024', 'dd/MM/yyyy').toISO()", "DateTime.fromFormat('March 15, 2024 3:45 PM', 'MMMM d, yyyy h:mm a').toISO()",
  "DateTime.fromFormat('2024-03-15 10:30', 'yyyy-MM-dd HH:mm', {zone: 'Europe/Berlin'}).toISO()",
  "DateTime.fromFormat('nonsense', 'dd/MM/yyyy').isValid", "DateTime.fromSQL('2024-03-15 10:30:00').toISO()",
  "DateTime.fromRFC2822('Fri, 15 Mar 2024 10:30:00 +0100').toISO()", "DateTime.fromHTTP('Fri, 15 Mar 2024 10:30:00 GMT').toISO()",
  "DateTime.fromObject({year: 2024, month: 2, day: 29}).toISODate()", "DateTime.fromISO('2024-W11-5').toISODate()",
  "DateTime.fromISO('2024-075').toISODate()", "DateTime.fromISO('20240315T103000Z').toISO()", "DateTime.utc(2024, 3, 15).toISO()",
  "DateTime.local(2024, 3, 15, 8).toISO()", "DateTime.fromSeconds(1710498600).toISO()", f"{D}.toRFC2822()", f"{D}.toHTTP()",
  f"{D}.toSQL()", f"{D}.toISOTime()", f"{D}.toISOWeekDate()", f"{D}.toISO({{suppressMilliseconds: true}})",
  f"{D}.toISODate({{format: 'basic'}})", f"{D}.toUnixInteger()", f"{D}.toObject()", f"{D}.toSeconds()", f"{D}.toJSON()",
  f"{D}.toString()", f"{D}.toMillis() === {D}.valueOf()", f"{D}.toJSDate().toISOString()", f"{D}.get('quarter')",
  "DateTime.isDateTime(DateTime.fromISO('2024-01-01'))", "DateTime.isDateTime('2024-01-01')")
# n8n's date extensions.
e("$json.date.toDateTime().format('yyyy LLL dd')", "'2024-03-15'.toDateTime().plus(2, 'days').toISODate()",
  f"{D}.minus(1, 'week').toISODate()", f"{D}.plus(90, 'min').toISO()", f"{D}.isBetween('2024-01-01', '2024-12-31')",
  f"{D}.isBetween('2024-12-31', '2024-01-01')", f"{D}.isBetween('2024-04-01', '2024-12-31')", f"{D}.isWeekend()",
  f"{D}.plus(1, 'days').isWeekend()", f"{D}.beginningOf('month').toISO()", f"{D}.beginningOf().toISO()", f"{D}.endOfMonth().toISO()",
  f"{D}.extract('month')", f"{D}.extract('yearDayNumber')", f"{D}.extract()", f"{D}.extract('weekday')",
  f"{D}.diffTo('2024-01-01', 'days')", f"{D}.diffTo('2024-01-01T00:00:00Z', ['months', 'days'])", f"{D}.diffTo('2024-03-16T10:30:00Z', 'hours')",
  f"{D}.isDst()", f"{D}.isInLast(1, 'days')", f"{D}.toInt()", "(1710498600).toDateTime('s').toISO()", "(1710498600000).toDateTime().toISO()",
  "'1710498600000'.toDateTime('ms').toISO()", "'15-03-2024'.toDateTime('dd-MM-yyyy').toISO()",
  "'Fri, 15 Mar 2024 10:30:00 +0100'.toDateTime().toISO()", "'2024-03-15 10:30:00'.toDateTime().toISO()",
  "'2024-03-15T10:30:00+01:00'.toDateTime().toISO()", "(45366).toDateTime('excel').toISO()", "'20240315'.toDateTime().toISODate()",
  "$json.date.toDateTime().setZone('America/New_York').format('h:mm a ZZZZ')", "$json.date.toDateTime().toLocaleString(DateTime.DATE_MED)")

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
