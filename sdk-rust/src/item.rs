//! Items: the unit of data that flows between nodes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::NodeError;
use crate::bindings::n8n_work::node::types as wit;

/// Binary data held by the host, by reference.
///
/// Read it with [`crate::binary::read_all`]; make one with
/// [`crate::binary::write`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinaryRef {
    /// The host's id for the data.
    pub id: String,
    /// Its media type, such as `application/pdf`.
    pub mime_type: String,
    /// Its file name, when it has one.
    pub file_name: Option<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// One unit of data flowing between nodes: a JSON object plus named binary
/// attachments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// The item's JSON object.
    pub json: Map<String, Value>,
    /// Binary attachments by name (`data` by convention).
    pub binary: BTreeMap<String, BinaryRef>,
}

impl Item {
    /// An item holding `json`. A JSON object becomes the item's object;
    /// any other value is wrapped as `{"value": <value>}`.
    pub fn new(json: Value) -> Self {
        let json = match json {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("value".to_owned(), other);
                map
            }
        };
        Item {
            json,
            binary: BTreeMap::new(),
        }
    }

    /// An item holding `value` serialized to JSON (see [`Item::new`] for
    /// values that are not objects).
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Self, NodeError> {
        serde_json::to_value(value).map(Item::new).map_err(|err| {
            NodeError::fatal(format!("cannot turn the output into JSON: {err}"))
                .with_code("invalid_output")
        })
    }

    /// This item with binary `name` attached.
    pub fn with_binary(mut self, name: impl Into<String>, binary: BinaryRef) -> Self {
        self.binary.insert(name.into(), binary);
        self
    }

    /// Converts an input item from its WIT form; `index` names it in errors.
    pub(crate) fn from_wit(item: wit::Item, index: usize) -> Result<Self, NodeError> {
        let json = match serde_json::from_str::<Value>(&item.json) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(NodeError::fatal(format!(
                    "input item {index}: its json is not a JSON object"
                ))
                .with_code("invalid_input"));
            }
            Err(err) => {
                return Err(NodeError::fatal(format!(
                    "input item {index}: its json is not valid JSON: {err}"
                ))
                .with_code("invalid_input"));
            }
        };
        let binary = item
            .binary
            .into_iter()
            .map(|(name, binary)| (name, binary.into()))
            .collect();
        Ok(Item { json, binary })
    }
}

impl From<Map<String, Value>> for Item {
    fn from(json: Map<String, Value>) -> Self {
        Item {
            json,
            binary: BTreeMap::new(),
        }
    }
}

impl From<wit::BinaryRef> for BinaryRef {
    fn from(binary: wit::BinaryRef) -> Self {
        BinaryRef {
            id: binary.id,
            mime_type: binary.mime_type,
            file_name: binary.file_name,
            size: binary.size,
        }
    }
}

impl From<BinaryRef> for wit::BinaryRef {
    fn from(binary: BinaryRef) -> Self {
        wit::BinaryRef {
            id: binary.id,
            mime_type: binary.mime_type,
            file_name: binary.file_name,
            size: binary.size,
        }
    }
}

impl From<Item> for wit::Item {
    fn from(item: Item) -> Self {
        wit::Item {
            // A map of JSON values always serializes.
            json: Value::Object(item.json).to_string(),
            binary: item
                .binary
                .into_iter()
                .map(|(name, binary)| (name, binary.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn non_object_values_are_wrapped_as_value() {
        assert_eq!(
            Item::new(json!(3)).json,
            json!({"value": 3}).as_object().cloned().unwrap()
        );
        assert_eq!(Item::new(json!({"a": 1})).json["a"], json!(1));
    }

    #[test]
    fn item_round_trips_through_wit() {
        let binary = BinaryRef {
            id: "b1".into(),
            mime_type: "text/plain".into(),
            file_name: Some("a.txt".into()),
            size: 3,
        };
        let item = Item::new(json!({"a": [1, 2]})).with_binary("data", binary);
        let wit: wit::Item = item.clone().into();
        assert_eq!(wit.json, r#"{"a":[1,2]}"#);
        assert_eq!(Item::from_wit(wit, 0).unwrap(), item);
    }

    #[test]
    fn input_item_that_is_not_an_object_is_refused() {
        let wit = wit::Item {
            json: "[1]".into(),
            binary: Vec::new(),
        };
        let err = Item::from_wit(wit, 2).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_input"));
        assert!(err.message.starts_with("input item 2:"), "{}", err.message);
    }
}
