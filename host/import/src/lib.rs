//! Importing n8n workflows: n8n's export JSON in, n8n-work [`Workflow`]s
//! out, with a [`Report`] of everything that did not carry over.
//!
//! Stage in the data flow (docs/architecture.md): before everything else. The
//! CLI (`n8n-work import n8n FILE.json`) reads a file, calls [`import_n8n`],
//! writes the workflows as YAML and prints the reports; pushing them to a
//! server takes the same values.
//!
//! The principal function is [`import_n8n`]. Node types map by the table in
//! `docs/n8n-compat.md` ([`table`]); nodes keep n8n's names as their ids, so
//! expressions such as `$('Edit Fields').item.json` keep working, and the
//! imported workflow runs in n8n's `n8n-v1` order.
//!
//! ```
//! let export = r#"{"name": "hello", "nodes": [
//!   {"name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1,
//!    "position": [0, 0], "parameters": {}}
//! ], "connections": {}}"#;
//! let imported = n8n_work_import::import_n8n(export).unwrap();
//! assert_eq!(imported[0].workflow.nodes[0].id, "Start");
//! assert!(imported[0].report.all_mapped());
//! ```

mod components;
mod nodes;
mod params;
mod report;
pub mod table;
mod yaml;

use std::collections::{BTreeMap, HashMap};

use n8n_work_model::{DocumentLimit, Workflow};
use serde_json::{Map, Value, json};

pub use report::{Note, NoteKind, Report};
pub use yaml::workflow_yaml;

use params::Taker;
use table::Status;

/// One converted workflow and what the conversion noted.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The n8n-work workflow.
    pub workflow: Workflow,
    /// Unmapped nodes, ignored parameters, credentials to create.
    pub report: Report,
}

/// Why an export could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The text is not JSON.
    #[error(
        "the file is not JSON ({0}); export the workflow from n8n with `n8n export:workflow` or the editor's Download"
    )]
    NotJson(serde_json::Error),
    /// The export nests deeper than a workflow document may.
    #[error("the file is not read: {0}")]
    TooLarge(DocumentLimit),
    /// The JSON is not an n8n workflow.
    #[error("{0}")]
    NotWorkflow(String),
    /// The converted workflow does not read as an n8n-work workflow (a bug).
    #[error("workflow `{name}`: the converted workflow is invalid: {message}")]
    Invalid {
        /// The workflow's name.
        name: String,
        /// What the reader said.
        message: String,
    },
}

/// Converts an n8n export: one workflow, or an array of them as
/// `n8n export:workflow --all` writes.
pub fn import_n8n(text: &str) -> Result<Vec<Imported>, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json stops at 128 levels, the same as `DocumentLimit::MAX_DEPTH`.
        if e.to_string().starts_with("recursion limit exceeded") {
            ImportError::TooLarge(DocumentLimit::Depth(DocumentLimit::MAX_DEPTH))
        } else {
            ImportError::NotJson(e)
        }
    })?;
    match value {
        Value::Array(workflows) => workflows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                import_workflow(w).map_err(|e| match e {
                    ImportError::NotWorkflow(m) => {
                        ImportError::NotWorkflow(format!("workflow {i}: {m}"))
                    }
                    other => other,
                })
            })
            .collect(),
        one => Ok(vec![import_workflow(&one)?]),
    }
}

/// The output ports and input names of each node, by n8n name.
struct Wiring {
    outputs: Vec<Option<String>>,
    merge: bool,
    error_output: bool,
}

/// Converts one n8n workflow object.
pub fn import_workflow(n8n: &Value) -> Result<Imported, ImportError> {
    let Some(object) = n8n.as_object() else {
        return Err(ImportError::NotWorkflow(
            "an n8n workflow is a JSON object with `nodes` and `connections`".into(),
        ));
    };
    let Some(n8n_nodes) = object.get("nodes").and_then(Value::as_array) else {
        return Err(ImportError::NotWorkflow(
            "the JSON has no `nodes` list; is it an n8n workflow export?".into(),
        ));
    };
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("imported")
        .to_owned();
    let mut notes = Vec::new();
    let mut nodes = Vec::new();
    let mut wiring: HashMap<String, Wiring> = HashMap::new();
    for (i, n8n_node) in n8n_nodes.iter().enumerate() {
        let Some(node) = n8n_node.as_object() else {
            return Err(ImportError::NotWorkflow(format!(
                "nodes[{i}] is not an object"
            )));
        };
        if node.get("type").and_then(Value::as_str) == Some("n8n-nodes-base.stickyNote") {
            let name = node.get("name").and_then(Value::as_str).unwrap_or("?");
            notes.push(Note::new(
                name,
                NoteKind::IgnoredParam,
                "sticky notes are canvas annotations and are not imported".into(),
            ));
            continue;
        }
        let (node, wires) = convert_node(node, i, &mut notes)?;
        wiring.insert(node["id"].as_str().unwrap_or_default().to_owned(), wires);
        nodes.push(node);
    }
    let connections = convert_connections(object.get("connections"), &wiring, &mut notes);
    let (settings, timezone) = convert_settings(object, &mut notes);
    // n8n runs cron schedules in the workflow's time zone.
    if let Some(zone) = timezone {
        for node in &mut nodes {
            if node["type"] == "schedule" && node["params"].get("cron").is_some() {
                node["params"]["timezone"] = json!(zone);
            }
        }
    }
    let tags: Vec<Value> = object
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().or_else(|| t.get("name").and_then(Value::as_str)))
        .map(|t| json!(t))
        .collect();
    let mut workflow = json!({
        "name": name,
        "description": format!("Imported from n8n{}.", object.get("id").and_then(Value::as_str).map(|id| format!(" (workflow {id})")).unwrap_or_default()),
        "nodes": nodes,
        "connections": connections,
        "settings": settings,
    });
    if !tags.is_empty() {
        workflow["tags"] = Value::Array(tags);
    }
    let workflow = Workflow::from_value(workflow).map_err(|e| ImportError::Invalid {
        name: name.clone(),
        message: e.to_string(),
    })?;
    Ok(Imported {
        workflow,
        report: Report {
            workflow: name,
            notes,
        },
    })
}

fn convert_node(
    node: &Map<String, Value>,
    index: usize,
    notes: &mut Vec<Note>,
) -> Result<(Value, Wiring), ImportError> {
    let name = node
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::NotWorkflow(format!("nodes[{index}] has no `name`")))?
        .to_owned();
    let n8n_type = node.get("type").and_then(Value::as_str).unwrap_or_default();
    let version = node
        .get("typeVersion")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let parameters = node
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let credentials = node
        .get("credentials")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let row = table::lookup(n8n_type, version);
    let converted = match &row {
        Some(row) if row.status != Status::NotMapped => {
            let mut taker = Taker::new(&name, parameters.clone(), notes);
            nodes::convert(n8n_type, version, &mut taker, &credentials)
        }
        _ => None,
    };
    let mut out = Map::new();
    out.insert("id".into(), json!(name));
    let (wires, converted) = match converted {
        Some(c) => {
            if let Some(row) = &row
                && row.status == Status::Partial
            {
                notes.push(Note::new(
                    &name,
                    NoteKind::Partial,
                    format!("{n8n_type} {version} maps partially: {}", row.notes),
                ));
            }
            (c.outputs.clone(), Some(c))
        }
        None => {
            let why = match &row {
                Some(row) if !row.notes.is_empty() => row.notes.clone(),
                Some(_) => "no n8n-work equivalent".to_owned(),
                None => "not in the compatibility table (docs/n8n-compat.md)".to_owned(),
            };
            notes.push(Note::new(
                &name,
                NoteKind::Unmapped,
                format!("{n8n_type} {version} is not mapped ({why}); a `noop` stands in for it and its n8n parameters are kept under `params.n8n`"),
            ));
            (vec![None; 8], None)
        }
    };
    match converted {
        Some(c) => {
            out.insert("type".into(), json!(c.node_type));
            out.insert("params".into(), c.params);
            if !c.credentials.is_empty() {
                out.insert("credentials".into(), json!(c.credentials));
            }
            if !c.egress.is_empty() {
                out.insert("egress".into(), json!(c.egress));
            }
        }
        None => {
            // Kept for the user; a `noop` never evaluates its params.
            let type_version = node.get("typeVersion").cloned().unwrap_or(json!(1));
            let original =
                json!({ "type": n8n_type, "typeVersion": type_version, "parameters": parameters });
            out.insert("type".into(), json!("noop"));
            out.insert("params".into(), json!({ "n8n": original }));
            for (kind, credential) in &credentials {
                let cred = credential
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                notes.push(Note::new(
                    &name,
                    NoteKind::Credential,
                    format!("credential `{cred}` ({kind} in n8n) is not carried over, as the node is not mapped"),
                ));
            }
        }
    }
    if let Some([x, y]) = node
        .get("position")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
        .as_deref()
    {
        out.insert("position".into(), json!([x, y]));
    }
    let on_error = node.get("onError").and_then(Value::as_str).or_else(|| {
        (node.get("continueOnFail") == Some(&json!(true))).then_some("continueRegularOutput")
    });
    let mut error_output = false;
    match on_error {
        Some("continueRegularOutput") => {
            out.insert("onError".into(), json!("continue"));
        }
        Some("continueErrorOutput") => {
            out.insert("onError".into(), json!("error-output"));
            error_output = true;
        }
        _ => {}
    }
    if node.get("retryOnFail") == Some(&json!(true)) {
        let tries = node.get("maxTries").and_then(Value::as_u64).unwrap_or(3);
        let wait = node
            .get("waitBetweenTries")
            .and_then(Value::as_u64)
            .unwrap_or(1000);
        out.insert(
            "retry".into(),
            json!({ "maxAttempts": tries, "backoff": { "initialMs": wait, "maxMs": wait }, "jitter": false }),
        );
    }
    if node.get("disabled") == Some(&json!(true)) {
        notes.push(Note::new(
            &name,
            NoteKind::Changed,
            "the node is disabled in n8n, so it passes its items through: it became a `noop`"
                .into(),
        ));
        out.insert("type".into(), json!("noop"));
        out.insert("params".into(), json!({}));
        out.remove("credentials");
        out.remove("egress");
    }
    for (key, why) in [
        (
            "alwaysOutputData",
            "a node with no output items ends its branch",
        ),
        ("executeOnce", "the node runs for every item"),
        ("notes", "notes are not kept"),
    ] {
        if let Some(value) = node.get(key)
            && value != &json!(false)
            && value != &json!("")
        {
            notes.push(Note::new(
                &name,
                NoteKind::IgnoredParam,
                format!(
                    "node setting `{key}` ({}) is ignored: {why}",
                    params::brief(value)
                ),
            ));
        }
    }
    let merge = out.get("type") == Some(&json!("merge"));
    Ok((
        Value::Object(out),
        Wiring {
            outputs: wires,
            merge,
            error_output,
        },
    ))
}

fn convert_connections(
    connections: Option<&Value>,
    wiring: &HashMap<String, Wiring>,
    notes: &mut Vec<Note>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(connections) = connections.and_then(Value::as_object) else {
        return out;
    };
    for (from, kinds) in connections {
        let Some(wires) = wiring.get(from) else {
            notes.push(Note::workflow(
                NoteKind::IgnoredParam,
                format!("connections from `{from}`, which is not a node, are ignored"),
            ));
            continue;
        };
        for (kind, outputs) in kinds.as_object().into_iter().flatten() {
            if kind != "main" {
                notes.push(Note::new(
                    from,
                    NoteKind::IgnoredParam,
                    format!("`{kind}` connections (AI sub-nodes) are not mapped"),
                ));
                continue;
            }
            let outputs = outputs.as_array().map(Vec::as_slice).unwrap_or_default();
            for (index, targets) in outputs.iter().enumerate() {
                let port = if wires.error_output && index + 1 == outputs.len() && index > 0 {
                    Some("error".to_owned())
                } else {
                    match wires.outputs.get(index) {
                        Some(port) => port.clone(),
                        None => {
                            notes.push(Note::new(
                                from,
                                NoteKind::IgnoredParam,
                                format!("output {index} has no n8n-work port; its connections are ignored"),
                            ));
                            continue;
                        }
                    }
                };
                for target in targets.as_array().into_iter().flatten() {
                    let Some(to) = target.get("node").and_then(Value::as_str) else {
                        continue;
                    };
                    let mut edge = json!({ "from": from, "to": to });
                    if let Some(port) = port.as_ref().filter(|p| p.as_str() != "main") {
                        edge["port"] = json!(port);
                    }
                    let input = target.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if wiring.get(to).is_some_and(|w| w.merge) {
                        edge["input"] = json!(input.to_string());
                    } else if input > 0 {
                        notes.push(Note::new(
                            to,
                            NoteKind::IgnoredParam,
                            format!("input {input} (from `{from}`) is read as its only input"),
                        ));
                    }
                    out.push(edge);
                }
            }
        }
    }
    out
}

/// The workflow's settings, and its time zone (for schedules).
fn convert_settings(object: &Map<String, Value>, notes: &mut Vec<Note>) -> (Value, Option<String>) {
    let mut settings = json!({ "executionOrder": "n8n-v1" });
    let mut timezone = None;
    let n8n_settings = object
        .get("settings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in &n8n_settings {
        match key.as_str() {
            "executionOrder" => {
                if value != &json!("v1") {
                    notes.push(Note::workflow(
                        NoteKind::Changed,
                        format!("n8n ran this workflow in the `{}` (legacy) order; it runs in n8n's v1 order (one branch at a time, by position) here", params::brief(value)),
                    ));
                }
            }
            "errorWorkflow" => {
                if let Some(id) = value.as_str() {
                    settings["errorWorkflow"] = json!(id);
                    notes.push(Note::workflow(
                        NoteKind::Changed,
                        format!("the error workflow is named by its n8n id `{id}`; rename it to the imported workflow's name"),
                    ));
                }
            }
            "executionTimeout" => {
                if let Some(seconds) = value.as_i64().filter(|s| *s > 0) {
                    settings["runTimeoutMs"] = json!(seconds * 1000);
                }
            }
            "timezone" => {
                if let Some(zone) = value.as_str() {
                    timezone = Some(zone.to_owned());
                }
            }
            "callerPolicy" | "availableInMCP" | "timeSavedPerExecution" => {}
            _ => notes.push(Note::workflow(
                NoteKind::IgnoredParam,
                format!("setting `{key}` ({}) is ignored", params::brief(value)),
            )),
        }
    }
    for key in ["pinData", "staticData"] {
        if let Some(value) = object.get(key)
            && !value.is_null()
            && value != &json!({})
        {
            notes.push(Note::workflow(
                NoteKind::IgnoredParam,
                format!("`{key}` is not imported"),
            ));
        }
    }
    (settings, timezone)
}

/// The n8n node types the importer converts and the table's verdict on
/// each, for tests and docs.
pub fn converters() -> BTreeMap<&'static str, Vec<table::Row>> {
    nodes::CONVERTED
        .iter()
        .map(|t| {
            let rows = table::rows()
                .into_iter()
                .filter(|r| r.n8n_type == *t)
                .collect();
            (*t, rows)
        })
        .collect()
}
