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

    /// Evaluates the param `key` for each item.
    fn per_item(&self, items: &[Item], key: &str) -> Result<Vec<Value>, Failure> {
        let Some(param) = self.params.field(key) else {
            return Err(Failure::config(format!("the `{key}` parameter is missing")));
        };
        (0..items.len())
            .map(|i| {
                param
                    .eval(&self.context_for(items, i))
                    .map_err(Failure::expression)
            })
            .collect()
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
            })
        }
    }
}

/// Sets `value` at a dotted `path` (`a.b.c`) in `object`, making objects on
/// the way.
fn set_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut here = object;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            here.insert(part.to_owned(), value);
            return;
        }
        let slot = here
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        here = match slot.as_object_mut() {
            Some(next) => next,
            None => return,
        };
    }
}

fn set(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let items = input.items();
    let Some(fields) = input.params.field("fields") else {
        return Err(Failure::config(
            "the `fields` parameter is missing; give a mapping of field names to values".into(),
        ));
    };
    let keep_only = matches!(
        input.params.field("keepOnlySet"),
        Some(Params::Literal(Value::Bool(true)))
    );
    // With no input items, Set makes one item.
    let count = items.len().max(1);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let values = fields
            .eval(&input.context_for(&items, i))
            .map_err(Failure::expression)?;
        let Value::Object(values) = values else {
            return Err(Failure::config(
                "`fields` must be a mapping of field names to values".into(),
            ));
        };
        let mut item = if keep_only {
            Item::default()
        } else {
            items.get(i).cloned().unwrap_or_default()
        };
        for (name, value) in values {
            set_path(&mut item.json, &name, value);
        }
        out.push(item);
    }
    Ok(done(main(out)))
}

/// JavaScript's truthiness, as n8n users expect of a condition.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn route(input: &Input<'_>, yes: &str, no: &str) -> Result<NodeResult, Failure> {
    let items = input.items();
    let verdicts = input.per_item(&items, "condition")?;
    let mut outputs = BTreeMap::from([(yes.to_owned(), Vec::new()), (no.to_owned(), Vec::new())]);
    for (item, verdict) in items.into_iter().zip(verdicts) {
        let port = if truthy(&verdict) { yes } else { no };
        outputs.entry(port.to_owned()).or_default().push(item);
    }
    Ok(done(outputs))
}

fn switch(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let items = input.items();
    let Some(Params::Array(rules)) = input.params.field("rules").map(|r| match r {
        Params::Literal(Value::Array(values)) => {
            Params::Array(values.into_iter().map(Params::Literal).collect())
        }
        other => other,
    }) else {
        return Err(Failure::config(
            "`rules` must be a list of `{condition, output}`".into(),
        ));
    };
    let all =
        matches!(input.params.field("mode"), Some(Params::Literal(Value::String(m))) if m == "all");
    let mut outputs: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let context = input.context_for(&items, i);
        let mut matched = false;
        for (r, rule) in rules.iter().enumerate() {
            let port = match rule.field("output") {
                Some(Params::Literal(Value::String(name))) => name,
                _ => r.to_string(),
            };
            let Some(condition) = rule.field("condition") else {
                return Err(Failure::config(format!("rule {r} has no `condition`")));
            };
            if truthy(&condition.eval(&context).map_err(Failure::expression)?) {
                outputs.entry(port).or_default().push(item.clone());
                matched = true;
                if !all {
                    break;
                }
            }
        }
        if !matched {
            outputs
                .entry("fallback".to_owned())
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
        other => {
            return Err(Failure::config(format!(
                "unknown merge mode `{other}`; use `append`, `byKey`, `position` or `wait`"
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

fn respond(input: &Input<'_>) -> Result<NodeResult, Failure> {
    let items = input.items();
    let body = match input.once("body")? {
        Some(body) => body,
        None if items.len() == 1 => Value::Object(items[0].json.clone()),
        None => Value::Array(
            items
                .iter()
                .map(|i| Value::Object(i.json.clone()))
                .collect(),
        ),
    };
    let status = input
        .once("status")?
        .and_then(|s| s.as_u64())
        .unwrap_or(200);
    let headers = input.once("headers")?.unwrap_or_else(|| json!({}));
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
        return Err(Failure {
            message: format!("sub-workflow run {}: {message}", resume["execution"]),
            code: Some("sub-workflow".into()),
            retryable: false,
            retry_after_ms: None,
        });
    }
    let Some(Value::String(name)) = input.once("workflow")? else {
        return Err(Failure::config(
            "`workflow` must name the workflow to run".into(),
        ));
    };
    Ok(NodeResult::Park {
        due_at: None,
        token: false,
        child: Some((name, input.items())),
        state: None,
    })
}
