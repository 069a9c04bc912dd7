//! One converter per n8n node type: n8n's parameters (with n8n's defaults
//! for what an export leaves out) to an n8n-work node's params.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::components;
use crate::params::Taker;
use crate::report::NoteKind;

/// A node once converted.
pub(crate) struct Converted {
    /// The n8n-work node type.
    pub(crate) node_type: String,
    /// Its params.
    pub(crate) params: Value,
    /// Credential slot → credential name.
    pub(crate) credentials: BTreeMap<String, String>,
    /// Origins the node may reach.
    pub(crate) egress: Vec<String>,
    /// n8n output index → port name (`None`: the default port).
    pub(crate) outputs: Vec<Option<String>>,
}

impl Converted {
    pub(crate) fn new(node_type: &str, params: Value) -> Converted {
        Converted {
            node_type: node_type.to_owned(),
            params,
            credentials: BTreeMap::new(),
            egress: Vec::new(),
            outputs: vec![None],
        }
    }

    fn ports(mut self, ports: &[&str]) -> Converted {
        self.outputs = ports.iter().map(|p| Some((*p).to_owned())).collect();
        self
    }
}

/// The n8n node types with a converter; the table must list each of them.
pub(crate) const CONVERTED: [&str; 22] = [
    "n8n-nodes-base.manualTrigger",
    "n8n-nodes-base.webhook",
    "n8n-nodes-base.respondToWebhook",
    "n8n-nodes-base.scheduleTrigger",
    "n8n-nodes-base.set",
    "n8n-nodes-base.if",
    "n8n-nodes-base.filter",
    "n8n-nodes-base.switch",
    "n8n-nodes-base.merge",
    "n8n-nodes-base.splitOut",
    "n8n-nodes-base.aggregate",
    "n8n-nodes-base.sort",
    "n8n-nodes-base.limit",
    "n8n-nodes-base.removeDuplicates",
    "n8n-nodes-base.noOp",
    "n8n-nodes-base.wait",
    "n8n-nodes-base.executeWorkflow",
    "n8n-nodes-base.stopAndError",
    "n8n-nodes-base.splitInBatches",
    "n8n-nodes-base.httpRequest",
    "n8n-nodes-base.slack",
    "n8n-nodes-base.code",
];

/// Converts one node; `None` when the type has no converter.
pub(crate) fn convert(
    n8n_type: &str,
    version: f64,
    p: &mut Taker<'_>,
    credentials: &Map<String, Value>,
) -> Option<Converted> {
    Some(match n8n_type {
        "n8n-nodes-base.manualTrigger" => Converted::new("manual", json!({})),
        "n8n-nodes-base.noOp" => Converted::new("noop", json!({})),
        "n8n-nodes-base.webhook" => webhook(p, version),
        "n8n-nodes-base.respondToWebhook" => respond(p),
        "n8n-nodes-base.scheduleTrigger" => schedule(p),
        "n8n-nodes-base.set" => set(p, version),
        "n8n-nodes-base.if" if version < 2.0 => {
            Converted::new("if", if_v1(p)).ports(&["true", "false"])
        }
        "n8n-nodes-base.if" => {
            Converted::new("if", conditions(p, version)).ports(&["true", "false"])
        }
        "n8n-nodes-base.filter" => {
            Converted::new("filter", conditions(p, version)).ports(&["main", "discarded"])
        }
        "n8n-nodes-base.switch" => switch(p, version),
        "n8n-nodes-base.merge" => merge(p),
        "n8n-nodes-base.splitOut" => {
            let mut params = Map::new();
            copy(
                p,
                &mut params,
                &["fieldToSplitOut", "include", "fieldsToInclude"],
            );
            let mut options = p.nested("options");
            copy(
                &mut options,
                &mut params,
                &["destinationFieldName", "disableDotNotation"],
            );
            options.ignore("includeBinary", "binary data is not split");
            drop(options);
            Converted::new("split-out", Value::Object(params))
        }
        "n8n-nodes-base.aggregate" => {
            let mut params = Map::new();
            copy(
                p,
                &mut params,
                &[
                    "aggregate",
                    "destinationFieldName",
                    "include",
                    "fieldsToInclude",
                    "fieldsToExclude",
                ],
            );
            if let Some(fields) = p.take("fieldsToAggregate") {
                params.insert(
                    "fieldsToAggregate".into(),
                    fields.get("fieldToAggregate").cloned().unwrap_or(json!([])),
                );
            }
            let mut options = p.nested("options");
            copy(
                &mut options,
                &mut params,
                &["disableDotNotation", "mergeLists", "keepMissing"],
            );
            options.ignore("includeBinaries", "binaries are not aggregated");
            options.ignore("keepOnlyUnique", "binaries are not aggregated");
            drop(options);
            Converted::new("aggregate", Value::Object(params))
        }
        "n8n-nodes-base.sort" => {
            let mut params = Map::new();
            let kind = p.text("type", "simple");
            if kind != "simple" {
                p.note(
                    NoteKind::Partial,
                    format!("the `{kind}` sort is not mapped; the step fails until it is re-made as a simple sort"),
                );
            }
            params.insert("type".into(), json!(kind));
            copy(p, &mut params, &["sortFieldsUi"]);
            p.ignore("code", "code sorts are not mapped");
            let mut options = p.nested("options");
            copy(&mut options, &mut params, &["disableDotNotation"]);
            drop(options);
            Converted::new("sort", Value::Object(params))
        }
        "n8n-nodes-base.limit" => {
            let mut params = Map::new();
            params.insert("maxItems".into(), p.take("maxItems").unwrap_or(json!(1)));
            copy(p, &mut params, &["keep"]);
            Converted::new("limit", Value::Object(params))
        }
        "n8n-nodes-base.removeDuplicates" => {
            let operation = p.text("operation", "removeDuplicateInputItems");
            if operation != "removeDuplicateInputItems" {
                p.note(
                    NoteKind::Partial,
                    format!("operation `{operation}` (history across runs) is not mapped; duplicates are removed within the input only"),
                );
            }
            let mut params = Map::new();
            copy(
                p,
                &mut params,
                &["compare", "fieldsToExclude", "fieldsToCompare"],
            );
            let mut options = p.nested("options");
            copy(
                &mut options,
                &mut params,
                &["disableDotNotation", "removeOtherFields"],
            );
            drop(options);
            Converted::new("remove-duplicates", Value::Object(params))
        }
        "n8n-nodes-base.wait" => wait(p),
        "n8n-nodes-base.executeWorkflow" => execute_workflow(p),
        "n8n-nodes-base.stopAndError" => {
            let message = if p.text("errorType", "errorMessage") == "errorObject" {
                let object = p.take("errorObject").unwrap_or(json!("{}"));
                match object {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            } else {
                p.text("errorMessage", "")
            };
            Converted::new("stop-and-error", json!({ "message": message })).ports(&[])
        }
        "n8n-nodes-base.splitInBatches" => {
            let size = p.take("batchSize").unwrap_or(json!(1));
            let mut options = p.nested("options");
            options.ignore("reset", "the loop is not reset");
            drop(options);
            Converted::new("loop", json!({ "batchSize": size })).ports(&["done", "loop"])
        }
        "n8n-nodes-base.httpRequest" => components::http(p, version, credentials),
        "n8n-nodes-base.slack" => components::slack(p, version, credentials),
        "n8n-nodes-base.code" => code(p),
        _ => return None,
    })
}

/// The Code node runs in the wasm Code component (`builtin:code`), with
/// n8n's modes; only JavaScript runs there.
fn code(p: &mut Taker<'_>) -> Converted {
    let language = p.text("language", "javaScript");
    if language != "javaScript" {
        p.note(
            NoteKind::Partial,
            format!("language `{language}` does not run here, only JavaScript; the step fails until the code is rewritten in JavaScript"),
        );
    }
    let mode = p.text("mode", "runOnceForAllItems");
    let code = p
        .take("jsCode")
        .unwrap_or_else(|| json!("return $input.all();"));
    p.ignore("pythonCode", "Python Code nodes do not run here");
    Converted::new(
        "builtin:code",
        json!({ "code": code, "mode": mode, "language": "javaScript" }),
    )
}

/// Moves each of `keys` that is set from `p` into `params`.
fn copy(p: &mut Taker<'_>, params: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(value) = p.take(key) {
            params.insert((*key).to_owned(), value);
        }
    }
}

/// `{entries: [{name, value}]}` (or `{parameters: [...]}`) as a map.
pub(crate) fn pairs(value: Option<&Value>, list: &str) -> Map<String, Value> {
    ordered_pairs(value, list).into_iter().collect()
}

/// The same pairs, in the order n8n lists them.
pub(crate) fn ordered_pairs(value: Option<&Value>, list: &str) -> Vec<(String, Value)> {
    value
        .and_then(|value| value.get(list))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let name = pair.get("name")?.as_str()?.to_owned();
            Some((name, pair.get("value").cloned().unwrap_or(json!(""))))
        })
        .collect()
}

fn webhook(p: &mut Taker<'_>, version: f64) -> Converted {
    let method = p.text("httpMethod", "GET");
    let path = p.text("path", "");
    let respond = p.text("responseMode", "onReceived");
    let mut params = json!({ "path": path, "method": method, "respond": respond });
    if respond == "lastNode" {
        params["responseData"] = json!(p.text("responseData", "firstEntryJson"));
    } else {
        p.ignore(
            "responseData",
            "it applies when responding with the last node",
        );
    }
    if respond != "responseNode" && version < 2.0 {
        params["responseCode"] = p.take("responseCode").unwrap_or(json!(200));
    } else {
        p.ignore(
            "responseCode",
            "n8n reads it only for webhook 1.x; 2.x uses `options.responseCode`",
        );
    }
    p.drop_if("authentication", &json!("none"));
    p.ignore(
        "authentication",
        "webhook authentication is not mapped; the route is open (use a signing secret)",
    );
    p.ignore("multipleMethods", "one method per webhook node");
    let mut options = p.nested("options");
    if let Some(code) = options.take("responseCode") {
        // `{values: {responseCode, customCode}}`: a custom code wins.
        let code = code
            .pointer("/values/customCode")
            .filter(|c| !c.is_null())
            .or_else(|| code.pointer("/values/responseCode"))
            .cloned()
            .unwrap_or(code);
        if respond == "responseNode" {
            options.note(
                NoteKind::IgnoredParam,
                "`options.responseCode` is ignored: the Respond to Webhook node sets the code"
                    .into(),
            );
        } else {
            params["responseCode"] = code;
        }
    }
    let headers = pairs(options.take("responseHeaders").as_ref(), "entries");
    if !headers.is_empty() {
        params["responseHeaders"] = Value::Object(headers);
    }
    if let Some(text) = options.take("responseData") {
        params["responseBody"] = text;
    }
    options.ignore(
        "rawBody",
        "the body is read as JSON, or as text when it is not JSON",
    );
    options.ignore("binaryData", "binary uploads are not mapped");
    options.ignore("binaryPropertyName", "binary uploads are not mapped");
    options.ignore("noResponseBody", "the response always has a body");
    options.ignore("allowedOrigins", "CORS is the server's setting");
    options.ignore("ipWhitelist", "IP allow-lists are the server's setting");
    options.ignore("ignoreBots", "bots are not filtered");
    options.ignore("responseContentType", "the body is sent as JSON");
    options.ignore("responsePropertyName", "the whole item is sent");
    drop(options);
    if version < 2.0 {
        p.note(
            NoteKind::Partial,
            "webhook 1.x: the item is `{body, headers, query, params}`".into(),
        );
    }
    Converted::new("webhook", params)
}

fn respond(p: &mut Taker<'_>) -> Converted {
    let with = p.text("respondWith", "firstIncomingItem");
    let mut params = json!({ "respondWith": with });
    match with.as_str() {
        "json" | "text" => {
            let default_body = if with == "json" {
                "{\n  \"myField\": \"value\"\n}"
            } else {
                ""
            };
            params["responseBody"] = p.take("responseBody").unwrap_or(json!(default_body));
        }
        "firstIncomingItem" | "allIncomingItems" | "noData" => {}
        other => p.note(
            NoteKind::Partial,
            format!("`respondWith: {other}` is not mapped; the step fails until it is changed"),
        ),
    }
    p.ignore("enableResponseOutput", "the node has no response output");
    let mut options = p.nested("options");
    if let Some(code) = options.take("responseCode") {
        params["status"] = code;
    }
    let headers = pairs(options.take("responseHeaders").as_ref(), "entries");
    if !headers.is_empty() {
        params["headers"] = Value::Object(headers);
    }
    if let Some(key) = options.take("responseKey") {
        params["responseKey"] = key;
    }
    options.ignore("enableStreaming", "responses are not streamed");
    drop(options);
    Converted::new("respond", params)
}

fn set(p: &mut Taker<'_>, version: f64) -> Converted {
    let mut params = Map::new();
    if version < 3.0 {
        // Set 1 and 2: typed lists, `keepOnlySet`.
        let values = p.take("values").unwrap_or(json!({}));
        let mut list = Vec::new();
        for kind in ["string", "number", "boolean"] {
            for entry in values
                .get(kind)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                list.push(json!({
                    "name": entry.get("name").cloned().unwrap_or(json!("propertyName")),
                    "value": entry.get("value").cloned().unwrap_or(Value::Null),
                    "type": kind,
                }));
            }
        }
        params.insert("assignments".into(), Value::Array(list));
        let keep_only = p.flag("keepOnlySet", false);
        params.insert(
            "include".into(),
            json!(if keep_only { "none" } else { "all" }),
        );
    } else {
        let mode = p.text("mode", "manual");
        if mode == "raw" {
            params.insert("json".into(), p.take("jsonOutput").unwrap_or(json!("{}")));
        } else if version >= 3.3 {
            let assignments = p.take("assignments").unwrap_or(json!({}));
            let list: Vec<Value> = assignments
                .get("assignments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|a| {
                    json!({
                        "name": a.get("name").cloned().unwrap_or(json!("")),
                        "value": a.get("value").cloned().unwrap_or(Value::Null),
                        "type": a.get("type").cloned().unwrap_or(json!("string")),
                    })
                })
                .collect();
            params.insert("assignments".into(), Value::Array(list));
        } else {
            let fields = p.take("fields").unwrap_or(json!({}));
            let list: Vec<Value> = fields
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|f| {
                    let kind = f
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("stringValue")
                        .to_owned();
                    json!({
                        "name": f.get("name").cloned().unwrap_or(json!("")),
                        "value": f.get(&kind).cloned().unwrap_or(Value::Null),
                        "type": kind.trim_end_matches("Value"),
                    })
                })
                .collect();
            params.insert("assignments".into(), Value::Array(list));
        }
        let include = if version >= 3.3 {
            let others = p.flag("includeOtherFields", false);
            let include = p.text("include", "all");
            if others { include } else { "none".to_owned() }
        } else {
            p.text("include", "all")
        };
        if include == "selected" {
            copy(p, &mut params, &["includeFields"]);
        } else {
            p.ignore("includeFields", "other fields are not selected");
        }
        if include == "except" {
            copy(p, &mut params, &["excludeFields"]);
        } else {
            p.ignore("excludeFields", "other fields are not excluded");
        }
        params.insert("include".into(), json!(include));
        p.ignore(
            "duplicateItem",
            "duplicating items is a test aid of n8n's editor",
        );
        p.ignore(
            "duplicateCount",
            "duplicating items is a test aid of n8n's editor",
        );
    }
    let mut options = p.nested("options");
    if let Some(dots) = options.take("dotNotation") {
        params.insert("dotNotation".into(), dots);
    }
    if let Some(lenient) = options.take("ignoreConversionErrors") {
        params.insert("ignoreConversionErrors".into(), lenient);
    }
    options.ignore("includeBinary", "binary data is kept with the item");
    options.drop_if("stripBinary", &json!(false));
    options.ignore("stripBinary", "binary data is kept with the item");
    drop(options);
    Converted::new("set", Value::Object(params))
}

/// IF and Filter: the condition builder, its loose-typing switch and
/// case option.
fn conditions(p: &mut Taker<'_>, version: f64) -> Value {
    let mut filter = p.take("conditions").unwrap_or(json!({}));
    let mut options = p.nested("options");
    let loose_option = options.flag("looseTypeValidation", false);
    let ignore_case = options.flag("ignoreCase", false);
    drop(options);
    let loose = if version >= 2.1 {
        p.flag("looseTypeValidation", false)
    } else {
        loose_option
    };
    if ignore_case && let Some(o) = filter.get_mut("options").and_then(Value::as_object_mut) {
        o.insert("caseSensitive".into(), json!(false));
    }
    let mut params = json!({ "conditions": filter });
    if loose {
        params["looseTypeValidation"] = json!(true);
    }
    params
}

fn switch(p: &mut Taker<'_>, version: f64) -> Converted {
    let mode = p.text("mode", "rules");
    if mode == "expression" {
        let count = p.take("numberOutputs").unwrap_or(json!(4));
        let output = p.take("output").unwrap_or(json!(""));
        let n = count.as_u64().unwrap_or(4);
        let ports: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let mut options = p.nested("options");
        options.ignore(
            "looseTypeValidation",
            "expression mode picks outputs by index",
        );
        drop(options);
        let mut converted = Converted::new("switch", json!({ "outputs": count, "output": output }));
        converted.outputs = ports.into_iter().map(Some).collect();
        return converted;
    }
    let rules = p.take("rules").unwrap_or(json!({}));
    let rules: Vec<Value> = rules
        .get("values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let loose_top = if version >= 3.1 {
        p.flag("looseTypeValidation", false)
    } else {
        false
    };
    let mut options = p.nested("options");
    let fallback = options.take("fallbackOutput").unwrap_or(json!("none"));
    let all = options.flag("allMatchingOutputs", false);
    let ignore_case = options.flag("ignoreCase", false);
    let loose = options.flag("looseTypeValidation", false) || loose_top;
    options.ignore(
        "renameFallbackOutput",
        "the fallback port is called `fallback`",
    );
    drop(options);
    let mut converted_rules = Vec::new();
    let mut ports = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let mut conditions = rule.get("conditions").cloned().unwrap_or(json!({}));
        if ignore_case && let Some(o) = conditions.get_mut("options").and_then(Value::as_object_mut)
        {
            o.insert("caseSensitive".into(), json!(false));
        }
        if rule.get("renameOutput") == Some(&json!(true))
            && let Some(key) = rule.get("outputKey").and_then(Value::as_str)
        {
            p.note(
                NoteKind::Changed,
                format!("output {i} (`{key}` in n8n) is port `{i}`"),
            );
        }
        converted_rules.push(json!({ "conditions": conditions, "output": i.to_string() }));
        ports.push(Some(i.to_string()));
    }
    let mut params = json!({ "rules": converted_rules });
    match &fallback {
        Value::String(s) if s == "extra" => {
            params["fallback"] = json!("fallback");
            ports.push(Some("fallback".into()));
        }
        Value::Number(n) => {
            params["fallback"] = json!(n.to_string());
        }
        _ => params["fallback"] = json!("none"),
    }
    if all {
        params["mode"] = json!("all");
    }
    if loose {
        params["looseTypeValidation"] = json!(true);
    }
    let mut converted = Converted::new("switch", params);
    converted.outputs = ports;
    converted
}

fn merge(p: &mut Taker<'_>) -> Converted {
    let mode = p.text("mode", "append");
    let mut params = Map::new();
    let target = match mode.as_str() {
        "append" => "append".to_owned(),
        "combine" => p.text("combineBy", "combineByFields"),
        "combineByPosition" | "combineAll" | "combineByFields" => mode.clone(),
        "chooseBranch" => {
            params.insert("output".into(), json!(p.text("output", "specifiedInput")));
            params.insert(
                "useDataOfInput".into(),
                p.take("useDataOfInput").unwrap_or(json!(1)),
            );
            p.ignore("chooseBranchMode", "the merge always waits for its inputs");
            "chooseBranch".to_owned()
        }
        other => {
            p.note(
                NoteKind::Partial,
                format!("merge mode `{other}` is not mapped; the step fails until it is changed"),
            );
            other.to_owned()
        }
    };
    params.insert("mode".into(), json!(target));
    if target == "combineByFields" {
        let advanced = p.flag("advanced", false);
        if advanced {
            params.insert("advanced".into(), json!(true));
            copy(p, &mut params, &["mergeByFields"]);
        } else {
            copy(p, &mut params, &["fieldsToMatchString"]);
        }
        params.insert("joinMode".into(), json!(p.text("joinMode", "keepMatches")));
        params.insert(
            "outputDataFrom".into(),
            json!(p.text("outputDataFrom", "both")),
        );
    }
    p.ignore("numberInputs", "inputs are named by the connections");
    let options = p.take("options");
    if let Some(options) = options {
        params.insert("options".into(), options);
    }
    Converted::new("merge", Value::Object(params))
}

fn wait(p: &mut Taker<'_>) -> Converted {
    let resume = p.text("resume", "timeInterval");
    let params = match resume.as_str() {
        "timeInterval" => {
            let amount = p.take("amount").unwrap_or(json!(1));
            let unit = p.text("unit", "hours");
            let per = match unit.as_str() {
                "seconds" => 1_000.0,
                "minutes" => 60_000.0,
                "hours" => 3_600_000.0,
                "days" => 86_400_000.0,
                _ => 1_000.0,
            };
            match amount.as_f64() {
                Some(n) => json!({ "amountMs": (n * per).round() as i64 }),
                None => {
                    json!({ "amountMs": format!("{{{{ ({}) * {per} }}}}", amount.as_str().unwrap_or("0").trim_start_matches("{{").trim_end_matches("}}").trim()) })
                }
            }
        }
        "specificTime" => json!({ "until": p.take("dateTime").unwrap_or(json!("")) }),
        "webhook" => {
            p.note(
                NoteKind::Partial,
                "resumes on a call to the run's n8n-work resume URL, not `$execution.resumeUrl`"
                    .into(),
            );
            json!({ "resume": "call" })
        }
        other => {
            p.note(
                NoteKind::Partial,
                format!("resume `{other}` is not mapped; the run waits for a resume call"),
            );
            json!({ "resume": "call" })
        }
    };
    p.ignore("limitWaitTime", "a waiting run has no time limit");
    p.ignore("options", "webhook-resume options are not mapped");
    Converted::new("wait", params)
}

fn execute_workflow(p: &mut Taker<'_>) -> Converted {
    let source = p.text("source", "database");
    // `workflowId` is the id as text (older n8n) or a resource locator,
    // which names the workflow as well (`cachedResultName`).
    let id = p.take("workflowId").unwrap_or(json!(""));
    let (name, named) = match &id {
        Value::String(s) => (s.clone(), false),
        Value::Object(locator) => match locator.get("cachedResultName").and_then(Value::as_str) {
            Some(name) => (name.to_owned(), true),
            None => (
                locator
                    .get("value")
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default(),
                false,
            ),
        },
        other => (other.to_string(), false),
    };
    if source != "database" {
        p.note(
            NoteKind::Partial,
            format!("sub-workflows from `{source}` are not mapped; store the workflow and name it"),
        );
    }
    if !named {
        p.note(
            NoteKind::Changed,
            format!("the sub-workflow is named by its n8n id `{name}`; rename it to the imported workflow's name"),
        );
    }
    p.ignore("mode", "the sub-workflow gets all items at once");
    p.ignore(
        "workflowInputs",
        "the sub-workflow gets the items as they are",
    );
    let mut options = p.nested("options");
    let wait = options.flag("waitForSubWorkflow", true);
    drop(options);
    Converted::new(
        "execute-workflow",
        json!({ "workflow": name, "wait": wait }),
    )
}

/// Schedule Trigger: n8n's first interval rule as `every` (seconds,
/// minutes) or a `cron` pattern, as n8n builds them.
fn schedule(p: &mut Taker<'_>) -> Converted {
    let rule = p.take("rule").unwrap_or(json!({}));
    let intervals = rule
        .get("interval")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| vec![json!({})]);
    if intervals.len() > 1 {
        p.note(
            NoteKind::Partial,
            format!("only the first of {} schedule rules is kept; add a schedule node for each of the others", intervals.len()),
        );
    }
    let r = intervals.first().cloned().unwrap_or(json!({}));
    let num = |key: &str, default: i64| r.get(key).and_then(Value::as_i64).unwrap_or(default);
    let field = r.get("field").and_then(Value::as_str).unwrap_or("days");
    let (minute, hour) = (num("triggerAtMinute", 0), num("triggerAtHour", 0));
    let params = match field {
        "seconds" => json!({ "every": format!("{}s", num("secondsInterval", 30)) }),
        "minutes" => json!({ "every": format!("{}m", num("minutesInterval", 5)) }),
        "hours" => json!({ "cron": format!("{minute} */{} * * *", num("hoursInterval", 1)) }),
        "days" => json!({ "cron": format!("{minute} {hour} */{} * *", num("daysInterval", 1)) }),
        "weeks" => {
            if num("weeksInterval", 1) > 1 {
                p.note(
                    NoteKind::Partial,
                    "runs every week: an interval of several weeks is not mapped".into(),
                );
            }
            let days: Vec<String> = r
                .get("triggerAtDay")
                .and_then(Value::as_array)
                .map(|d| {
                    d.iter()
                        .filter_map(Value::as_i64)
                        .map(|d| d.to_string())
                        .collect()
                })
                .filter(|d: &Vec<String>| !d.is_empty())
                .unwrap_or_else(|| vec!["0".into()]);
            json!({ "cron": format!("{minute} {hour} * * {}", days.join(",")) })
        }
        "months" => json!({ "cron": format!(
            "{minute} {hour} {} */{} *",
            num("triggerAtDayOfMonth", 1),
            num("monthsInterval", 1)
        ) }),
        _ => json!({ "cron": r.get("expression").and_then(Value::as_str).unwrap_or("0 0 * * *") }),
    };
    Converted::new("schedule", params)
}

/// IF 1.x: typed lists of `{value1, operation, value2}` and `combineOperation`,
/// compared with JavaScript's operators as n8n 1.x compares them; written
/// as one expression.
fn if_v1(p: &mut Taker<'_>) -> Value {
    let conditions = p.take("conditions").unwrap_or(json!({}));
    let any = p.text("combineOperation", "all") == "any";
    // A parameter as JavaScript: an expression's source, or a literal.
    let js = |value: Option<&Value>| -> String {
        match value {
            Some(Value::String(text)) => {
                let trimmed = text.trim();
                match trimmed
                    .strip_prefix("{{")
                    .and_then(|t| t.strip_suffix("}}"))
                    .filter(|inner| !inner.contains("{{"))
                {
                    Some(inner) => format!("({})", inner.trim()),
                    None if text.contains("{{") => {
                        format!(
                            "`{}`",
                            text.replace('`', "\\`")
                                .replace("{{", "${")
                                .replace("}}", "}")
                        )
                    }
                    None => Value::String(text.clone()).to_string(),
                }
            }
            Some(other) => other.to_string(),
            None => "undefined".into(),
        }
    };
    let mut checks = Vec::new();
    for kind in ["boolean", "dateTime", "number", "string"] {
        for c in conditions
            .get(kind)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (mut a, mut b) = (js(c.get("value1")), js(c.get("value2")));
            if kind == "dateTime" {
                a = format!("new Date({a}).getTime()");
                b = format!("new Date({b}).getTime()");
            }
            let empty = |v: &str| {
                format!(
                    "([undefined, null, ''].includes({v}) || Number.isNaN({v}) || (typeof {v} === 'object' && {v} !== null && Object.keys({v}).length === 0))"
                )
            };
            let op = c
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("equal");
            let check = match op {
                "after" | "larger" => format!("(({a}) || 0) > (({b}) || 0)"),
                "before" | "smaller" => format!("(({a}) || 0) < (({b}) || 0)"),
                "largerEqual" => format!("(({a}) || 0) >= (({b}) || 0)"),
                "smallerEqual" => format!("(({a}) || 0) <= (({b}) || 0)"),
                "contains" => format!("String(({a}) || '').includes(String(({b}) || ''))"),
                "notContains" => format!("!String(({a}) || '').includes(String(({b}) || ''))"),
                "startsWith" => format!("({a}).startsWith({b})"),
                "notStartsWith" => format!("!({a}).startsWith({b})"),
                "endsWith" => format!("({a}).endsWith({b})"),
                "notEndsWith" => format!("!({a}).endsWith({b})"),
                "equal" => format!("({a}) === ({b})"),
                "notEqual" => format!("({a}) !== ({b})"),
                "isEmpty" => empty(&a),
                "isNotEmpty" => format!("!{}", empty(&a)),
                "regex" | "notRegex" => {
                    let m = format!(
                        "(() => {{ const p = String(({b}) || ''); const m = p.match(/^\\/(.*?)\\/([gimusy]*)$/); return !!String(({a}) || '').match(m ? new RegExp(m[1], m[2]) : new RegExp(p)); }})()"
                    );
                    if op == "regex" { m } else { format!("!{m}") }
                }
                other => {
                    p.note(
                        NoteKind::Partial,
                        format!("IF 1.x operation `{other}` is not mapped; the condition is false"),
                    );
                    "false".into()
                }
            };
            checks.push(format!("({check})"));
        }
    }
    let joined = if checks.is_empty() {
        (!any).to_string()
    } else {
        checks.join(if any { " || " } else { " && " })
    };
    json!({ "condition": format!("{{{{ {joined} }}}}") })
}
