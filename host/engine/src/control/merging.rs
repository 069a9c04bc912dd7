//! Merge's combining modes with n8n's parameter names (Merge 3.x, compared
//! against n8n 1.119.2): by matching fields (inner, left and outer joins,
//! enrich), by position, every combination, and choosing a branch.

use n8n_work_runtime::Item;
use serde_json::{Map, Value};

use super::fields;
use crate::Failure;

fn text<'a>(params: &'a Value, pointer: &str, default: &'a str) -> &'a str {
    params
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or(default)
}

fn flag(params: &Value, pointer: &str) -> bool {
    params
        .pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// How clashing fields are settled: `options.clashHandling.values`.
struct Clash {
    resolve: Option<String>,
    deep: bool,
    override_empty: bool,
}

impl Clash {
    fn of(params: &Value) -> Clash {
        let values = params
            .pointer("/options/clashHandling/values")
            .cloned()
            .unwrap_or(Value::Null);
        Clash {
            resolve: values
                .get("resolveClash")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            deep: values.get("mergeMode").and_then(Value::as_str) != Some("shallowMerge"),
            override_empty: values
                .get("overrideEmpty")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// `{}` merged with each of `sources` in turn, later ones winning.
    fn merge(&self, sources: &[&Map<String, Value>]) -> Map<String, Value> {
        let mut out = Value::Object(Map::new());
        for source in sources {
            let source: Map<String, Value> = if self.override_empty {
                source
                    .iter()
                    .filter(|(_, v)| {
                        !matches!(v, Value::Null) && *v != &Value::String(String::new())
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            } else {
                (*source).clone()
            };
            if self.deep {
                fields::deep_merge(&mut out, &Value::Object(source));
            } else if let Value::Object(o) = &mut out {
                o.extend(source);
            }
        }
        match out {
            Value::Object(o) => o,
            _ => Map::new(),
        }
    }
}

fn suffixed(items: &[Item], suffix: &str) -> Vec<Item> {
    items
        .iter()
        .map(|i| Item {
            json: i
                .json
                .iter()
                .map(|(k, v)| (format!("{k}_{suffix}"), v.clone()))
                .collect(),
            ..i.clone()
        })
        .collect()
}

fn equal(a: &Value, b: &Value, fuzzy: bool) -> bool {
    if fuzzy {
        let loose = |v: &Value| match v {
            Value::String(s) => s.trim().to_owned(),
            other => super::js::to_json_text(other),
        };
        return loose(a) == loose(b);
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Combine by matching fields (`fieldsToMatchString`, or `advanced` with
/// `mergeByFields.values[] {field1, field2}`), by `joinMode`:
/// `keepMatches`, `keepNonMatches`, `keepEverything`, `enrichInput1`,
/// `enrichInput2`.
pub(crate) fn by_fields(
    params: &Value,
    input1: &[Item],
    input2: &[Item],
) -> Result<Vec<Item>, Failure> {
    let pairs: Vec<(String, String)> = if flag(params, "/advanced") {
        params
            .pointer("/mergeByFields/values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    text(p, "/field1", "").to_owned(),
                    text(p, "/field2", "").to_owned(),
                )
            })
            .collect()
    } else {
        text(params, "/fieldsToMatchString", "")
            .split(',')
            .map(|f| (f.trim().to_owned(), f.trim().to_owned()))
            .collect()
    };
    if pairs.len() == 1 && pairs[0].0.is_empty() && pairs[0].1.is_empty() {
        return Err(Failure::config(
            "You need to define at least one pair of fields in \"Fields to Match\" to match on"
                .into(),
        ));
    }
    if let Some(i) = pairs.iter().position(|(a, b)| a.is_empty() || b.is_empty()) {
        return Err(Failure::config(format!(
            "You need to define both fields in \"Fields to Match\" for pair {}",
            i + 1
        )));
    }
    let join = text(params, "/joinMode", "keepMatches");
    let from = text(params, "/outputDataFrom", "both");
    let dots = !flag(params, "/options/disableDotNotation");
    let fuzzy = flag(params, "/options/fuzzyCompare");
    let first_only = text(params, "/options/multipleMatches", "all") == "first";
    let clash = Clash::of(params);
    if input1.is_empty() || input2.is_empty() {
        return Ok(match join {
            "keepNonMatches" if input1.is_empty() && from == "input1" => Vec::new(),
            "keepNonMatches" if input2.is_empty() && from == "input2" => Vec::new(),
            "keepMatches" => Vec::new(),
            "enrichInput1" if input1.is_empty() => Vec::new(),
            "enrichInput2" if input2.is_empty() => Vec::new(),
            _ => input1.iter().chain(input2).cloned().collect(),
        });
    }
    // Each entry of input 1 with the entries of input 2 it matches.
    let mut matched: Vec<(Item, Vec<Item>)> = Vec::new();
    let mut unmatched1 = Vec::new();
    let mut hit2 = vec![false; input2.len()];
    let one_per_match = from == "both" || join == "enrichInput1" || join == "enrichInput2";
    'entries: for entry in input1 {
        let mut lookup = Vec::new();
        for (f1, f2) in &pairs {
            let Some(value) = fields::get(&entry.json, f1, dots) else {
                unmatched1.push(entry.clone());
                continue 'entries;
            };
            lookup.push((f2, value));
        }
        let mut found = Vec::new();
        for (j, candidate) in input2.iter().enumerate() {
            let fits = lookup.iter().all(|(f2, value)| {
                fields::get(&candidate.json, f2, dots).is_some_and(|v| equal(value, v, fuzzy))
            });
            if fits {
                found.push(j);
                if first_only {
                    break;
                }
            }
        }
        if found.is_empty() {
            unmatched1.push(entry.clone());
            continue;
        }
        for &j in &found {
            hit2[j] = true;
        }
        if one_per_match {
            for &j in &found {
                matched.push((entry.clone(), vec![input2[j].clone()]));
            }
        } else {
            matched.push((
                entry.clone(),
                found.iter().map(|&j| input2[j].clone()).collect(),
            ));
        }
    }
    let matched2: Vec<Item> = input2
        .iter()
        .zip(&hit2)
        .filter(|(_, h)| **h)
        .map(|(i, _)| i.clone())
        .collect();
    let unmatched2: Vec<Item> = input2
        .iter()
        .zip(&hit2)
        .filter(|(_, h)| !**h)
        .map(|(i, _)| i.clone())
        .collect();
    let suffix = clash.resolve.as_deref() == Some("addSuffix");
    let merged = |join: &str| -> Vec<Item> {
        matched
            .iter()
            .map(|(entry, matches)| {
                if suffix {
                    let entry = suffixed(std::slice::from_ref(entry), "1").remove(0);
                    let matches = suffixed(matches, "2");
                    let mut sources = vec![&entry.json];
                    sources.extend(matches.iter().map(|m| &m.json));
                    return Item::new(clash.merge(&sources));
                }
                let prefer_input1 = match clash.resolve.as_deref() {
                    Some(r) => r == "preferInput1",
                    None => join == "enrichInput2",
                };
                let mut sources: Vec<&Map<String, Value>> = Vec::new();
                if prefer_input1 {
                    sources.extend(matches.iter().map(|m| &m.json));
                    sources.push(&entry.json);
                } else {
                    sources.push(&entry.json);
                    sources.extend(matches.iter().map(|m| &m.json));
                }
                Item::new(clash.merge(&sources))
            })
            .collect()
    };
    Ok(match join {
        "keepMatches" | "keepEverything" => {
            let mut out = match from {
                "input1" => matched.iter().map(|(e, _)| e.clone()).collect(),
                "input2" => matched2,
                _ => merged(join),
            };
            if join == "keepEverything" {
                if suffix {
                    out.extend(suffixed(&unmatched1, "1"));
                    out.extend(suffixed(&unmatched2, "2"));
                } else {
                    out.extend(unmatched1);
                    out.extend(unmatched2);
                }
            }
            out
        }
        "keepNonMatches" => match from {
            "input1" => unmatched1,
            "input2" => unmatched2,
            _ => {
                let tag = |items: Vec<Item>, source: &str| -> Vec<Item> {
                    items
                        .into_iter()
                        .map(|mut i| {
                            let mut json = Map::from_iter([(
                                "_source".to_owned(),
                                Value::String(source.to_owned()),
                            )]);
                            json.extend(std::mem::take(&mut i.json));
                            i.json = json;
                            i
                        })
                        .collect()
                };
                let mut out = tag(unmatched1, "input1");
                out.extend(tag(unmatched2, "input2"));
                out
            }
        },
        "enrichInput1" => {
            let mut out = merged(join);
            out.extend(if suffix {
                suffixed(&unmatched1, "1")
            } else {
                unmatched1
            });
            out
        }
        "enrichInput2" => {
            let mut out = merged(join);
            out.extend(if suffix {
                suffixed(&unmatched2, "2")
            } else {
                unmatched2
            });
            out
        }
        other => {
            return Err(Failure::config(format!(
                "`joinMode` `{other}` is unknown; use keepMatches, keepNonMatches, keepEverything, enrichInput1 or enrichInput2"
            )));
        }
    })
}

/// Combine by position: item `i` of every input merged into one; the
/// preferred input (the last, or `preferInputN`) wins clashes.
pub(crate) fn by_position(params: &Value, mut inputs: Vec<Vec<Item>>) -> Vec<Item> {
    let clash = Clash::of(params);
    let unpaired = flag(params, "/options/includeUnpaired");
    let preferred_index = match clash.resolve.as_deref() {
        Some(r) if r.starts_with("preferInput") => r["preferInput".len()..]
            .parse::<usize>()
            .map_or(inputs.len() - 1, |n| n.saturating_sub(1)),
        _ => inputs.len() - 1,
    };
    if clash.resolve.as_deref() == Some("addSuffix") {
        for (k, input) in inputs.iter_mut().enumerate() {
            *input = suffixed(input, &(k + 1).to_string());
        }
    }
    let preferred = inputs.get(preferred_index).cloned().unwrap_or_default();
    let lengths = inputs.iter().map(Vec::len);
    let count = if unpaired {
        lengths.max().unwrap_or(0)
    } else {
        lengths.min().unwrap_or(0)
    };
    let empty = Map::new();
    (0..count)
        .map(|i| {
            let mut sources: Vec<&Map<String, Value>> = inputs
                .iter()
                .map(|input| input.get(i).map_or(&empty, |item| &item.json))
                .collect();
            sources.push(preferred.get(i).map_or(&empty, |item| &item.json));
            Item::new(clash.merge(&sources))
        })
        .collect()
}

/// Every pairing of an input-1 item with an input-2 item.
pub(crate) fn all_pairs(params: &Value, input1: &[Item], input2: &[Item]) -> Vec<Item> {
    let clash = Clash::of(params);
    let (mut a, mut b) = (input1.to_vec(), input2.to_vec());
    if clash.resolve.as_deref() == Some("preferInput1") {
        std::mem::swap(&mut a, &mut b);
    }
    if clash.resolve.as_deref() == Some("addSuffix") {
        a = suffixed(&a, "1");
        b = suffixed(&b, "2");
    }
    let mut out = Vec::new();
    for x in &a {
        for y in &b {
            out.push(Item::new(clash.merge(&[&x.json, &y.json])));
        }
    }
    out
}

/// Choose branch: the items of input `useDataOfInput` (1-based), or one
/// empty item (`output: empty`).
pub(crate) fn choose_branch(params: &Value, inputs: &[Vec<Item>]) -> Result<Vec<Item>, Failure> {
    if text(params, "/output", "specifiedInput") == "empty" {
        return Ok(vec![Item::default()]);
    }
    let n = params
        .get("useDataOfInput")
        .and_then(super::js::to_number)
        .unwrap_or(1.0) as usize;
    inputs.get(n.saturating_sub(1)).cloned().ok_or_else(|| {
        Failure::config(format!(
            "Input {n} doesn't exist; the node has only {} inputs",
            inputs.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(v: Value) -> Vec<Item> {
        Item::list_from_value(v).unwrap()
    }

    fn jsons(items: Vec<Item>) -> Value {
        Value::Array(items.into_iter().map(|i| Value::Object(i.json)).collect())
    }

    #[test]
    fn joins_by_field() {
        let a = items(json!([{"id": 1, "x": "a"}, {"id": 2, "x": "b"}]));
        let b = items(json!([{"id": 1, "y": "c"}, {"id": 3, "y": "d"}]));
        let run = |join: &str| {
            jsons(
                by_fields(
                    &json!({"fieldsToMatchString": "id", "joinMode": join}),
                    &a,
                    &b,
                )
                .unwrap(),
            )
        };
        assert_eq!(run("keepMatches"), json!([{"id": 1, "x": "a", "y": "c"}]));
        assert_eq!(
            run("enrichInput1"),
            json!([{"id": 1, "x": "a", "y": "c"}, {"id": 2, "x": "b"}])
        );
        assert_eq!(
            run("keepEverything"),
            json!([{"id": 1, "x": "a", "y": "c"}, {"id": 2, "x": "b"}, {"id": 3, "y": "d"}])
        );
        assert_eq!(
            run("keepNonMatches"),
            json!([{"_source": "input1", "id": 2, "x": "b"}, {"_source": "input2", "id": 3, "y": "d"}])
        );
    }

    #[test]
    fn position_and_all_combinations() {
        let a = items(json!([{"a": 1}, {"a": 2}]));
        let b = items(json!([{"b": 1}]));
        assert_eq!(
            jsons(by_position(&json!({}), vec![a.clone(), b.clone()])),
            json!([{"a": 1, "b": 1}])
        );
        assert_eq!(
            jsons(by_position(
                &json!({"options": {"includeUnpaired": true}}),
                vec![a.clone(), b.clone()]
            )),
            json!([{"a": 1, "b": 1}, {"a": 2}])
        );
        assert_eq!(
            jsons(all_pairs(&json!({}), &a, &b)),
            json!([{"a": 1, "b": 1}, {"a": 2, "b": 1}])
        );
    }
}
