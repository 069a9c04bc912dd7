//! `GET /nodes`: every node type a workflow can use, with the JSON Schema
//! of its params, for the editor's forms.

use axum::Json;
use axum::extract::State;
use axum::http::Extensions;
use n8n_work_model::ControlKind;
use serde_json::{Value, json};

use crate::{ApiResult, AppState, caller};

/// The params of a built-in control node, as JSON Schema, with its
/// description and output ports.
fn control(kind: ControlKind) -> (&'static str, Value, Vec<&'static str>) {
    let string = |d: &str| json!({ "type": "string", "description": d });
    let object = |props: Value, required: &[&str]| json!({ "type": "object", "properties": props, "required": required });
    match kind {
        ControlKind::Manual => (
            "Starts a run by hand, from the API, the CLI or the editor.",
            object(json!({}), &[]),
            vec!["main"],
        ),
        ControlKind::Webhook => (
            "Starts a run on an HTTP request to /webhook/{path}.",
            object(
                json!({
                    "path": string("The path after /webhook/."),
                    "method": { "type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "POST" },
                    "respond": { "type": "string", "enum": ["lastNode", "onReceived", "responseNode"], "default": "lastNode", "description": "When to answer: with the last node's first item, at once (202), or from a respond node." },
                }),
                &["path"],
            ),
            vec!["main"],
        ),
        ControlKind::Schedule => (
            "Starts a run on a schedule: a cron pattern in a timezone, or an interval.",
            object(
                json!({
                    "cron": string("5 fields (minute hour day month weekday), or 6 with seconds first."),
                    "timezone": string("An IANA timezone, e.g. Europe/Berlin (default UTC)."),
                    "every": string("An interval instead of cron: 30s, 5m, 1h."),
                    "catchUp": { "type": "string", "enum": ["skip", "once"], "default": "skip", "description": "Ticks missed while down: drop them, or run the latest once." },
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::Set => (
            "Sets fields on each item.",
            object(
                json!({
                    "fields": { "type": "object", "description": "Field name (dotted for nested) to value or expression.", "additionalProperties": true },
                    "keepOnlySet": { "type": "boolean", "default": false },
                }),
                &["fields"],
            ),
            vec!["main"],
        ),
        ControlKind::If => (
            "Routes each item to `true` or `false`.",
            object(
                json!({ "condition": string("An expression, e.g. {{ $json.total > 100 }}.") }),
                &["condition"],
            ),
            vec!["true", "false"],
        ),
        ControlKind::Filter => (
            "Keeps the items that match.",
            object(
                json!({ "condition": string("An expression, e.g. {{ $json.active }}.") }),
                &["condition"],
            ),
            vec!["main", "discarded"],
        ),
        ControlKind::Switch => (
            "Routes each item by rules.",
            object(
                json!({
                    "rules": { "type": "array", "items": { "type": "object", "properties": { "output": { "type": "string" }, "condition": { "type": "string" } } } },
                    "mode": { "type": "string", "enum": ["first", "all"], "default": "first", "description": "Send an item to the first matching rule's output, or to all that match." },
                }),
                &["rules"],
            ),
            // Plus each rule's output.
            vec!["fallback"],
        ),
        ControlKind::Merge => (
            "Joins branches.",
            object(
                json!({
                    "mode": { "type": "string", "enum": ["append", "byKey", "position", "wait"], "default": "append" },
                    "key": string("The field to join on (byKey)."),
                    "join": { "type": "string", "enum": ["inner", "left", "outer"], "default": "inner" },
                    "output": string("The input whose items go on (wait)."),
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::Wait => (
            "Pauses the run for a time, until a time, or until called.",
            object(
                json!({
                    "amountMs": { "type": "integer", "minimum": 0 },
                    "until": string("An ISO date-time."),
                    "resume": { "type": "string", "enum": ["call"], "description": "Wait until /resume/{token} is called." },
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::Respond => (
            "Answers the webhook that started the run.",
            object(
                json!({
                    "status": { "type": "integer", "default": 200 },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                    "body": { "description": "The body; an expression or JSON." },
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::Noop => (
            "Passes items through.",
            object(json!({}), &[]),
            vec!["main"],
        ),
        ControlKind::Loop => (
            "Runs the nodes on `loop` for each batch of items, then goes on at `done`.",
            object(
                json!({ "batchSize": { "type": "integer", "minimum": 1, "default": 1 } }),
                &[],
            ),
            vec!["loop", "done"],
        ),
        ControlKind::ExecuteWorkflow => (
            "Runs another workflow with the items: waits for it and goes on with its output, or starts it and goes on at once.",
            object(
                json!({
                    "workflow": string("The workflow's name or id."),
                    "wait": {
                        "type": "boolean",
                        "default": true,
                        "description": "Wait for the sub-workflow and go on with its output; false starts it and goes on with this node's own items.",
                    },
                }),
                &["workflow"],
            ),
            vec!["main"],
        ),
        ControlKind::StopAndError => (
            "Fails the run with a message.",
            object(
                json!({ "message": string("The error message.") }),
                &["message"],
            ),
            vec![],
        ),
        // The item nodes take n8n's parameters as n8n writes them
        // (docs/n8n-compat.md).
        ControlKind::SplitOut => (
            "Turns a list field of each item into items.",
            object(
                json!({
                    "fieldToSplitOut": string("The field (comma-separate several)."),
                    "include": { "type": "string", "enum": ["noOtherFields", "allOtherFields", "selectedOtherFields"], "default": "noOtherFields" },
                    "fieldsToInclude": string("With selectedOtherFields: which."),
                }),
                &["fieldToSplitOut"],
            ),
            vec!["main"],
        ),
        ControlKind::Aggregate => (
            "Gathers fields of all items into one item.",
            object(
                json!({
                    "aggregate": { "type": "string", "enum": ["aggregateIndividualFields", "aggregateAllItemData"], "default": "aggregateIndividualFields" },
                    "fieldsToAggregate": { "type": "object", "description": "n8n's `{fieldToAggregate: [{fieldToAggregate, renameField, outputFieldName}]}`." },
                    "destinationFieldName": string("With aggregateAllItemData: the list's field (default `data`)."),
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::Sort => (
            "Sorts items by fields, at random, or by code.",
            object(
                json!({
                    "type": { "type": "string", "enum": ["simple", "random"], "default": "simple" },
                    "sortFieldsUi": { "type": "object", "description": "n8n's `{sortField: [{fieldName, order: ascending|descending}]}`." },
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::Limit => (
            "Keeps the first or last items.",
            object(
                json!({
                    "maxItems": { "type": "integer", "minimum": 1, "default": 1 },
                    "keep": { "type": "string", "enum": ["firstItems", "lastItems"], "default": "firstItems" },
                }),
                &[],
            ),
            vec!["main"],
        ),
        ControlKind::RemoveDuplicates => (
            "Drops items equal to an earlier one.",
            object(
                json!({
                    "compare": { "type": "string", "enum": ["allFields", "allFieldsExcept", "selectedFields"], "default": "allFields" },
                    "fieldsToExclude": string("With allFieldsExcept: which (comma-separated)."),
                    "fieldsToCompare": string("With selectedFields: which (comma-separated)."),
                }),
                &[],
            ),
            vec!["main"],
        ),
    }
}

/// `GET /nodes`.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "workflows", responses((status = 200, description = "`{items: [{type, name, description, kind, params, outputs}]}`", body = serde_json::Value)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let mut items = Vec::new();
    for (name, kind) in ControlKind::ALL {
        let (description, params, outputs) = control(kind);
        items.push(json!({
            "type": name,
            "name": name,
            "description": description,
            "kind": if kind.is_trigger() { "trigger" } else { "control" },
            "params": params,
            "outputs": outputs,
        }));
    }
    let catalog = state.engine.catalog();
    let plugins = catalog.tenant_plugins(&caller.tenant).await;
    let shared = catalog.node_types().into_iter().map(|(t, n)| (t, n, false));
    let installed = plugins.iter().map(|(t, n)| (t.as_str(), n, true));
    for (node_type, node, plugin) in shared.chain(installed) {
        let spec = node.spec();
        items.push(json!({
            "type": node_type,
            "name": spec.display_name,
            "description": spec.description,
            "kind": "component",
            "plugin": plugin,
            "version": spec.version,
            "icon": spec.icon,
            "params": spec.params_schema,
            "outputs": spec.outputs.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "credentials": spec.credentials,
            "egress": spec.egress,
        }));
    }
    Ok(Json(json!({ "items": items })))
}
