//! The installed components, loaded once, and the model's view of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use n8n_work_model::{ComponentSpec, NodeCatalog, NodeType, ParamTemplate, PlanNode};
use n8n_work_runtime::egress::Scheme;
use n8n_work_runtime::{Grant, LoadedNode, Runtime, RuntimeError};

/// Components by type (`builtin:http`), compiled and ready to instantiate.
#[derive(Clone)]
pub struct Catalog {
    runtime: Arc<Runtime>,
    nodes: HashMap<String, Arc<LoadedNode>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Loads the built-in components (and the test node, with the
    /// `test-guest` feature).
    pub async fn builtins(runtime: Arc<Runtime>) -> Result<Catalog, RuntimeError> {
        let mut catalog = Catalog {
            runtime,
            nodes: HashMap::new(),
        };
        for (name, wasm) in n8n_work_builtins::BUILTINS {
            catalog.add(&format!("builtin:{name}"), wasm).await?;
        }
        #[cfg(feature = "test-guest")]
        catalog
            .add("builtin:test-guest", n8n_work_builtins::TEST_GUEST)
            .await?;
        Ok(catalog)
    }

    /// Adds a component under `node_type`.
    pub async fn add(&mut self, node_type: &str, wasm: &[u8]) -> Result<(), RuntimeError> {
        let node = self.runtime.load(wasm).await?;
        self.nodes.insert(node_type.to_owned(), Arc::new(node));
        Ok(())
    }

    /// The component for `node_type`.
    pub fn get(&self, node_type: &str) -> Option<&Arc<LoadedNode>> {
        self.nodes.get(node_type)
    }

    /// Every component type, in name order.
    pub fn node_types(&self) -> Vec<(&str, &Arc<LoadedNode>)> {
        let mut types: Vec<_> = self.nodes.iter().map(|(t, n)| (t.as_str(), n)).collect();
        types.sort_by_key(|(t, _)| *t);
        types
    }

    /// The runtime the components run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}

/// The Code node reads earlier steps itself (`$('Name')`, `$node`): the
/// engine passes their output items in its `nodes` parameter.
const CODE_NODE: &str = "code";

/// Whether `node` is a Code node whose snippet reads earlier steps.
pub(crate) fn code_reads_nodes(node: &PlanNode) -> bool {
    fn mentions(template: &ParamTemplate) -> bool {
        match template {
            ParamTemplate::Literal(value) => {
                let text = value.to_string();
                text.contains("$(") || text.contains("$node")
            }
            ParamTemplate::Template(t) => t.parts().iter().any(|p| match p {
                n8n_work_model::Part::Literal(s) | n8n_work_model::Part::Expr(s) => {
                    s.contains("$(") || s.contains("$node")
                }
            }),
            ParamTemplate::Array(items) => items.iter().any(mentions),
            ParamTemplate::Object(fields) => fields.values().any(mentions),
        }
    }
    matches!(&node.node_type, NodeType::Builtin(name) if name == CODE_NODE)
        && mentions(&node.params)
}

/// Adds earlier nodes' output items to a Code node's evaluated params.
pub(crate) fn pass_node_outputs(
    params: serde_json::Value,
    nodes: &BTreeMap<String, Vec<serde_json::Value>>,
) -> serde_json::Value {
    match params {
        serde_json::Value::Object(mut fields) => {
            fields.insert(
                "nodes".to_owned(),
                serde_json::to_value(nodes).unwrap_or_default(),
            );
            serde_json::Value::Object(fields)
        }
        other => other,
    }
}

impl NodeCatalog for Catalog {
    fn spec(&self, node_type: &str) -> Option<ComponentSpec> {
        let spec = self.nodes.get(node_type)?.spec();
        Some(ComponentSpec {
            outputs: spec.outputs.iter().map(|p| p.name.clone()).collect(),
            credentials: spec
                .credentials
                .iter()
                .map(|c| (c.name.clone(), c.required))
                .collect(),
            egress: spec
                .egress
                .iter()
                .map(|e| (e.origin.clone(), e.reason.clone()))
                .collect(),
        })
    }

    fn parse_grant(&self, grant: &str) -> Result<String, String> {
        grant
            .parse::<Grant>()
            .map(|g| g.to_string())
            .map_err(|e| e.to_string())
    }

    fn grants_allow(&self, grants: &[&str], scheme: &str, host: &str, port: u16) -> bool {
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return false,
        };
        grants
            .iter()
            .filter_map(|g| g.parse::<Grant>().ok())
            .any(|g| g.allows(scheme, host, port))
    }
}
