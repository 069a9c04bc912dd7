//! The nodes the engine runs itself: Set, IF, Switch, Filter, Merge, NoOp,
//! Loop, Wait, Respond, Execute Workflow, Stop and Error, and the triggers.

use std::collections::BTreeMap;

use n8n_work_expr::ExprContext;
use n8n_work_model::ControlKind;
use n8n_work_runtime::Item;
use n8n_work_store::Millis;
use serde_json::{Map, Value, json};

use crate::params::Params;
use crate::{Failure, NodeResult};

mod conditions;
mod fields;
mod items;
mod js;
mod merging;

/// What a control node gets.
pub(crate) struct Input<'a> {
    pub(crate) kind: ControlKind,
    pub(crate) params: &'a Params,
    /// Items per input name.
    pub(crate) inputs: BTreeMap<String, Vec<Item>>,
    /// The expression context, `json` and `item_index` unset.
    pub(crate) context: ExprContext,
    pub(crate) now: Millis,
    pub(crate) iteration: i64,
    /// Why a parked step runs again: `None` the first time.
    pub(crate) resume: Option<Value>,
    pub(crate) was_waiting: bool,
    /// The Loop's state from its previous step in this run.
    pub(crate) loop_state: Option<Value>,
}

fn main(items: Vec<Item>) -> BTreeMap<String, Vec<Item>> {
    BTreeMap::from([(n8n_work_model::MAIN_PORT.to_owned(), items)])
}

fn done(outputs: BTreeMap<String, Vec<Item>>) -> NodeResult {
    NodeResult::Outputs {
        outputs,
        response: None,
        state: None,
        iterations: BTreeMap::new(),
    }
}

impl Input<'_> {
    fn items(&self) -> Vec<Item> {
        self.inputs.values().flatten().cloned().collect()
    }

    fn context_for(&self, items: &[Item], index: usize) -> ExprContext {
        let mut context = self.context.clone();
        context.json = items
            .get(index)
            .map_or_else(|| json!({}), |i| Value::Object(i.json.clone()));
        context.item_index = index;
        context
    }

    /// Evaluates all params once, against the first item, as n8n reads the
    /// settings of its item transforms.
    fn all_once(&self) -> Result<Value, Failure> {
        let items = self.items();
        self.params
            .eval(&self.context_for(&items, 0))
            .map_err(Failure::expression)
    }

    /// Evaluates the param `key` once, against the first item.
    fn once(&self, key: &str) -> Result<Option<Value>, Failure> {
        let items = self.items();
        self.params
            .field(key)
            .map(|p| {
                p.eval(&self.context_for(&items, 0))
                    .map_err(Failure::expression)
            })
            .transpose()
    }
}

/// Runs a control node.
pub(crate) fn run(input: &Input<'_>) -> Result<NodeResult, Failure> {
    match input.kind {
        ControlKind::Manual | ControlKind::Webhook | ControlKind::Schedule => {
            // A trigger always starts the run with at least one item, as in n8n.
            let items = input.items();
            Ok(done(main(if items.is_empty() {
                vec![Item::default()]
            } else {
                items
            })))
        }
        ControlKind::Noop => Ok(done(main(input.items()))),
        ControlKind::SplitOut => Ok(done(main(items::split_out(
            &input.all_once()?,
            &input.items(),
        )?))),
        ControlKind::Aggregate => Ok(done(main(items::aggregate(
            &input.all_once()?,
            &input.items(),
        )?))),
        ControlKind::Sort => Ok(done(main(items::sort(&input.all_once()?, &input.items())?))),
        ControlKind::Limit => Ok(done(main(items::limit(&input.all_once()?, &input.items())))),
        ControlKind::RemoveDuplicates => Ok(done(main(items::remove_duplicates(
            &input.all_once()?,
            &input.items(),
        )?))),
        ControlKind::Set => set(input),
        ControlKind::If => route(input, "true", "false"),
        ControlKind::Filter => route(input, n8n_work_model::MAIN_PORT, "discarded"),
        ControlKind::Switch => switch(input),
        ControlKind::Merge => merge(input),
        ControlKind::Loop => looping(input),
        ControlKind::Wait => wait(input),
        ControlKind::Respond => respond(input),
        ControlKind::ExecuteWorkflow => execute_workflow(input),
        ControlKind::StopAndError => {
            let message = input
                .once("message")?
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                .unwrap_or_else(|| "the workflow stopped with an error".to_owned());
            Err(Failure {
                message,
                code: Some("stopped".into()),
                retryable: false,
                retry_after_ms: None,
                sub_execution: None,
            })
        }
    }
}

fn literal_flag(params: &Params, key: &str) -> Option<bool> {
    match params.field(key) {
        Some(Params::Literal(Value::Bool(b))) => Some(b),
        _ => None,
    }
}

/// Set (Edit Fields): `fields` (a mapping), `assignments` (n8n's typed
/// list of `{name, value, type}`) or `json` (an object, or JSON text);
/// `include` says which input fields stay: `all` (the default), `none`,
/// `selected` (`includeFields`) or `except` (`excludeFields`).
fn set(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let items = input.items();
    let source = ["fields", "assignments", "json"]
        .into_iter()
        .find(|key| input.params.field(key).is_some());
    let Some(source) = source else {
        return Err(Failure::config(
            "set needs `fields` (a mapping of names to values), `assignments` or `json`".into(),
        ));
    };
    let keep_only = literal_flag(input.params, "keepOnlySet") == Some(true);
    let dots = literal_flag(input.params, "dotNotation") != Some(false);
    let lenient = literal_flag(input.params, "ignoreConversionErrors") == Some(true);
    // With no input items, Set makes one item.
    let count = items.len().max(1);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let context = input.context_for(&items, i);
        let value = input
            .params
            .field(source)
            .map(|p| p.eval(&context))
            .transpose()
            .map_err(Failure::expression)?
            .unwrap_or(Value::Null);
        let new_fields: Vec<(String, Value)> = match source {
            "assignments" => assignments(&value, i, lenient)?,
            "json" => match value {
                Value::Object(map) => map.into_iter().collect(),
                Value::String(text) => match serde_json::from_str(&text) {
                    Ok(Value::Object(map)) => map.into_iter().collect(),
                    Ok(_) => {
                        return Err(Failure::config(format!(
                            "The 'JSON Output' in item {i} does not contain a valid JSON object"
                        )));
                    }
                    Err(e) => {
                        return Err(Failure::config(format!(
                            "The 'JSON Output' in item {i} contains invalid JSON ({e})"
                        )));
                    }
                },
                _ => {
                    return Err(Failure::config(format!(
                        "The 'JSON Output' in item {i} does not contain a valid JSON object"
                    )));
                }
            },
            _ => match value {
                Value::Object(map) => map.into_iter().collect(),
                _ => {
                    return Err(Failure::config(
                        "`fields` must be a mapping of field names to values".into(),
                    ));
                }
            },
        };
        let include = input.once("include")?;
        let include = match include.as_ref().and_then(Value::as_str) {
            Some(mode) => mode.to_owned(),
            None if keep_only => "none".to_owned(),
            None => "all".to_owned(),
        };
        let original = items.get(i).cloned().unwrap_or_default();
        let mut item = Item {
            json: Map::new(),
            ..original.clone()
        };
        match include.as_str() {
            "all" => item.json = original.json.clone(),
            "none" => {}
            "selected" => {
                let chosen = input.once("includeFields")?.unwrap_or(Value::Null);
                for key in fields::names(&chosen) {
                    // A missing field is `undefined` in n8n, which JSON leaves out.
                    let Some(value) = fields::get(&original.json, &key, dots).cloned() else {
                        continue;
                    };
                    let name = if dots && key.contains('.') {
                        key.rsplit('.').next().unwrap_or(&key).to_owned()
                    } else {
                        key.clone()
                    };
                    fields::set(&mut item.json, &name, value, dots);
                }
            }
            "except" => {
                item.json = original.json.clone();
                let dropped = input.once("excludeFields")?.unwrap_or(Value::Null);
                for key in fields::names(&dropped) {
                    fields::unset(&mut item.json, &key, dots);
                }
            }
            other => {
                return Err(Failure::config(format!(
                    "`include` is `{other}`; use `all`, `none`, `selected` or `except`"
                )));
            }
        }
        for (name, value) in new_fields {
            fields::set(&mut item.json, &name, value, dots);
        }
        out.push(item);
    }
    Ok(done(main(out)))
}

/// n8n's typed assignments: each value is converted to its `type` (string,
/// number, boolean, array, object) or the step fails, as in Edit Fields 3.4.
fn assignments(list: &Value, item: usize, lenient: bool) -> Result<Vec<(String, Value)>, Failure> {
    let list = list
        .get("assignments")
        .unwrap_or(list)
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for entry in list {
        let name = entry.get("name").map(js::to_string).unwrap_or_default();
        let kind = entry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = entry.get("value").cloned().unwrap_or(Value::Null);
        if value.is_null() {
            out.push((name, Value::Null));
            continue;
        }
        let converted = match kind {
            "string" => Some(Value::String(js::to_json_text(&value))),
            "number" => js::to_number(&value).map(js::number_value),
            "boolean" => conditions::parse_bool(&value).map(Value::Bool),
            "array" => match &value {
                Value::Array(_) => Some(value.clone()),
                other => {
                    let text = js::to_string(other);
                    serde_json::from_str::<Value>(&text)
                        .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")))
                        .ok()
                        .filter(Value::is_array)
                }
            },
            "object" => match &value {
                Value::Object(_) => Some(value.clone()),
                other => serde_json::from_str::<Value>(&js::to_string(other))
                    .ok()
                    .filter(Value::is_object),
            },
            _ => Some(value.clone()),
        };
        match converted {
            Some(v) => out.push((name, v)),
            None if lenient => out.push((name, value)),
            None => {
                let got = match &value {
                    Value::Array(_) => "array".to_owned(),
                    Value::Object(_) => "object".to_owned(),
                    other => format!("'{}'", js::to_string(other)),
                };
                return Err(Failure::config(format!(
                    "'{name}' expects a {kind} but we got {got} [item {item}]"
                )));
            }
        }
    }
    Ok(out)
}

/// Whether item `index` passes: n8n's condition builder (`conditions`), or
/// a JavaScript `condition` expression taken as truthy or not.
fn verdict(input: &Input<'_>, items: &[Item], index: usize) -> Result<bool, Failure> {
    let context = input.context_for(items, index);
    if let Some(filter) = input.params.field("conditions") {
        let filter = filter.eval(&context).map_err(Failure::expression)?;
        let loose = literal_flag(input.params, "looseTypeValidation") == Some(true);
        return conditions::passes(&filter, loose, index).map_err(|e| Failure::config(e.0));
    }
    let Some(condition) = input.params.field("condition") else {
        return Err(Failure::config(
            "the `condition` parameter is missing; give an expression or n8n `conditions`".into(),
        ));
    };
    let value = condition.eval(&context).map_err(Failure::expression)?;
    Ok(js::truthy(&value) && value != Value::String("false".into()))
}

fn route(input: &Input<'_>, yes: &str, no: &str) -> Result<NodeResult, Failure> {
    let items = input.items();
    let mut outputs = BTreeMap::from([(yes.to_owned(), Vec::new()), (no.to_owned(), Vec::new())]);
    for (i, item) in items.iter().enumerate() {
        let port = if verdict(input, &items, i)? { yes } else { no };
        outputs
            .entry(port.to_owned())
            .or_default()
            .push(item.clone());
    }
    Ok(done(outputs))
}

/// Switch. Rules mode: `rules` is a list of `{condition}` or `{conditions}`
/// (n8n's builder), each with an optional `output` name (its index
/// otherwise); unmatched items go to `fallback` unless `fallback: none`;
/// `mode: all` sends an item to every rule that matches. Expression mode:
/// `outputs: N` ports and `output`, an expression giving the port's index.
fn switch(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let items = input.items();
    let mut outputs: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    if let Some(Params::Literal(Value::Number(count))) = input.params.field("outputs") {
        let count = count.as_u64().unwrap_or(0);
        let Some(pick) = input.params.field("output") else {
            return Err(Failure::config(
                "a switch with `outputs` needs `output`: an expression giving the output's index"
                    .into(),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let chosen = pick
                .eval(&input.context_for(&items, i))
                .map_err(Failure::expression)?;
            let index = js::to_number(&chosen).filter(|n| n.fract() == 0.0 && *n >= 0.0);
            match index {
                Some(n) if (n as u64) < count => outputs
                    .entry((n as u64).to_string())
                    .or_default()
                    .push(item.clone()),
                _ => {
                    return Err(Failure::config(format!(
                        "The output {} is not allowed. It has to be between 0 and {}! [item {i}]",
                        js::to_string(&chosen),
                        count.saturating_sub(1)
                    )));
                }
            }
        }
        return Ok(done(outputs));
    }
    let Some(Params::Array(rules)) = input.params.field("rules").map(|r| match r {
        Params::Literal(Value::Array(values)) => {
            Params::Array(values.into_iter().map(Params::Literal).collect())
        }
        other => other,
    }) else {
        return Err(Failure::config(
            "`rules` must be a list of `{condition, output}` or `{conditions, output}`".into(),
        ));
    };
    let all =
        matches!(input.params.field("mode"), Some(Params::Literal(Value::String(m))) if m == "all");
    let fallback = match input.params.field("fallback") {
        Some(Params::Literal(Value::String(name))) => name,
        _ => "fallback".to_owned(),
    };
    let loose = literal_flag(input.params, "looseTypeValidation") == Some(true);
    for (i, item) in items.iter().enumerate() {
        let context = input.context_for(&items, i);
        let mut matched = false;
        for (r, rule) in rules.iter().enumerate() {
            let port = match rule.field("output") {
                Some(Params::Literal(Value::String(name))) => name,
                _ => r.to_string(),
            };
            let pass = if let Some(filter) = rule.field("conditions") {
                let filter = filter.eval(&context).map_err(Failure::expression)?;
                conditions::passes(&filter, loose, i).map_err(|e| Failure::config(e.0))?
            } else if let Some(condition) = rule.field("condition") {
                let value = condition.eval(&context).map_err(Failure::expression)?;
                js::truthy(&value) && value != Value::String("false".into())
            } else {
                return Err(Failure::config(format!(
                    "rule {r} has no `condition` or `conditions`"
                )));
            };
            if pass {
                outputs.entry(port).or_default().push(item.clone());
                matched = true;
                if !all {
                    break;
                }
            }
        }
        if !matched && fallback != "none" {
            outputs
                .entry(fallback.clone())
                .or_default()
                .push(item.clone());
        }
    }
    Ok(done(outputs))
}

fn merge(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let mode = input.once("mode")?;
    let mode = mode.as_ref().and_then(Value::as_str).unwrap_or("append");
    // Inputs in order of their names: `0`, `1`, ... (or `main`).
    let inputs: Vec<&Vec<Item>> = input.inputs.values().collect();
    let first = inputs.first().map(|v| v.as_slice()).unwrap_or_default();
    let second = inputs.get(1).map(|v| v.as_slice()).unwrap_or_default();
    let out: Vec<Item> = match mode {
        "append" => inputs
            .iter()
            .flat_map(|items| items.iter().cloned())
            .collect(),
        "wait" => {
            let pick = input.once("output")?;
            let pick = pick.as_ref().and_then(Value::as_str).unwrap_or("0");
            input.inputs.get(pick).cloned().unwrap_or_default()
        }
        "position" => first
            .iter()
            .zip(second)
            .map(|(a, b)| {
                let mut item = a.clone();
                item.json.extend(b.json.clone());
                item
            })
            .collect(),
        "byKey" | "by-key" => {
            let key = input.once("key")?;
            let Some(key) = key.as_ref().and_then(Value::as_str).map(str::to_owned) else {
                return Err(Failure::config(
                    "mode `byKey` needs `key`: the field to match on".into(),
                ));
            };
            let join = input.once("join")?;
            let join = join
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or("inner")
                .to_owned();
            let mut out = Vec::new();
            let mut matched_second = vec![false; second.len()];
            for a in first {
                let mut found = false;
                for (j, b) in second.iter().enumerate() {
                    if a.json.get(&key).is_some() && a.json.get(&key) == b.json.get(&key) {
                        let mut item = a.clone();
                        item.json.extend(b.json.clone());
                        out.push(item);
                        matched_second[j] = true;
                        found = true;
                    }
                }
                if !found && (join == "left" || join == "outer") {
                    out.push(a.clone());
                }
            }
            if join == "outer" {
                out.extend(
                    second
                        .iter()
                        .zip(&matched_second)
                        .filter(|(_, m)| !**m)
                        .map(|(b, _)| b.clone()),
                );
            }
            out
        }
        "combineByFields" | "combineByPosition" | "combineAll" | "chooseBranch" => {
            let settings = input.all_once()?;
            let count = input
                .inputs
                .keys()
                .filter_map(|k| k.parse::<usize>().ok())
                .max()
                .map_or(2, |m| (m + 1).max(2));
            let inputs: Vec<Vec<Item>> = (0..count)
                .map(|k| {
                    input
                        .inputs
                        .get(&k.to_string())
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            match mode {
                "combineByFields" => merging::by_fields(&settings, &inputs[0], &inputs[1])?,
                "combineByPosition" => merging::by_position(&settings, inputs),
                "combineAll" => merging::all_pairs(&settings, &inputs[0], &inputs[1]),
                _ => merging::choose_branch(&settings, &inputs)?,
            }
        }
        other => {
            return Err(Failure::config(format!(
                "unknown merge mode `{other}`; use `append`, `combineByFields`, `combineByPosition`, `combineAll`, `chooseBranch`, `byKey`, `position` or `wait`"
            )));
        }
    };
    Ok(done(main(out)))
}

fn looping(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let size = input
        .once("batchSize")?
        .and_then(|v| v.as_u64())
        .unwrap_or(1)
        .max(1) as usize;
    let returned = input.inputs.get("return");
    let (mut pending, mut finished, outer, mut counter): (Vec<Item>, Vec<Item>, i64, i64) =
        match (returned, &input.loop_state) {
            (Some(back), Some(state)) => {
                let parse = |key: &str| -> Vec<Item> {
                    serde_json::from_value(state.get(key).cloned().unwrap_or_default())
                        .unwrap_or_default()
                };
                let mut finished = parse("finished");
                finished.extend(back.iter().cloned());
                (
                    parse("pending"),
                    finished,
                    state.get("outer").and_then(Value::as_i64).unwrap_or(0),
                    state
                        .get("counter")
                        .and_then(Value::as_i64)
                        .unwrap_or(input.iteration),
                )
            }
            _ => (input.items(), Vec::new(), input.iteration, input.iteration),
        };
    let mut outputs = BTreeMap::new();
    let mut iterations = BTreeMap::new();
    if pending.is_empty() {
        outputs.insert("done".to_owned(), std::mem::take(&mut finished));
        iterations.insert("done".to_owned(), outer);
    } else {
        let rest = pending.split_off(size.min(pending.len()));
        counter += 1;
        outputs.insert("loop".to_owned(), std::mem::replace(&mut pending, rest));
        iterations.insert("loop".to_owned(), counter);
    }
    let state = json!({
        "pending": pending,
        "finished": finished,
        "outer": outer,
        "counter": counter,
    });
    Ok(NodeResult::Outputs {
        outputs,
        response: None,
        state: Some(state),
        iterations,
    })
}

fn wait(input: &Input<'_>) -> Result<NodeResult, Failure> {
    // Woken by its due time (it was parked) or by a resume call (data).
    if input.was_waiting || input.resume.is_some() {
        let items = match input.resume.as_ref().and_then(|r| r.get("data")) {
            Some(Value::Object(data)) => vec![Item::new(data.clone())],
            Some(other) if !other.is_null() => vec![Item::new(Map::from_iter([(
                "data".to_owned(),
                other.clone(),
            )]))],
            _ => input.items(),
        };
        return Ok(done(main(items)));
    }
    let until_resumed = matches!(input.once("resume")?, Some(Value::String(s)) if s == "call");
    let due_at = if let Some(ms) = input.once("amountMs")?.and_then(|v| v.as_i64()) {
        Some(input.now + ms.max(0))
    } else if let Some(until) = input.once("until")? {
        Some(parse_time(&until)?)
    } else if until_resumed {
        None
    } else {
        return Err(Failure::config(
            "a wait needs `amountMs`, `until` (RFC 3339 or epoch milliseconds), or `resume: call`"
                .into(),
        ));
    };
    Ok(NodeResult::Park {
        due_at,
        token: until_resumed,
        child: None,
        state: None,
    })
}

fn parse_time(value: &Value) -> Result<Millis, Failure> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| Failure::config(format!("`until` {n} is not a time"))),
        Value::String(text) => humantime::parse_rfc3339_weak(text)
            .map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            })
            .map_err(|e| {
                Failure::config(format!("`until` `{text}` is not an RFC 3339 time ({e})"))
            }),
        other => Err(Failure::config(format!("`until` {other} is not a time"))),
    }
}

/// Respond to Webhook. With `respondWith` (n8n's choices:
/// `firstIncomingItem`, `allIncomingItems`, `json`, `text`, `noData`), the
/// body follows n8n's rules, `responseKey` nests it, and header names are
/// lower-cased; otherwise `body` is sent as given (the items by default).
fn respond(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let items = input.items();
    let as_json = |i: &Item| Value::Object(i.json.clone());
    let respond_with = input.once("respondWith")?;
    let mut headers = input.once("headers")?.unwrap_or_else(|| json!({}));
    let body = match respond_with.as_ref().and_then(Value::as_str) {
        None => match input.once("body")? {
            Some(body) => body,
            None if items.len() == 1 => as_json(&items[0]),
            None => Value::Array(items.iter().map(as_json).collect()),
        },
        Some(mode) => {
            let key = input.once("responseKey")?;
            let key = key
                .as_ref()
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty());
            let nest = |value: Value| match key {
                Some(key) => {
                    let mut wrapper = Map::new();
                    fields::set(&mut wrapper, key, value, true);
                    Value::Object(wrapper)
                }
                None => value,
            };
            match mode {
                "firstIncomingItem" => nest(items.first().map(as_json).unwrap_or(json!({}))),
                "allIncomingItems" => nest(Value::Array(items.iter().map(as_json).collect())),
                "json" => match input.once("responseBody")? {
                    Some(Value::String(text)) if !text.is_empty() => serde_json::from_str(&text)
                        .map_err(|e| {
                            Failure::config(format!("Invalid JSON in 'Response Body' field: {e}"))
                        })?,
                    Some(Value::String(_)) | None => Value::Null,
                    Some(other) => other,
                },
                "text" => {
                    if let Value::Object(h) = &mut headers
                        && !h.keys().any(|k| k.eq_ignore_ascii_case("content-type"))
                    {
                        // As Express sends a string body.
                        h.insert(
                            "content-type".into(),
                            Value::String("text/html; charset=utf-8".into()),
                        );
                    }
                    let text = input.once("responseBody")?.unwrap_or(Value::Null);
                    Value::String(js::to_string(&text))
                }
                "noData" => Value::Null,
                other => {
                    return Err(Failure::config(format!(
                        "`respondWith` `{other}` is not supported; use firstIncomingItem, allIncomingItems, json, text or noData"
                    )));
                }
            }
        }
    };
    if respond_with.is_some()
        && let Value::Object(h) = &mut headers
    {
        *h = std::mem::take(h)
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), Value::String(js::to_string(&v))))
            .collect();
    }
    let status = input
        .once("status")?
        .and_then(|s| js::to_number(&s))
        .map_or(200, |s| s as u64);
    Ok(NodeResult::Outputs {
        outputs: main(items),
        response: Some(json!({ "status": status, "headers": headers, "body": body })),
        state: None,
        iterations: BTreeMap::new(),
    })
}

fn execute_workflow(input: &Input<'_>) -> Result<NodeResult, Failure> {
    if let Some(resume) = &input.resume {
        if resume.get("status").and_then(Value::as_str) == Some("succeeded") {
            let items = resume
                .pointer("/result/main")
                .cloned()
                .map(serde_json::from_value::<Vec<Item>>)
                .transpose()
                .map_err(|e| {
                    Failure::config(format!("the sub-workflow's result is unreadable: {e}"))
                })?
                .unwrap_or_default();
            return Ok(done(main(items)));
        }
        let message = resume
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("the sub-workflow did not succeed");
        let run = resume["execution"].as_str().map(str::to_owned);
        return Err(Failure {
            message: format!(
                "sub-workflow run {} failed: {message}",
                run.as_deref().unwrap_or("?")
            ),
            code: Some("sub-workflow".into()),
            retryable: false,
            retry_after_ms: None,
            sub_execution: run,
        });
    }
    let Some(Value::String(name)) = input.once("workflow")? else {
        return Err(Failure::config(
            "`workflow` must name the workflow to run (its name or its id)".into(),
        ));
    };
    let wait = match input.once("wait")? {
        None | Some(Value::Null) => true,
        Some(Value::Bool(wait)) => wait,
        Some(other) => {
            return Err(Failure::config(format!(
                "`wait` must be true (go on with the sub-workflow's output) or false (start it and go on at once), not {other}"
            )));
        }
    };
    if !wait {
        // As n8n: the parent goes on with its own items.
        return Ok(NodeResult::Started {
            child: (name, input.items()),
            outputs: main(input.items()),
        });
    }
    Ok(NodeResult::Park {
        due_at: None,
        token: false,
        child: Some((name, input.items())),
        state: None,
    })
}
