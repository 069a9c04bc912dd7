//! Reading and writing fields by name, with or without dot notation
//! (`a.b.c`, `list[0].name`), as lodash's `get`/`set`/`unset` do for n8n.

use serde_json::{Map, Value};

/// One step of a path: an object key or an array index.
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                out.push(Step::Key(rest[..open].to_owned()));
            }
            rest = &rest[open..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some(close) = inner.find(']') else { break };
                let key = inner[..close].trim_matches(['"', '\'']);
                out.push(match key.parse() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Key(key.to_owned()),
                });
                rest = &inner[close + 1..];
            }
            if !rest.is_empty() {
                out.push(Step::Key(rest.to_owned()));
            }
        } else {
            out.push(Step::Key(part.to_owned()));
        }
    }
    out
}

/// The value at `path`: a key of its own when `dots` is off (or the object
/// has that exact key), else a dotted path.
pub(crate) fn get<'a>(object: &'a Map<String, Value>, path: &str, dots: bool) -> Option<&'a Value> {
    // lodash reads a key that exists as it is, dots and all.
    if !dots || object.contains_key(path) {
        return object.get(path);
    }
    let mut here: Option<&Value> = None;
    for (i, step) in steps(path).into_iter().enumerate() {
        here = match (i, step, here) {
            (0, Step::Key(k), _) => object.get(&k),
            (0, Step::Index(n), _) => object.get(&n.to_string()),
            (_, Step::Key(k), Some(Value::Object(o))) => o.get(&k),
            (_, Step::Index(n), Some(Value::Array(a))) => a.get(n),
            (_, Step::Index(n), Some(Value::Object(o))) => o.get(&n.to_string()),
            (_, Step::Key(k), Some(Value::Array(a))) => {
                k.parse::<usize>().ok().and_then(|n| a.get(n))
            }
            _ => None,
        };
        here?;
    }
    here
}

/// Sets `value` at `path`, making objects (or arrays, before an index) on
/// the way, replacing anything in the way that is not a container.
pub(crate) fn set(object: &mut Map<String, Value>, path: &str, value: Value, dots: bool) {
    if !dots || object.contains_key(path) {
        object.insert(path.to_owned(), value);
        return;
    }
    let mut root = Value::Object(std::mem::take(object));
    set_in(&mut root, &steps(path), value);
    if let Value::Object(o) = root {
        *object = o;
    }
}

fn set_in(target: &mut Value, steps: &[Step], value: Value) {
    let Some((first, rest)) = steps.split_first() else {
        *target = value;
        return;
    };
    let fresh = match rest.first() {
        Some(Step::Index(_)) => Value::Array(Vec::new()),
        _ => Value::Object(Map::new()),
    };
    let slot = match (target, first) {
        (Value::Array(items), Step::Index(n)) => {
            if items.len() <= *n {
                items.resize(*n + 1, Value::Null);
            }
            &mut items[*n]
        }
        (Value::Object(o), Step::Key(k)) => o.entry(k.clone()).or_insert(Value::Null),
        (Value::Object(o), Step::Index(n)) => o.entry(n.to_string()).or_insert(Value::Null),
        (other, step) => {
            let key = match step {
                Step::Key(k) => k.clone(),
                Step::Index(n) => n.to_string(),
            };
            *other = Value::Object(Map::new());
            match other {
                Value::Object(o) => o.entry(key).or_insert(Value::Null),
                _ => return,
            }
        }
    };
    if !rest.is_empty() && !slot.is_object() && !slot.is_array() {
        *slot = fresh;
    }
    set_in(slot, rest, value);
}

/// Removes the field at `path`, if there is one.
pub(crate) fn unset(object: &mut Map<String, Value>, path: &str, dots: bool) {
    if !dots || object.contains_key(path) {
        object.remove(path);
        return;
    }
    let mut root = Value::Object(std::mem::take(object));
    unset_in(&mut root, &steps(path));
    if let Value::Object(o) = root {
        *object = o;
    }
}

fn unset_in(target: &mut Value, steps: &[Step]) {
    let Some((first, rest)) = steps.split_first() else {
        return;
    };
    match (target, first, rest.is_empty()) {
        (Value::Object(o), Step::Key(k), true) => {
            o.remove(k);
        }
        (Value::Object(o), Step::Index(n), true) => {
            o.remove(&n.to_string());
        }
        // lodash leaves a hole; JSON has none, so `null` stands for it.
        (Value::Array(a), Step::Index(n), true) if *n < a.len() => a[*n] = Value::Null,
        (Value::Object(o), Step::Key(k), false) => {
            if let Some(next) = o.get_mut(k) {
                unset_in(next, rest);
            }
        }
        (Value::Array(a), Step::Index(n), false) => {
            if let Some(next) = a.get_mut(*n) {
                unset_in(next, rest);
            }
        }
        _ => {}
    }
}

/// Every leaf path of `object` in dot notation (`a.b`, `list.0`), as n8n's
/// `flattenKeys` lists them.
pub(crate) fn flat_keys(object: &Map<String, Value>) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(o) if !o.is_empty() => {
                for (k, v) in o {
                    walk(&join(prefix, k), v, out);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for (i, v) in a.iter().enumerate() {
                    walk(&join(prefix, &i.to_string()), v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    }
    let mut out = Vec::new();
    for (k, v) in object {
        walk(k, v, &mut out);
    }
    out
}

/// A comma-separated list of field names, trimmed, empties dropped.
pub(crate) fn names(list: &Value) -> Vec<String> {
    match list {
        Value::String(text) => text
            .split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// lodash's `merge`: objects merged key by key, arrays index by index,
/// `null` written over, nothing else deep.
pub(crate) fn deep_merge(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, v) in s {
                match t.get_mut(k) {
                    Some(existing) if v.is_object() || v.is_array() => deep_merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(s)) => {
            for (i, v) in s.iter().enumerate() {
                match t.get_mut(i) {
                    Some(existing) if v.is_object() || v.is_array() => deep_merge(existing, v),
                    Some(existing) => *existing = v.clone(),
                    None => t.push(v.clone()),
                }
            }
        }
        (target, source) => {
            // An object merged over a non-object starts from a fresh copy.
            *target = source.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn dotted_paths_read_and_write_nested_fields() {
        let mut o = obj(json!({"a": {"b": 1}, "list": [{"n": "x"}]}));
        assert_eq!(get(&o, "a.b", true), Some(&json!(1)));
        assert_eq!(get(&o, "list[0].n", true), Some(&json!("x")));
        assert_eq!(get(&o, "a.b", false), None);
        set(&mut o, "a.c.d", json!(2), true);
        set(&mut o, "x.y", json!(3), false);
        set(&mut o, "arr[1]", json!("z"), true);
        assert_eq!(
            Value::Object(o.clone()),
            json!({"a": {"b": 1, "c": {"d": 2}}, "list": [{"n": "x"}], "x.y": 3, "arr": [null, "z"]})
        );
        unset(&mut o, "a.b", true);
        assert_eq!(o["a"], json!({"c": {"d": 2}}));
    }

    #[test]
    fn flat_keys_list_leaves() {
        let o = obj(json!({"a": {"b": 1, "c": []}, "d": [5]}));
        assert_eq!(flat_keys(&o), vec!["a.b", "a.c", "d.0"]);
    }

    #[test]
    fn deep_merge_merges_objects_and_arrays_by_index() {
        let mut t = json!({"a": {"x": 1}, "l": [1, 2, 3], "k": "v"});
        deep_merge(&mut t, &json!({"a": {"y": 2}, "l": [9], "k": null}));
        assert_eq!(t, json!({"a": {"x": 1, "y": 2}, "l": [9, 2, 3], "k": null}));
    }
}
