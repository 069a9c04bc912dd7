//! What a snippet returned, turned into items the way n8n does: `{json}`
//! objects are items, other objects are wrapped as `{json: object}`.

use serde_json::{Map, Value, json};

/// Items as `{json, binary}` objects, or why the value is not items.
#[derive(Debug, PartialEq)]
pub(crate) enum Normalised {
    Items(Vec<Value>),
    Invalid(String),
}

/// "Once for all items": an array of items, or one item.
pub(crate) fn all_items(value: Value) -> Normalised {
    match value {
        Value::Array(values) => {
            let mut items = Vec::with_capacity(values.len());
            for (index, value) in values.into_iter().enumerate() {
                match item(value) {
                    Ok(item) => items.push(item),
                    Err(why) => return Normalised::Invalid(format!("returned item {index} {why}")),
                }
            }
            Normalised::Items(items)
        }
        Value::Null => Normalised::Invalid(
            "the code returned nothing; end it with `return items` or `return [{ json: { … } }]`"
                .to_owned(),
        ),
        other => match item(other) {
            Ok(item) => Normalised::Items(vec![item]),
            Err(why) => Normalised::Invalid(format!(
                "the returned value {why}; return an array of objects, such as `return [{{ json: {{ … }} }}]`"
            )),
        },
    }
}

/// "Once for each item": one item, or none when the code returns nothing.
pub(crate) fn one_item(value: Value) -> Normalised {
    match value {
        Value::Null => Normalised::Items(Vec::new()),
        Value::Array(_) => Normalised::Invalid(
            "the code returned an array; in \"each item\" mode return one object, or set `mode` to \
             `runOnceForAllItems` to return many items"
                .to_owned(),
        ),
        other => match item(other) {
            Ok(item) => Normalised::Items(vec![item]),
            Err(why) => Normalised::Invalid(format!(
                "the returned value {why}; return an object, such as `return {{ json: {{ … }} }}`"
            )),
        },
    }
}

/// One returned value as `{json, binary}`.
fn item(value: Value) -> Result<Value, String> {
    let Value::Object(mut object) = value else {
        return Err(format!("is {}, not an object", kind(&value)));
    };
    match object.remove("json") {
        Some(Value::Object(json)) => {
            let binary = match object.remove("binary") {
                Some(Value::Object(binary)) => binary,
                None | Some(Value::Null) => Map::new(),
                Some(other) => {
                    return Err(format!(
                        "has a `binary` that is {}, not an object",
                        kind(&other)
                    ));
                }
            };
            Ok(json!({ "json": json, "binary": binary }))
        }
        Some(other) => Err(format!(
            "has a `json` that is {}, not an object",
            kind(&other)
        )),
        None => Ok(json!({ "json": object, "binary": {} })),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: Normalised) -> Vec<Value> {
        match n {
            Normalised::Items(items) => items,
            Normalised::Invalid(why) => panic!("{why}"),
        }
    }

    #[test]
    fn plain_objects_and_json_items_both_become_items() {
        let out = items(all_items(json!([{"a": 1}, {"json": {"b": 2}}])));
        assert_eq!(
            out,
            vec![
                json!({"json": {"a": 1}, "binary": {}}),
                json!({"json": {"b": 2}, "binary": {}})
            ]
        );
        assert_eq!(items(all_items(json!({"a": 1}))).len(), 1);
    }

    #[test]
    fn values_that_are_not_items_are_refused_with_their_place() {
        let Normalised::Invalid(why) = all_items(json!([{"a": 1}, 5])) else {
            panic!("accepted a number");
        };
        assert!(why.contains("item 1") && why.contains("a number"), "{why}");
        assert!(matches!(all_items(Value::Null), Normalised::Invalid(_)));
        assert!(matches!(one_item(json!([{}])), Normalised::Invalid(_)));
        assert!(matches!(
            one_item(json!({"json": 3})),
            Normalised::Invalid(_)
        ));
        assert_eq!(items(one_item(Value::Null)), Vec::<Value>::new());
    }
}
