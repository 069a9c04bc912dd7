//! n8n's condition builder (the `filter` parameter of IF, Filter and
//! Switch): typed operators, strict or loose type validation, `and`/`or`.
//!
//! Compared against n8n 1.119.2 (`n8n-workflow`'s filter parameter and type
//! validation). Conditions arrive with their expressions already evaluated
//! for the current item:
//!
//! ```yaml
//! conditions:
//!   combinator: and
//!   options: {caseSensitive: true, typeValidation: strict, version: 2}
//!   conditions:
//!     - leftValue: '{{ $json.total }}'
//!       rightValue: 100
//!       operator: {type: number, operation: gt}
//! ```

use serde_json::{Map, Value};

use super::js;

/// Why a condition could not be checked: n8n's message, word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConditionError(pub(crate) String);

/// A value once read as its operator's type.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Absent,
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<Value>),
    Object(Map<String, Value>),
    /// Milliseconds since the epoch.
    Time(f64),
    Any(Value),
}

impl Typed {
    fn exists(&self) -> bool {
        match self {
            Typed::Absent => false,
            Typed::Number(n) => !n.is_nan(),
            Typed::Any(v) => !v.is_null(),
            _ => true,
        }
    }
}

/// Whether `filter` (the evaluated `conditions` parameter) passes for item
/// `item`.
pub(crate) fn passes(filter: &Value, loose: bool, item: usize) -> Result<bool, ConditionError> {
    let options = filter.get("options").cloned().unwrap_or(Value::Null);
    // n8n's editor writes the node's loose-typing switch into the options;
    // the flag decides only when they leave it out.
    let strict = match options.get("typeValidation").and_then(Value::as_str) {
        Some(validation) => validation == "strict",
        None => !loose,
    };
    let case_sensitive = options
        .get("caseSensitive")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let version = options.get("version").and_then(Value::as_u64).unwrap_or(1);
    let conditions = filter
        .get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let any = filter.get("combinator").and_then(Value::as_str) == Some("or");
    for (index, condition) in conditions.iter().enumerate() {
        let verdict = check(
            condition,
            &Settings {
                strict,
                case_sensitive,
                version,
                suffix: format!("[condition {index}, item {item}]"),
            },
        )?;
        if verdict == any {
            return Ok(any);
        }
    }
    Ok(!any)
}

struct Settings {
    strict: bool,
    case_sensitive: bool,
    version: u64,
    suffix: String,
}

fn article(noun: &str) -> String {
    let an = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if an { "an" } else { "a" })
}

/// n8n's `validateFieldType` with `parseStrings`, for the filter's types.
fn parse_as(value: &Value, kind: &str, strict: bool, version: u64) -> Option<Typed> {
    if kind == "any" {
        return Some(Typed::Any(value.clone()));
    }
    if value.is_null() {
        return Some(Typed::Absent);
    }
    if kind == "boolean" && !strict {
        if version >= 2
            && let Some(b) = parse_bool(value)
        {
            return Some(Typed::Bool(b));
        }
        return Some(Typed::Bool(js::truthy(value)));
    }
    if kind == "number" && version >= 3 {
        let empty = match value {
            Value::String(s) => s.trim().is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if empty {
            return Some(Typed::Absent);
        }
    }
    match kind {
        "string" => match value {
            Value::String(s) => Some(Typed::Text(s.clone())),
            _ if strict => None,
            other => Some(Typed::Text(js::to_json_text(other))),
        },
        "number" => match value {
            Value::Number(n) => n.as_f64().map(Typed::Number),
            _ if strict => None,
            other => js::to_number(other).map(Typed::Number),
        },
        "boolean" => match value {
            Value::Bool(b) => Some(Typed::Bool(*b)),
            _ if strict => None,
            other => parse_bool(other).map(Typed::Bool),
        },
        "dateTime" => parse_time(value).map(Typed::Time),
        "object" => match value {
            Value::Object(o) => Some(Typed::Object(o.clone())),
            Value::String(s) if !strict => match serde_json::from_str(s) {
                Ok(Value::Object(o)) => Some(Typed::Object(o)),
                _ => None,
            },
            _ => None,
        },
        "array" => match value {
            Value::Array(a) => Some(Typed::List(a.clone())),
            _ if strict => None,
            other => {
                let text = js::to_string(other);
                let parsed = serde_json::from_str(&text)
                    .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")));
                match parsed {
                    Ok(Value::Array(a)) => Some(Typed::List(a)),
                    _ => None,
                }
            }
        },
        _ => Some(Typed::Any(value.clone())),
    }
}

/// n8n's `tryToParseBoolean`: booleans, `true`/`false` in any case, 0 and 1.
pub(crate) fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::String(s) if s.trim().is_empty() => None,
        other => match js::to_number(other) {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
    }
}

/// ISO 8601, RFC 2822 / HTTP dates, SQL (`2024-01-02 10:00:00`), or epoch
/// milliseconds, as Luxon and `Date.parse` read them; times without a zone
/// are UTC.
pub(crate) fn parse_time(value: &Value) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = match value {
        Value::Number(n) => return n.as_f64(),
        other => js::to_string(other),
    };
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Some(at.timestamp_millis() as f64);
    }
    if let Ok(at) = DateTime::parse_from_rfc2822(t) {
        return Some(at.timestamp_millis() as f64);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(t, format) {
            return Some(at.and_utc().timestamp_millis() as f64);
        }
    }
    for format in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(day) = NaiveDate::parse_from_str(t, format) {
            return day
                .and_hms_opt(0, 0, 0)
                .map(|at| at.and_utc().timestamp_millis() as f64);
        }
    }
    None
}

fn check(condition: &Value, settings: &Settings) -> Result<bool, ConditionError> {
    let operator = condition.get("operator").cloned().unwrap_or(Value::Null);
    let kind = operator
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let operation = operator
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("equals");
    let right_kind = operator
        .get("rightType")
        .and_then(Value::as_str)
        .unwrap_or(kind);
    let single = operator
        .get("singleValue")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let left_raw = condition.get("leftValue").cloned().unwrap_or(Value::Null);
    let right_raw = condition.get("rightValue").cloned().unwrap_or(Value::Null);
    let left = parse_as(&left_raw, kind, settings.strict, settings.version);
    let right = parse_as(&right_raw, right_kind, settings.strict, settings.version);
    let right_ok = right.is_some() || single;
    let invalid = |kind: &str, raw: &Value| {
        let from = js::type_of(raw);
        let text = js::to_string(raw);
        if settings.strict {
            format!(
                "Wrong type: '{text}' is {} but was expecting {} {}",
                article(from),
                article(kind),
                settings.suffix
            )
        } else {
            format!(
                "Conversion error: the {from} '{text}' can't be converted to {} {}",
                article(kind),
                settings.suffix
            )
        }
    };
    if left.is_none() && !right_ok && js::type_of(&left_raw) == js::type_of(&right_raw) {
        return Err(ConditionError(format!(
            "Comparison type expects {} but both fields are {}",
            article(kind),
            article(js::type_of(&left_raw))
        )));
    }
    let Some(mut left) = left else {
        return Err(ConditionError(invalid(kind, &left_raw)));
    };
    if !right_ok {
        return Err(ConditionError(invalid(right_kind, &right_raw)));
    }
    let mut right = right.unwrap_or(Typed::Absent);
    let exists = left.exists();
    match operation {
        "exists" => return Ok(exists),
        "notExists" => return Ok(!exists),
        _ => {}
    }
    let ignore_case = !settings.case_sensitive;
    Ok(match kind {
        "string" => {
            let regex = matches!(operation, "regex" | "notRegex");
            if ignore_case && !regex {
                for side in [&mut left, &mut right] {
                    if let Typed::Text(s) = side {
                        *s = s.to_lowercase();
                    }
                }
            }
            let text = |t: &Typed| match t {
                Typed::Text(s) => s.clone(),
                _ => String::new(),
            };
            let (l, r) = (text(&left), text(&right));
            match operation {
                "empty" => l.is_empty(),
                "notEmpty" => !l.is_empty(),
                "equals" => l == r,
                "notEquals" => l != r,
                "contains" => l.contains(&r),
                "notContains" => !l.contains(&r),
                "startsWith" => l.starts_with(&r),
                "notStartsWith" => !l.starts_with(&r),
                "endsWith" => l.ends_with(&r),
                "notEndsWith" => !l.ends_with(&r),
                "regex" => regex_matches(&r, ignore_case, &l)?,
                "notRegex" => !regex_matches(&r, ignore_case, &l)?,
                _ => false,
            }
        }
        "number" => {
            // JavaScript compares `null` as 0.
            let n = |t: &Typed| match t {
                Typed::Number(n) => *n,
                Typed::Absent => 0.0,
                _ => f64::NAN,
            };
            let same_kind = matches!(
                (&left, &right),
                (Typed::Number(_), Typed::Number(_)) | (Typed::Absent, Typed::Absent)
            );
            let (l, r) = (n(&left), n(&right));
            match operation {
                "empty" => !exists,
                "notEmpty" => exists,
                "equals" => same_kind && l == r,
                "notEquals" => !(same_kind && l == r),
                "gt" => l > r,
                "lt" => l < r,
                "gte" => l >= r,
                "lte" => l <= r,
                _ => false,
            }
        }
        "dateTime" => match operation {
            "empty" => !exists,
            "notEmpty" => exists,
            _ => match (&left, &right) {
                (Typed::Time(l), Typed::Time(r)) => match operation {
                    "equals" => l == r,
                    "notEquals" => l != r,
                    "after" => l > r,
                    "before" => l < r,
                    "afterOrEquals" => l >= r,
                    "beforeOrEquals" => l <= r,
                    _ => false,
                },
                _ => false,
            },
        },
        "boolean" => {
            let b = |t: &Typed| match t {
                Typed::Bool(b) => Some(*b),
                _ => None,
            };
            match operation {
                "empty" => !exists,
                "notEmpty" => exists,
                "true" => b(&left) == Some(true),
                "false" => b(&left) != Some(true),
                "equals" => b(&left) == b(&right),
                "notEquals" => b(&left) != b(&right),
                _ => false,
            }
        }
        "array" => {
            let list = match &left {
                Typed::List(items) => items.clone(),
                _ => Vec::new(),
            };
            let len = list.len() as f64;
            let count = match &right {
                Typed::Number(n) => *n,
                Typed::Any(v) => js::to_number(v).unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            let needle = match &right {
                Typed::Any(v) => v.clone(),
                Typed::Text(s) => Value::String(s.clone()),
                Typed::Number(n) => js::number_value(*n),
                Typed::Bool(b) => Value::Bool(*b),
                _ => Value::Null,
            };
            match operation {
                "contains" => contains(&list, &needle, ignore_case),
                "notContains" => !contains(&list, &needle, ignore_case),
                "lengthEquals" => len == count,
                "lengthNotEquals" => len != count,
                "lengthGt" => len > count,
                "lengthLt" => len < count,
                "lengthGte" => len >= count,
                "lengthLte" => len <= count,
                "empty" => list.is_empty(),
                "notEmpty" => !list.is_empty(),
                _ => false,
            }
        }
        "object" => {
            let size = match &left {
                Typed::Object(o) => o.len(),
                _ => 0,
            };
            match operation {
                "empty" => size == 0,
                "notEmpty" => size != 0,
                _ => false,
            }
        }
        _ => false,
    })
}

fn contains(list: &[Value], needle: &Value, ignore_case: bool) -> bool {
    match needle {
        Value::String(n) if ignore_case => list.iter().any(|v| {
            v.as_str()
                .is_some_and(|s| s.to_lowercase() == n.to_lowercase())
        }),
        _ => list.iter().any(|v| js::strict_equals(v, needle)),
    }
}

/// A pattern as n8n reads it: `/body/flags` or a bare body.
fn regex_matches(pattern: &str, ignore_case: bool, text: &str) -> Result<bool, ConditionError> {
    let (body, flags) = match pattern
        .strip_prefix('/')
        .and_then(|rest| rest.rsplit_once('/'))
    {
        Some((body, flags)) if flags.chars().all(|c| "gimusy".contains(c)) => (body, flags),
        _ => (pattern, ""),
    };
    let mut builder = regex::RegexBuilder::new(body);
    builder
        .case_insensitive(ignore_case || flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'));
    let regex = builder
        .build()
        .map_err(|e| ConditionError(format!("Invalid regular expression `{pattern}`: {e}")))?;
    Ok(regex.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn one(left: Value, op: Value, right: Value, validation: &str) -> Result<bool, ConditionError> {
        let filter = json!({
            "combinator": "and",
            "options": {"caseSensitive": true, "typeValidation": validation, "version": 2},
            "conditions": [{"leftValue": left, "rightValue": right, "operator": op}],
        });
        passes(&filter, false, 0)
    }

    #[test]
    fn strict_validation_refuses_a_string_for_a_number() {
        let err = one(
            json!("5"),
            json!({"type": "number", "operation": "gt"}),
            json!(3),
            "strict",
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            "Wrong type: '5' is a string but was expecting a number [condition 0, item 0]"
        );
        assert!(
            one(
                json!("5"),
                json!({"type": "number", "operation": "gt"}),
                json!(3),
                "loose"
            )
            .unwrap()
        );
    }

    #[test]
    fn loose_validation_reports_conversion_errors() {
        let err = one(
            json!("abc"),
            json!({"type": "number", "operation": "gt"}),
            json!(3),
            "loose",
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            "Conversion error: the string 'abc' can't be converted to a number [condition 0, item 0]"
        );
    }

    #[test]
    fn string_operators_and_case() {
        let op = |o: &str| json!({"type": "string", "operation": o});
        assert!(one(json!("Hello"), op("startsWith"), json!("He"), "strict").unwrap());
        assert!(!one(json!("Hello"), op("contains"), json!("LL"), "strict").unwrap());
        assert!(one(json!("Hello"), op("regex"), json!("/^h.l/i"), "strict").unwrap());
        assert!(one(json!(""), op("empty"), Value::Null, "strict").unwrap());
        let filter = json!({
            "combinator": "and",
            "options": {"caseSensitive": false, "typeValidation": "strict"},
            "conditions": [{"leftValue": "Hello", "rightValue": "LL", "operator": op("contains")}],
        });
        assert!(passes(&filter, false, 0).unwrap());
    }

    #[test]
    fn exists_is_false_for_null() {
        let op = json!({"type": "string", "operation": "exists", "singleValue": true});
        assert!(!one(Value::Null, op.clone(), Value::Null, "strict").unwrap());
        assert!(one(json!("x"), op, Value::Null, "strict").unwrap());
    }

    #[test]
    fn array_and_date_operators() {
        let arr = |o: &str| json!({"type": "array", "operation": o, "rightType": "any"});
        assert!(one(json!([1, 2]), arr("contains"), json!(2), "strict").unwrap());
        assert!(
            one(
                json!([1, 2]),
                json!({"type": "array", "operation": "lengthGt", "rightType": "number"}),
                json!(1),
                "strict"
            )
            .unwrap()
        );
        let date = json!({"type": "dateTime", "operation": "after"});
        assert!(
            one(
                json!("2024-05-02T00:00:00Z"),
                date,
                json!("2024-05-01"),
                "strict"
            )
            .unwrap()
        );
    }

    #[test]
    fn combinators() {
        let filter = |combinator: &str| {
            json!({
                "combinator": combinator,
                "options": {"typeValidation": "strict"},
                "conditions": [
                    {"leftValue": 1, "rightValue": 1, "operator": {"type": "number", "operation": "equals"}},
                    {"leftValue": 1, "rightValue": 2, "operator": {"type": "number", "operation": "equals"}},
                ],
            })
        };
        assert!(!passes(&filter("and"), false, 0).unwrap());
        assert!(passes(&filter("or"), false, 0).unwrap());
    }
}
