//! JavaScript's conversions, as n8n's type checks apply them to JSON values:
//! `Number(v)`, `String(v)`, `typeof v`, truthiness.

use serde_json::Value;

/// `Number(value)`; `None` for `NaN`.
pub(crate) fn to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Null => Some(0.0),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => string_to_number(s),
        // `Number([])` is 0 and `Number([x])` is `Number(String(x))`.
        Value::Array(items) => match items.as_slice() {
            [] => Some(0.0),
            [one] if !one.is_object() => string_to_number(&to_string(one)),
            _ => None,
        },
        Value::Object(_) => None,
    }
}

fn string_to_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    let radix = |prefix: [&str; 2], radix: u32| {
        prefix
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .map(|digits| u64::from_str_radix(digits, radix).ok().map(|n| n as f64))
    };
    if let Some(n) = radix(["0x", "0X"], 16)
        .or_else(|| radix(["0o", "0O"], 8))
        .or_else(|| radix(["0b", "0B"], 2))
    {
        return n;
    }
    match t {
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust accepts `inf`, `nan` and `1e5`-style forms JS also accepts, but
    // not the words; refuse anything alphabetic except an exponent.
    if t.chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// `String(value)`: arrays joined by commas, objects as `[object Object]`.
pub(crate) fn to_string(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                other => to_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// `JSON.stringify(value)` for objects and arrays, `String(value)` otherwise.
pub(crate) fn to_json_text(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) => value.to_string(),
        other => to_string(other),
    }
}

/// A number as JavaScript prints it (`1`, not `1.0`).
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// A number as a JSON value: integral values as integers.
pub(crate) fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `typeof value`.
pub(crate) fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => "object",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

/// JavaScript truthiness.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `a === b` for primitives; objects and arrays are never the same value.
pub(crate) fn strict_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn number_conversion_follows_javascript() {
        assert_eq!(to_number(&json!(" 12 ")), Some(12.0));
        assert_eq!(to_number(&json!("")), Some(0.0));
        assert_eq!(to_number(&json!("0x1f")), Some(31.0));
        assert_eq!(to_number(&json!("1e3")), Some(1000.0));
        assert_eq!(to_number(&json!("12abc")), None);
        assert_eq!(to_number(&json!("inf")), None);
        assert_eq!(to_number(&json!([])), Some(0.0));
        assert_eq!(to_number(&json!(["7"])), Some(7.0));
        assert_eq!(to_number(&json!([1, 2])), None);
        assert_eq!(to_number(&json!({})), None);
        assert_eq!(to_number(&json!(true)), Some(1.0));
    }

    #[test]
    fn string_conversion_follows_javascript() {
        assert_eq!(to_string(&json!([1, null, "a"])), "1,,a");
        assert_eq!(to_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(to_string(&json!(2.0)), "2");
        assert_eq!(to_string(&json!(2.5)), "2.5");
        assert_eq!(to_json_text(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn equality_compares_numbers_by_value_and_objects_never() {
        assert!(strict_equals(&json!(1), &json!(1.0)));
        assert!(!strict_equals(&json!("1"), &json!(1)));
        assert!(!strict_equals(&json!({}), &json!({})));
    }
}
