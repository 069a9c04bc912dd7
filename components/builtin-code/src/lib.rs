//! The Code node: runs a JavaScript snippet over the step's items.
//!
//! A built-in node, run by the host's runtime stage like any other
//! component. The snippet runs in boa, a JavaScript engine compiled into
//! this component, so user code runs inside the node's wasm sandbox and
//! never in the host: it has no `require`, no `process`, no file system and
//! no network, and the step's fuel, memory and deadline bound it
//! (docs/adr/0005-code-node.md).
//!
//! The principal type is `Code`. Its two modes are n8n's: `runOnceForAllItems`
//! (`$input.all()`, `items`) and `runOnceForEachItem` (`$json`,
//! `$input.item`); `$('Name')` and `$node["Name"]` read earlier nodes'
//! output, which the engine passes in the `nodes` parameter.
//! `console.log` writes to the step's log.

mod output;
mod script;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use n8n_work_sdk::{BinaryRef, Context, Item, Node, NodeError, Outcome, Spec, export_node, log};

/// The parameters of one Code step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Params {
    /// The JavaScript to run: the body of a function, ending in `return`.
    #[serde(alias = "jsCode")]
    code: String,
    /// Run once over all items, or once for each item.
    #[serde(default)]
    mode: RunMode,
    /// Earlier nodes' output items (`{json}` objects) by node name, for
    /// `$('Name')`. The engine fills it when the code mentions `$(` or
    /// `$node`.
    #[serde(default)]
    nodes: Map<String, Value>,
    /// Always `javaScript`; accepted so that n8n's Code node parameters
    /// import as they are.
    #[serde(default)]
    language: Language,
}

/// How often the code runs.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
enum RunMode {
    /// Once, with all items in `$input.all()` and `items`.
    #[default]
    RunOnceForAllItems,
    /// Once per item, which is `$json` and `$input.item`.
    RunOnceForEachItem,
}

/// The snippet's language.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
enum Language {
    /// JavaScript (ES2024, no Node.js APIs).
    #[default]
    JavaScript,
}

/// The Code node.
struct Code;

impl Node for Code {
    type Params = Params;

    fn spec() -> Spec {
        Spec::new("code", "Code")
            .version(env!("CARGO_PKG_VERSION"))
            .description(
                "Runs JavaScript over the items, once for all items or once for each, \
                 inside the node's sandbox.",
            )
            .icon("code")
    }

    fn execute(ctx: &Context<Params>, items: Vec<Item>) -> Result<Outcome, NodeError> {
        let Language::JavaScript = ctx.params.language;
        let mode = match ctx.params.mode {
            RunMode::RunOnceForAllItems => script::Mode::AllItems,
            RunMode::RunOnceForEachItem => script::Mode::EachItem,
        };
        let input = script::Input {
            items: items.iter().map(item_value).collect(),
            nodes: ctx
                .params
                .nodes
                .iter()
                .map(|(name, list)| (name.clone(), node_items(list)))
                .collect(),
            execution_id: ctx.execution_id.clone(),
            workflow_id: ctx.workflow_id.clone(),
            node_id: ctx.node_id.clone(),
        };
        let produced = script::run(&ctx.params.code, mode, &input, emit).map_err(|err| {
            NodeError::fatal(format!("Code node: {}", err.message)).with_code(err.code)
        })?;
        let items = produced
            .into_iter()
            .enumerate()
            .map(|(index, value)| value_item(index, &value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outcome::main(items))
    }
}

export_node!(Code);

/// `console.*` lines, to the step's log.
fn emit(level: &str, message: &str) {
    let level = match level {
        "trace" => log::Level::Trace,
        "debug" => log::Level::Debug,
        "warn" => log::Level::Warn,
        "error" => log::Level::Error,
        _ => log::Level::Info,
    };
    log::log(level, message);
}

/// An input item as the snippet sees it: `{json, binary}`.
fn item_value(item: &Item) -> Value {
    json!({ "json": item.json, "binary": item.binary })
}

/// An earlier node's items, which the engine sends as bare JSON objects.
fn node_items(list: &Value) -> Value {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    Value::Array(
        items
            .iter()
            .map(|json| json!({ "json": json, "binary": {} }))
            .collect(),
    )
}

/// A normalised `{json, binary}` back into an item.
fn value_item(index: usize, value: &Value) -> Result<Item, NodeError> {
    let json = value.get("json").cloned().unwrap_or_else(|| json!({}));
    let binary: BTreeMap<String, BinaryRef> = serde_json::from_value(
        value.get("binary").cloned().unwrap_or_else(|| json!({})),
    )
    .map_err(|err| {
        NodeError::fatal(format!(
            "Code node: returned item {index} has a `binary` that is not binary \
                     references ({err}); pass on an input item's `binary` as it is"
        ))
        .with_code("output")
    })?;
    let mut item = Item::new(json);
    item.binary = binary;
    Ok(item)
}
