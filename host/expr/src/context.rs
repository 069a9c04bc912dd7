//! The data an expression can see.

use std::collections::BTreeMap;

use serde_json::Value;

/// Everything an expression can read: `$json`, `$input`, `$("Node")`,
/// `$execution`, `$workflow`, `$vars`, `$now` and `$itemIndex`.
#[derive(Debug, Clone, Default)]
pub struct ExprContext {
    /// `$json`: the current item's JSON.
    pub json: Value,
    /// The node's input items (their JSON), for `$input.all()`, `first()`, `last()`, `item`.
    pub input_items: Vec<Value>,
    /// `$itemIndex`: the current item's index in `input_items`.
    pub item_index: usize,
    /// Output items (their JSON) of nodes that already ran, by node name,
    /// for `$("Name")` and `$node["Name"]`.
    pub nodes: BTreeMap<String, Vec<Value>>,
    /// `$execution.id`.
    pub execution_id: String,
    /// `$workflow.id` and `$workflow.name`.
    pub workflow: WorkflowInfo,
    /// `$vars`: the tenant's variables.
    pub vars: BTreeMap<String, String>,
    /// `$now`, in milliseconds since the Unix epoch (fixed for a run, so retries agree).
    pub now_millis: i64,
}

/// `$workflow`.
#[derive(Debug, Clone, Default)]
pub struct WorkflowInfo {
    /// The workflow's id.
    pub id: String,
    /// The workflow's name.
    pub name: String,
}
