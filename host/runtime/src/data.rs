//! The data a step takes and gives, on the host's side of the contract:
//! items, binary references, node specs and outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bindings::n8n_work::node::types as wit;

/// One unit of data flowing between nodes: a JSON object plus named binary
/// attachments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The item's fields.
    pub json: serde_json::Map<String, serde_json::Value>,
    /// Binary attachments by property name (`data`, `attachment`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary: BTreeMap<String, BinaryRef>,
}

impl Item {
    /// An item with these fields and no binary data.
    pub fn new(json: serde_json::Map<String, serde_json::Value>) -> Self {
        Item {
            json,
            binary: BTreeMap::new(),
        }
    }

    /// Items from a JSON value as users write them: an object is one item,
    /// an array of objects is several, and an object with a `json` key (and
    /// optionally `binary`) is taken as an item in full.
    pub fn list_from_value(value: serde_json::Value) -> Result<Vec<Item>, String> {
        let one = |v: serde_json::Value, at: String| match v {
            serde_json::Value::Object(map)
                if map.contains_key("json") && map.keys().all(|k| k == "json" || k == "binary") =>
            {
                serde_json::from_value::<Item>(serde_json::Value::Object(map))
                    .map_err(|e| format!("{at}: {e}"))
            }
            serde_json::Value::Object(map) => Ok(Item::new(map)),
            other => Err(format!(
                "{at}: an item is a JSON object, found {}",
                json_kind(&other)
            )),
        };
        match value {
            serde_json::Value::Array(values) => values
                .into_iter()
                .enumerate()
                .map(|(i, v)| one(v, format!("item [{i}]")))
                .collect(),
            value => Ok(vec![one(value, "item".to_owned())?]),
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Binary data held by the host, by reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryRef {
    /// The host's id for the data.
    pub id: String,
    /// Its media type.
    pub mime_type: String,
    /// A file name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// What a node says it is (from `describe()`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// Short unique name (`http`).
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Name shown to people.
    pub display_name: String,
    /// What it does.
    pub description: String,
    /// An icon (data URL or symbol name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// JSON Schema of the parameters.
    pub params_schema: serde_json::Value,
    /// Credentials it can use.
    pub credentials: Vec<CredentialSlot>,
    /// Origins it needs to reach.
    pub egress: Vec<EgressNeed>,
    /// Its output ports.
    pub outputs: Vec<OutputPort>,
}

/// A credential a node can use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSlot {
    /// The name the node asks for.
    pub name: String,
    /// Credential types accepted.
    pub types: Vec<String>,
    /// Whether the node cannot work without it.
    pub required: bool,
    /// What it is used for.
    pub description: String,
}

/// An origin a node needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressNeed {
    /// A grant pattern, or `param:<name>`.
    pub origin: String,
    /// Why.
    pub reason: String,
}

/// An output port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputPort {
    /// Port name used in connections (`main`, `true`, `false`).
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
}

/// A node's own error: bad input, a vendor's refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{message}")]
pub struct NodeError {
    /// What went wrong.
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// When to try again, if the vendor said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// A short machine-readable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// How a step ended, when the node did not fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum StepOutcome {
    /// Finished: items per output port, in the order the node gave them.
    Done {
        /// Items by port name.
        outputs: BTreeMap<String, Vec<Item>>,
    },
    /// Poll again later.
    Pending {
        /// When to poll again.
        #[serde(rename = "pollAfterMs", with = "crate::limits::millis")]
        poll_after: Duration,
        /// Opaque state to hand back in `resume`.
        state: Vec<u8>,
    },
}

impl From<wit::BinaryRef> for BinaryRef {
    fn from(r: wit::BinaryRef) -> Self {
        BinaryRef {
            id: r.id,
            mime_type: r.mime_type,
            file_name: r.file_name,
            size: r.size,
        }
    }
}

impl From<&BinaryRef> for wit::BinaryRef {
    fn from(r: &BinaryRef) -> Self {
        wit::BinaryRef {
            id: r.id.clone(),
            mime_type: r.mime_type.clone(),
            file_name: r.file_name.clone(),
            size: r.size,
        }
    }
}

impl From<&Item> for wit::Item {
    fn from(item: &Item) -> Self {
        wit::Item {
            json: serde_json::Value::Object(item.json.clone()).to_string(),
            binary: item
                .binary
                .iter()
                .map(|(k, v)| (k.clone(), v.into()))
                .collect(),
        }
    }
}

impl From<wit::NodeError> for NodeError {
    fn from(e: wit::NodeError) -> Self {
        NodeError {
            message: e.message,
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
            code: e.code,
        }
    }
}

impl TryFrom<wit::NodeSpec> for NodeSpec {
    type Error = String;

    fn try_from(spec: wit::NodeSpec) -> Result<Self, String> {
        let params_schema = serde_json::from_str(&spec.params_schema).map_err(|e| {
            format!(
                "node `{}` describes its params-schema with invalid JSON: {e}",
                spec.name
            )
        })?;
        Ok(NodeSpec {
            name: spec.name,
            version: spec.version,
            display_name: spec.display_name,
            description: spec.description,
            icon: spec.icon,
            params_schema,
            credentials: spec
                .credentials
                .into_iter()
                .map(|c| CredentialSlot {
                    name: c.name,
                    types: c.types,
                    required: c.required,
                    description: c.description,
                })
                .collect(),
            egress: spec
                .egress
                .into_iter()
                .map(|e| EgressNeed {
                    origin: e.origin,
                    reason: e.reason,
                })
                .collect(),
            outputs: spec
                .outputs
                .into_iter()
                .map(|o| OutputPort {
                    name: o.name,
                    display_name: o.display_name,
                })
                .collect(),
        })
    }
}

/// Converts a node's output items, checking the JSON and its total size.
pub(crate) fn items_from_guest(
    ports: Vec<wit::PortItems>,
    output_cap: usize,
) -> Result<BTreeMap<String, Vec<Item>>, crate::StepError> {
    let total: usize = ports
        .iter()
        .flat_map(|p| p.items.iter())
        .map(|i| i.json.len())
        .sum();
    if total > output_cap {
        return Err(crate::StepError::Limit(crate::LimitExceeded::Output {
            limit_bytes: output_cap,
            actual_bytes: total,
        }));
    }
    let mut outputs: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for port in ports {
        let items = outputs.entry(port.port.clone()).or_default();
        for (i, item) in port.items.into_iter().enumerate() {
            let json = match serde_json::from_str::<serde_json::Value>(&item.json) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(other) => {
                    return Err(crate::StepError::Contract(format!(
                        "output item {i} on port `{}` is {}, not a JSON object",
                        port.port,
                        json_kind(&other)
                    )));
                }
                Err(e) => {
                    return Err(crate::StepError::Contract(format!(
                        "output item {i} on port `{}` is not valid JSON: {e}",
                        port.port
                    )));
                }
            };
            items.push(Item {
                json,
                binary: item
                    .binary
                    .into_iter()
                    .map(|(k, v)| (k, v.into()))
                    .collect(),
            });
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_are_read_from_objects_arrays_and_full_items() {
        let items = Item::list_from_value(json!({"a": 1})).unwrap();
        assert_eq!(
            items,
            vec![Item::new(json!({"a": 1}).as_object().unwrap().clone())]
        );
        let items = Item::list_from_value(json!([{"a": 1}, {"json": {"b": 2}}])).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].json["b"], 2);
        let err = Item::list_from_value(json!([{"a": 1}, 3])).unwrap_err();
        assert_eq!(err, "item [1]: an item is a JSON object, found a number");
    }

    #[test]
    fn guest_output_must_be_objects_within_the_cap() {
        let port = |json: &str| wit::PortItems {
            port: "main".into(),
            items: vec![wit::Item {
                json: json.into(),
                binary: vec![],
            }],
        };
        let out = items_from_guest(vec![port(r#"{"x":1}"#)], 100).unwrap();
        assert_eq!(out["main"][0].json["x"], 1);
        let err = items_from_guest(vec![port("[1]")], 100).unwrap_err();
        assert!(
            err.to_string().contains("an array, not a JSON object"),
            "{err}"
        );
        let err = items_from_guest(vec![port(r#"{"x":"0123456789"}"#)], 10).unwrap_err();
        assert!(matches!(
            err,
            crate::StepError::Limit(crate::LimitExceeded::Output { .. })
        ));
    }
}
