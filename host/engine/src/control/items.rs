//! The item transforms n8n users rely on: Split Out, Aggregate, Sort,
//! Limit and Remove Duplicates. Their params take n8n's names, so an
//! imported node keeps its meaning; compared against n8n 1.119.2.

use std::cmp::Ordering;

use n8n_work_runtime::Item;
use serde_json::{Map, Value};

use super::fields::{self, names};
use crate::Failure;

fn flag(params: &Value, key: &str) -> bool {
    params.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn text<'a>(params: &'a Value, key: &str, default: &'a str) -> &'a str {
    params.get(key).and_then(Value::as_str).unwrap_or(default)
}

/// Whether dotted names reach into nested fields (`disableDotNotation` off).
fn dots(params: &Value) -> bool {
    !flag(params, "disableDotNotation")
}

/// Split Out: one item per element of `fieldToSplitOut` (comma-separated
/// for several lists, zipped by position).
pub(crate) fn split_out(params: &Value, items: &[Item]) -> Result<Vec<Item>, Failure> {
    let dots = dots(params);
    let fields_to_split: Vec<String> = names(params.get("fieldToSplitOut").unwrap_or(&Value::Null))
        .into_iter()
        .map(|f| f.trim_start_matches("$json.").to_owned())
        .collect();
    if fields_to_split.is_empty() {
        return Err(Failure::config(
            "`fieldToSplitOut` is missing; name the list field to split into items".into(),
        ));
    }
    let destinations = names(params.get("destinationFieldName").unwrap_or(&Value::Null));
    if !destinations.is_empty() && destinations.len() != fields_to_split.len() {
        return Err(Failure::config(
            "If multiple fields to split out are given, the same number of destination fields must be given".into(),
        ));
    }
    let include = text(params, "include", "noOtherFields");
    let several = fields_to_split.len() > 1;
    let mut out = Vec::new();
    for item in items {
        let mut split: Vec<Map<String, Value>> = Vec::new();
        for (f, field) in fields_to_split.iter().enumerate() {
            let destination = destinations.get(f).cloned().unwrap_or_default();
            let elements = match fields::get(&item.json, field, dots) {
                None => Vec::new(),
                Some(Value::Array(list)) => list.clone(),
                Some(Value::Object(o)) => o.values().cloned().collect(),
                Some(other) => vec![other.clone()],
            };
            for (e, element) in elements.into_iter().enumerate() {
                if split.len() <= e {
                    split.resize(e + 1, Map::new());
                }
                let name = if destination.is_empty() {
                    field.clone()
                } else {
                    destination.clone()
                };
                match element {
                    Value::Object(o)
                        if include == "noOtherFields" && destination.is_empty() && !several =>
                    {
                        split[e].extend(o);
                    }
                    other => {
                        split[e].insert(name, other);
                    }
                }
            }
        }
        for entry in split {
            let json = match include {
                "allOtherFields" => {
                    let mut copy = item.json.clone();
                    for field in &fields_to_split {
                        fields::unset(&mut copy, field, dots);
                    }
                    copy.extend(entry);
                    copy
                }
                "selectedOtherFields" => {
                    let chosen = names(params.get("fieldsToInclude").unwrap_or(&Value::Null));
                    if chosen.is_empty() {
                        return Err(Failure::config(
                            "No fields specified; name the other fields to include in `fieldsToInclude`".into(),
                        ));
                    }
                    let mut entry = entry;
                    for field in chosen {
                        // A missing field is `undefined` in n8n, which JSON leaves out.
                        if let Some(value) = fields::get(&item.json, &field, dots) {
                            entry.insert(field, value.clone());
                        }
                    }
                    entry
                }
                _ => entry,
            };
            out.push(Item::new(json));
        }
    }
    Ok(out)
}

/// Aggregate: `aggregateIndividualFields` gathers fields into lists;
/// `aggregateAllItemData` puts every item under `destinationFieldName`.
pub(crate) fn aggregate(params: &Value, items: &[Item]) -> Result<Vec<Item>, Failure> {
    let dots = dots(params);
    if text(params, "aggregate", "aggregateIndividualFields") == "aggregateAllItemData" {
        let destination = text(params, "destinationFieldName", "data").to_owned();
        let exclude = names(params.get("fieldsToExclude").unwrap_or(&Value::Null));
        let include = names(params.get("fieldsToInclude").unwrap_or(&Value::Null));
        let mut all = Vec::new();
        for item in items {
            if exclude.is_empty() && include.is_empty() {
                all.push(Value::Object(item.json.clone()));
                continue;
            }
            let kept: Map<String, Value> = item
                .json
                .iter()
                .filter(|(k, _)| !exclude.contains(k))
                .filter(|(k, _)| include.is_empty() || include.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !kept.is_empty() {
                all.push(Value::Object(kept));
            }
        }
        return Ok(vec![Item::new(Map::from_iter([(
            destination,
            Value::Array(all),
        )]))]);
    }
    let merge_lists = flag(params, "mergeLists");
    let keep_missing = flag(params, "keepMissing");
    let wanted = params
        .get("fieldsToAggregate")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if wanted.is_empty() {
        return Err(Failure::config(
            "No fields specified; list the fields to aggregate in `fieldsToAggregate`".into(),
        ));
    }
    let mut outputs: Vec<String> = Vec::new();
    let mut json = Map::new();
    for spec in &wanted {
        let field = text(spec, "fieldToAggregate", "").to_owned();
        let rename = flag(spec, "renameField");
        let output_name = text(spec, "outputFieldName", "").to_owned();
        let label = if rename {
            output_name.clone()
        } else {
            field.clone()
        };
        if outputs.contains(&label) {
            return Err(Failure::config(format!(
                "The '{label}' output field is used more than once"
            )));
        }
        outputs.push(label);
        if field.is_empty() {
            continue;
        }
        let name = if !output_name.is_empty() {
            output_name
        } else if dots && field.contains('.') {
            field.rsplit('.').next().unwrap_or(&field).to_owned()
        } else {
            field.clone()
        };
        let mut values = Vec::new();
        for item in items {
            let mut value = fields::get(&item.json, &field, dots).cloned();
            if !keep_missing {
                match &mut value {
                    Some(Value::Array(list)) => list.retain(|v| !v.is_null()),
                    None | Some(Value::Null) => continue,
                    _ => {}
                }
            }
            match value {
                Some(Value::Array(list)) if merge_lists => values.extend(list),
                Some(v) => values.push(v),
                // Kept missing: `undefined` in n8n, `null` in JSON.
                None => values.push(Value::Null),
            }
        }
        fields::set(&mut json, &name, Value::Array(values), dots);
    }
    Ok(vec![Item::new(json)])
}

/// lodash's `lt` on two field values: numbers by value, strings by code
/// units, anything else compared as JavaScript would (mostly false).
fn less(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => x.encode_utf16().lt(y.encode_utf16()),
        (Some(x), Some(y)) => match (super::js::to_number(x), super::js::to_number(y)) {
            (Some(x), Some(y)) if !x.is_nan() && !y.is_nan() => x < y,
            _ => false,
        },
        _ => false,
    }
}

fn lowered(v: Option<&Value>) -> Option<Value> {
    v.map(|v| match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        other => other.clone(),
    })
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Sort, `simple` type: by `sortFieldsUi.sortField[]` (`fieldName`,
/// `order`), strings without regard to case.
pub(crate) fn sort(params: &Value, items: &[Item]) -> Result<Vec<Item>, Failure> {
    let dots = dots(params);
    match text(params, "type", "simple") {
        "simple" => {}
        other => {
            return Err(Failure::config(format!(
                "sort type `{other}` is not supported; use `simple` with `sortFieldsUi`"
            )));
        }
    }
    let by = params
        .pointer("/sortFieldsUi/sortField")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if by.is_empty() {
        return Err(Failure::config(
            "No sorting specified. Please add a field to sort by".into(),
        ));
    }
    let by: Vec<(String, bool)> = by
        .iter()
        .map(|f| {
            (
                text(f, "fieldName", "").to_owned(),
                text(f, "order", "ascending") == "ascending",
            )
        })
        .collect();
    for (field, _) in &by {
        if !items
            .iter()
            .any(|i| fields::get(&i.json, field, dots).is_some())
        {
            return Err(Failure::config(format!(
                "Couldn't find the field '{field}' in the input data"
            )));
        }
    }
    let mut out = items.to_vec();
    out.sort_by(|a, b| {
        for (field, ascending) in &by {
            let x = lowered(fields::get(&a.json, field, dots));
            let y = lowered(fields::get(&b.json, field, dots));
            if !same(x.as_ref(), y.as_ref()) {
                let ordering = if less(x.as_ref(), y.as_ref()) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                return if *ascending {
                    ordering
                } else {
                    ordering.reverse()
                };
            }
        }
        Ordering::Equal
    });
    Ok(out)
}

/// Limit: the first (or, with `keep: lastItems`, last) `maxItems` items.
pub(crate) fn limit(params: &Value, items: &[Item]) -> Vec<Item> {
    let max = params.get("maxItems").and_then(Value::as_u64).unwrap_or(1) as usize;
    if max >= items.len() {
        return items.to_vec();
    }
    if text(params, "keep", "firstItems") == "lastItems" {
        items[items.len() - max..].to_vec()
    } else {
        items[..max].to_vec()
    }
}

/// Remove Duplicates (input items): keeps the first item of each set of
/// equal `compare` fields (`allFields`, `allFieldsExcept`, `selectedFields`).
pub(crate) fn remove_duplicates(params: &Value, items: &[Item]) -> Result<Vec<Item>, Failure> {
    let dots = dots(params);
    let Some(first) = items.first() else {
        return Ok(Vec::new());
    };
    let keys_of = |item: &Item| -> Vec<String> {
        if dots {
            fields::flat_keys(&item.json)
        } else {
            item.json.keys().cloned().collect()
        }
    };
    let mut keys = keys_of(first);
    for item in items {
        for key in keys_of(item) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    match text(params, "compare", "allFields") {
        "allFieldsExcept" => {
            let exclude = names(params.get("fieldsToExclude").unwrap_or(&Value::Null));
            if exclude.is_empty() {
                return Err(Failure::config(
                    "No fields specified. Please add a field to exclude from comparison".into(),
                ));
            }
            keys = keys_of(first);
            keys.retain(|k| !exclude.contains(k));
        }
        "selectedFields" => {
            keys = names(params.get("fieldsToCompare").unwrap_or(&Value::Null));
            if keys.is_empty() {
                return Err(Failure::config(
                    "No fields specified. Please add a field to compare on".into(),
                ));
            }
        }
        _ => {}
    }
    for key in &keys {
        let mut kind: Option<&'static str> = None;
        for item in items {
            let value = fields::get(&item.json, key, dots);
            match value {
                Some(Value::Null) => continue,
                None => {
                    return Err(Failure::config(format!(
                        "'{key}' field is missing from some input items"
                    )));
                }
                Some(v) => {
                    let t = super::js::type_of(v);
                    if kind.is_some_and(|k| k != t) {
                        return Err(Failure::config(format!(
                            "'{key}' isn't always the same type"
                        )));
                    }
                    kind = Some(t);
                }
            }
        }
    }
    let mut seen: Vec<Vec<Option<Value>>> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let tuple: Vec<Option<Value>> = keys
            .iter()
            .map(|k| fields::get(&item.json, k, dots).cloned())
            .collect();
        if seen.iter().any(|s| {
            s.iter()
                .zip(&tuple)
                .all(|(a, b)| same(a.as_ref(), b.as_ref()))
        }) {
            continue;
        }
        seen.push(tuple);
        let mut kept = item.clone();
        if flag(params, "removeOtherFields") {
            let mut picked = Map::new();
            for key in &keys {
                if let Some(v) = fields::get(&item.json, key, dots) {
                    fields::set(&mut picked, key, v.clone(), dots);
                }
            }
            kept.json = picked;
        }
        out.push(kept);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(values: Value) -> Vec<Item> {
        Item::list_from_value(values).unwrap()
    }

    fn jsons(items: Vec<Item>) -> Value {
        Value::Array(items.into_iter().map(|i| Value::Object(i.json)).collect())
    }

    #[test]
    fn split_out_spreads_objects_and_keeps_other_fields_on_request() {
        let input = items(json!([{"id": 1, "tags": [{"t": "a"}, {"t": "b"}]}]));
        let out = split_out(&json!({"fieldToSplitOut": "tags"}), &input).unwrap();
        assert_eq!(jsons(out), json!([{"t": "a"}, {"t": "b"}]));
        let out = split_out(
            &json!({"fieldToSplitOut": "tags", "include": "allOtherFields", "destinationFieldName": "tag"}),
            &input,
        )
        .unwrap();
        assert_eq!(
            jsons(out),
            json!([{"id": 1, "tag": {"t": "a"}}, {"id": 1, "tag": {"t": "b"}}])
        );
    }

    #[test]
    fn aggregate_gathers_fields_and_skips_missing() {
        let input = items(json!([{"a": 1}, {"b": 2}, {"a": [3, null]}]));
        let out = aggregate(
            &json!({"fieldsToAggregate": [{"fieldToAggregate": "a"}], "mergeLists": true}),
            &input,
        )
        .unwrap();
        assert_eq!(jsons(out), json!([{"a": [1, 3]}]));
        let out = aggregate(&json!({"aggregate": "aggregateAllItemData"}), &input).unwrap();
        assert_eq!(
            jsons(out),
            json!([{"data": [{"a": 1}, {"b": 2}, {"a": [3, null]}]}])
        );
    }

    #[test]
    fn sort_orders_strings_without_case_and_numbers_by_value() {
        let input = items(json!([{"n": "b"}, {"n": "A"}, {"n": "c"}]));
        let by = |order: &str| json!({"sortFieldsUi": {"sortField": [{"fieldName": "n", "order": order}]}});
        assert_eq!(
            jsons(sort(&by("ascending"), &input).unwrap()),
            json!([{"n": "A"}, {"n": "b"}, {"n": "c"}])
        );
        let input = items(json!([{"n": 10}, {"n": 9}]));
        assert_eq!(
            jsons(sort(&by("ascending"), &input).unwrap()),
            json!([{"n": 9}, {"n": 10}])
        );
        assert!(
            sort(
                &json!({"sortFieldsUi": {"sortField": [{"fieldName": "x"}]}}),
                &input
            )
            .is_err()
        );
    }

    #[test]
    fn limit_keeps_first_or_last() {
        let input = items(json!([{"i": 1}, {"i": 2}, {"i": 3}]));
        assert_eq!(
            jsons(limit(&json!({"maxItems": 2}), &input)),
            json!([{"i": 1}, {"i": 2}])
        );
        assert_eq!(
            jsons(limit(&json!({"maxItems": 1, "keep": "lastItems"}), &input)),
            json!([{"i": 3}])
        );
    }

    #[test]
    fn remove_duplicates_keeps_first_of_each() {
        let input = items(json!([{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 1, "b": 1}]));
        assert_eq!(
            jsons(remove_duplicates(&json!({}), &input).unwrap()),
            json!([{"a": 1, "b": 1}, {"a": 1, "b": 2}])
        );
        assert_eq!(
            jsons(
                remove_duplicates(
                    &json!({"compare": "selectedFields", "fieldsToCompare": "a"}),
                    &input
                )
                .unwrap()
            ),
            json!([{"a": 1, "b": 1}])
        );
    }
}
