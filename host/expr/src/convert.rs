//! JSON ↔ JavaScript conversion with depth and size caps.

use boa_engine::{Context, JsValue, js_string, property::PropertyKey, value::JsVariant};
use serde_json::{Map, Number, Value};

/// Depth of a JSON value, counted without recursion so hostile input cannot
/// overflow the stack; stops as soon as `limit` is passed.
pub(crate) fn depth_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        if d > limit {
            return true;
        }
        stack.extend(children.map(|c| (c, d + 1)));
    }
    false
}

/// Why the result could not be turned into JSON.
pub(crate) enum OutputError {
    TooLarge,
    Js(boa_engine::JsError),
}

impl From<boa_engine::JsError> for OutputError {
    fn from(e: boa_engine::JsError) -> Self {
        OutputError::Js(e)
    }
}

/// Converts a result to JSON as `JSON.stringify` would (functions and
/// `undefined` dropped from objects, `toJSON` honoured), charging every
/// value against `budget` bytes and refusing more than `depth` levels.
pub(crate) fn to_json(
    value: &JsValue,
    context: &mut Context,
    depth: usize,
    budget: &mut usize,
) -> Result<Option<Value>, OutputError> {
    Ok(Some(match value.variant() {
        JsVariant::Null => {
            charge(budget, 4)?;
            Value::Null
        }
        JsVariant::Undefined | JsVariant::Symbol(_) => return Ok(None),
        JsVariant::Boolean(b) => {
            charge(budget, 5)?;
            Value::Bool(b)
        }
        JsVariant::Integer32(i) => {
            charge(budget, 11)?;
            Value::from(i)
        }
        JsVariant::Float64(f) => {
            charge(budget, 24)?;
            number(f)
        }
        JsVariant::BigInt(b) => {
            let s = b.to_string();
            charge(budget, s.len())?;
            Value::String(s)
        }
        JsVariant::String(s) => {
            charge(budget, s.len() + 2)?;
            Value::String(s.to_std_string_escaped())
        }
        JsVariant::Object(obj) => {
            if obj.is_callable() {
                return Ok(None);
            }
            if depth == 0 {
                return Err(OutputError::TooLarge);
            }
            let to_json_fn = obj.get(js_string!("toJSON"), context)?;
            if let Some(f) = to_json_fn.as_callable() {
                let v = f.call(value, &[], context)?;
                if !matches!(v.variant(), JsVariant::Object(_)) {
                    return to_json(&v, context, depth - 1, budget);
                }
            }
            if obj.is_array() {
                let len = obj.get(js_string!("length"), context)?.to_length(context)?;
                charge(budget, 2)?;
                let mut out = Vec::new();
                for i in 0..len {
                    charge(budget, 1)?;
                    let item = obj.get(i, context)?;
                    out.push(to_json(&item, context, depth - 1, budget)?.unwrap_or(Value::Null));
                }
                Value::Array(out)
            } else {
                charge(budget, 2)?;
                let mut out = Map::new();
                for key in obj.own_property_keys(context)? {
                    let name = match &key {
                        PropertyKey::String(s) => s.to_std_string_escaped(),
                        PropertyKey::Index(i) => i.get().to_string(),
                        PropertyKey::Symbol(_) => continue,
                    };
                    let item = obj.get(key, context)?;
                    if let Some(v) = to_json(&item, context, depth - 1, budget)? {
                        charge(budget, name.len() + 3)?;
                        out.insert(name, v);
                    }
                }
                Value::Object(out)
            }
        }
    }))
}

fn charge(budget: &mut usize, n: usize) -> Result<(), OutputError> {
    *budget = budget.checked_sub(n).ok_or(OutputError::TooLarge)?;
    Ok(())
}

/// A JS number as JSON: integral values as integers (`1`, not `1.0`),
/// non-finite ones as `null`, as `JSON.stringify` does.
fn number(f: f64) -> Value {
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() < SAFE {
        // Exact: |f| < 2^53 and integral.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}
