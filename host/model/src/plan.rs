//! A validated workflow compiled into the form the engine runs: nodes by
//! index, successors per output port, parameter templates pre-split.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::template::Template;
use crate::validate::{NodeCatalog, ValidationError, validate};
use crate::workflow::{NodeType, OnError, Position, RetryPolicy, Settings, Workflow};

/// A node's place in [`Plan::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NodeIndex(pub u32);

impl NodeIndex {
    /// As a `Vec` index.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// A parameter value with its strings already split into templates.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ParamTemplate {
    /// A value with no expression anywhere inside: used as it is.
    Literal(serde_json::Value),
    /// A string with `{{ }}` parts.
    Template(Template),
    /// An array with an expression somewhere inside.
    Array(Vec<ParamTemplate>),
    /// An object with an expression somewhere inside.
    Object(BTreeMap<String, ParamTemplate>),
}

impl ParamTemplate {
    /// Splits every string in `value`. Errors are reported by validation, so
    /// a malformed template here is kept as a literal.
    pub fn compile(value: &serde_json::Value) -> ParamTemplate {
        match value {
            serde_json::Value::String(text) => match Template::parse(text) {
                Ok(Some(template)) => ParamTemplate::Template(template),
                _ => ParamTemplate::Literal(value.clone()),
            },
            serde_json::Value::Array(items) => {
                let parts: Vec<_> = items.iter().map(ParamTemplate::compile).collect();
                if parts.iter().all(ParamTemplate::is_literal) {
                    ParamTemplate::Literal(value.clone())
                } else {
                    ParamTemplate::Array(parts)
                }
            }
            serde_json::Value::Object(fields) => {
                let parts: BTreeMap<_, _> = fields
                    .iter()
                    .map(|(k, v)| (k.clone(), ParamTemplate::compile(v)))
                    .collect();
                if parts.values().all(ParamTemplate::is_literal) {
                    ParamTemplate::Literal(value.clone())
                } else {
                    ParamTemplate::Object(parts)
                }
            }
            other => ParamTemplate::Literal(other.clone()),
        }
    }

    /// Whether it holds no expression.
    pub fn is_literal(&self) -> bool {
        matches!(self, ParamTemplate::Literal(_))
    }
}

/// Where items on one output port go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// The receiving node.
    pub to: NodeIndex,
    /// Its input, for `merge`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Whether this edge goes back to a `loop` node (left out of [`Plan::order`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub closes_loop: bool,
}

/// A node, ready to run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanNode {
    /// Its id in the workflow.
    pub id: String,
    /// What it is.
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Its params, split into templates.
    pub params: ParamTemplate,
    /// Credential slot → stored credential name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// Egress grants, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<String>,
    /// Retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Per-attempt limit in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What a final failure does.
    pub on_error: OnError,
    /// Canvas position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The compensating node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensate: Option<NodeIndex>,
    /// Successors by output port.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Vec<Edge>>,
    /// Predecessors, each once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<NodeIndex>,
}

/// A workflow version compiled once for running.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The workflow's name.
    pub name: String,
    /// Its settings.
    pub settings: Settings,
    /// Every node; [`NodeIndex`] points here.
    pub nodes: Vec<PlanNode>,
    /// The trigger nodes.
    pub triggers: Vec<NodeIndex>,
    /// A topological order of all nodes, edges that close loops left out.
    pub order: Vec<NodeIndex>,
}

impl Plan {
    /// Validates `workflow` and compiles it.
    pub fn compile(
        workflow: &Workflow,
        catalog: &dyn NodeCatalog,
    ) -> Result<Plan, Vec<ValidationError>> {
        let errors = validate(workflow, catalog);
        if !errors.is_empty() {
            return Err(errors);
        }
        let index: HashMap<&str, NodeIndex> = workflow
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), NodeIndex(i as u32)))
            .collect();
        let mut nodes: Vec<PlanNode> = workflow
            .nodes
            .iter()
            .map(|n| PlanNode {
                id: n.id.clone(),
                node_type: n.node_type.clone(),
                params: ParamTemplate::compile(&n.params),
                credentials: n.credentials.clone(),
                egress: n.egress.clone(),
                retry: n.retry.clone(),
                timeout_ms: n.timeout_ms,
                on_error: n.on_error,
                position: n.position,
                compensate: n.compensate.as_deref().and_then(|c| index.get(c).copied()),
                outputs: BTreeMap::new(),
                inputs: Vec::new(),
            })
            .collect();
        for c in &workflow.connections {
            let (Some(&from), Some(&to)) = (index.get(c.from.as_str()), index.get(c.to.as_str()))
            else {
                continue;
            };
            nodes[from.get()]
                .outputs
                .entry(c.port().to_owned())
                .or_default()
                .push(Edge {
                    to,
                    input: c.input.clone(),
                    closes_loop: false,
                });
            if !nodes[to.get()].inputs.contains(&from) {
                nodes[to.get()].inputs.push(from);
            }
        }
        let order = mark_loops_and_order(&mut nodes);
        let triggers = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.node_type.is_trigger())
            .map(|(i, _)| NodeIndex(i as u32))
            .collect();
        Ok(Plan {
            name: workflow.name.clone(),
            settings: workflow.settings.clone(),
            nodes,
            triggers,
            order,
        })
    }

    /// The index of the node with this id.
    pub fn index_of(&self, id: &str) -> Option<NodeIndex> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .map(|i| NodeIndex(i as u32))
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> &PlanNode {
        &self.nodes[index.get()]
    }

    /// Where items on `port` of `node` go.
    pub fn successors(&self, node: NodeIndex, port: &str) -> &[Edge] {
        self.node(node)
            .outputs
            .get(port)
            .map_or(&[][..], Vec::as_slice)
    }
}

/// An edge not yet followed: port, position on the port, target.
type PendingEdge = (String, usize, usize);

/// Marks edges that close a cycle (validation guarantees they reach a loop
/// node's cycle) by depth-first search from triggers first, then returns a
/// topological order of the rest.
fn mark_loops_and_order(nodes: &mut [PlanNode]) -> Vec<NodeIndex> {
    let n = nodes.len();
    let mut state = vec![0u8; n];
    let mut starts: Vec<usize> = (0..n)
        .filter(|&i| nodes[i].node_type.is_trigger())
        .collect();
    starts.extend((0..n).filter(|&i| !nodes[i].node_type.is_trigger()));
    let mut back: Vec<(usize, String, usize)> = Vec::new();
    let mut finished: Vec<usize> = Vec::new();
    for start in starts {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, Vec<PendingEdge>)> = Vec::new();
        let edges_of = |node: &PlanNode| -> Vec<PendingEdge> {
            node.outputs
                .iter()
                .flat_map(|(port, edges)| {
                    edges
                        .iter()
                        .enumerate()
                        .map(move |(k, e)| (port.clone(), k, e.to.get()))
                })
                .rev()
                .collect()
        };
        state[start] = 1;
        stack.push((start, edges_of(&nodes[start])));
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                None => {
                    state[node] = 2;
                    finished.push(node);
                    stack.pop();
                }
                Some((port, k, to)) => match state[to] {
                    0 => {
                        state[to] = 1;
                        let edges = edges_of(&nodes[to]);
                        stack.push((to, edges));
                    }
                    1 => back.push((node, port, k)),
                    _ => {}
                },
            }
        }
    }
    for (node, port, k) in back {
        if let Some(edge) = nodes[node]
            .outputs
            .get_mut(&port)
            .and_then(|e| e.get_mut(k))
        {
            edge.closes_loop = true;
        }
    }
    finished.reverse();
    finished.into_iter().map(|i| NodeIndex(i as u32)).collect()
}
