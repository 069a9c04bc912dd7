//! Writing a workflow as YAML.

use n8n_work_model::Workflow;
use serde_json::Value;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

/// Keys people expect first; the rest follow in their own order.
const ORDER: [&str; 18] = [
    "name",
    "description",
    "tags",
    "settings",
    "id",
    "type",
    "position",
    "credentials",
    "egress",
    "retry",
    "timeoutMs",
    "onError",
    "params",
    "nodes",
    "from",
    "port",
    "to",
    "input",
];

fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Yaml::Integer(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => Yaml::Integer(f as i64),
            _ => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()));
            for k in keys {
                let v = &map[k];
                hash.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(hash)
        }
    }
}

/// The workflow as YAML, in the order of its fields.
pub fn workflow_yaml(workflow: &Workflow) -> String {
    let value = serde_json::to_value(workflow).unwrap_or(Value::Null);
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    // Emitting to a String cannot fail.
    let _ = emitter.dump(&to_yaml(&value));
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    body + "\n"
}
