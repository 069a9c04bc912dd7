//! The installed components, loaded once, and the model's view of them:
//! the built-ins and local components every tenant shares, and each
//! tenant's marketplace plugins, resolved to the digest its install pinned.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use n8n_work_model::{
    ComponentSpec, NodeCatalog, NodeType, ParamTemplate, Path, PlanNode, ValidationError, Workflow,
};
use n8n_work_runtime::egress::Scheme;
use n8n_work_runtime::{Grant, LoadedNode, Runtime, RuntimeError};

/// Components by type (`builtin:http`), compiled and ready to instantiate.
#[derive(Clone)]
pub struct Catalog {
    runtime: Arc<Runtime>,
    nodes: HashMap<String, Arc<LoadedNode>>,
    plugins: Option<Arc<dyn PluginSource>>,
    /// Plugin components compiled so far, by the digest they were pinned at.
    compiled: Arc<Mutex<HashMap<String, Arc<LoadedNode>>>>,
}

/// Where a tenant's installed plugins come from: the marketplace, in `serve`.
pub trait PluginSource: Send + Sync {
    /// The plugin installed in `tenant` from `repository` (`NAMESPACE/NAME`)
    /// at `version`, its component checked against the digest the install
    /// pinned; `Ok(None)` when that version is not installed there. An
    /// error says why the installed plugin cannot be used (a tampered
    /// layer, a signature the tenant no longer trusts).
    fn installed<'a>(
        &'a self,
        tenant: &'a str,
        repository: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<Option<InstalledComponent>, String>>;

    /// Every plugin installed in `tenant`: (repository, version).
    fn list<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Result<Vec<(String, String)>, String>>;
}

/// An installed plugin's component, as a [`PluginSource`] hands it over.
#[derive(Debug, Clone)]
pub struct InstalledComponent {
    /// The manifest digest the install pinned.
    pub digest: String,
    /// The component.
    pub wasm: Vec<u8>,
    /// The egress origins the tenant approved for it.
    pub approved_egress: BTreeSet<String>,
}

/// A plugin node type resolved in a tenant: pinned and compiled.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub(crate) digest: String,
    pub(crate) node: Arc<LoadedNode>,
    pub(crate) approved_egress: BTreeSet<String>,
}

/// A workflow's plugin node types, resolved in its tenant.
#[derive(Clone, Default)]
pub(crate) struct Plugins {
    pub(crate) resolved: HashMap<String, Resolved>,
    /// Why a plugin type did not resolve, by type.
    pub(crate) missing: HashMap<String, String>,
}

impl Plugins {
    /// The pinned digest of each plugin type, for the run's record.
    pub(crate) fn pins(&self) -> BTreeMap<String, String> {
        self.resolved
            .iter()
            .map(|(t, r)| (t.clone(), r.digest.clone()))
            .collect()
    }
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
            plugins: None,
            compiled: Arc::default(),
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

    /// Resolves `NAMESPACE/NAME@VERSION` node types through `source`: a
    /// tenant's installed plugins.
    pub fn with_plugins(mut self, source: Arc<dyn PluginSource>) -> Self {
        self.plugins = Some(source);
        self
    }

    /// Resolves the plugin node types `workflow` names in `tenant`, each to
    /// the digest its install pinned, compiling each digest once. A type
    /// served locally (`--node`) is not looked up.
    pub(crate) async fn resolve(&self, tenant: &str, workflow: &Workflow) -> Plugins {
        let mut plugins = Plugins::default();
        for node in &workflow.nodes {
            let NodeType::Plugin {
                namespace,
                name,
                version,
            } = &node.node_type
            else {
                continue;
            };
            let node_type = node.node_type.to_string();
            if self.nodes.contains_key(&node_type)
                || plugins.resolved.contains_key(&node_type)
                || plugins.missing.contains_key(&node_type)
            {
                continue;
            }
            let repository = format!("{namespace}/{name}");
            match self.resolve_one(tenant, &repository, version).await {
                Ok(resolved) => {
                    plugins.resolved.insert(node_type, resolved);
                }
                Err(why) => {
                    plugins.missing.insert(node_type, why);
                }
            }
        }
        plugins
    }

    async fn resolve_one(
        &self,
        tenant: &str,
        repository: &str,
        version: &str,
    ) -> Result<Resolved, String> {
        let Some(source) = &self.plugins else {
            return Err(format!(
                "no plugin `{repository}@{version}` here: plugins are installed from the marketplace of `n8n-work serve` (`n8n-work plugin install {repository}:{version}`), or served locally with `--node {repository}@{version}=FILE.wasm`"
            ));
        };
        let installed = source
            .installed(tenant, repository, version)
            .await
            .map_err(|e| format!("plugin `{repository}@{version}` cannot be used: {e}"))?
            .ok_or_else(|| {
                format!(
                    "plugin `{repository}` version `{version}` is not installed in tenant `{tenant}`; install it with `n8n-work plugin install {repository}:{version}` (an admin approves it), or see `n8n-work plugin list`"
                )
            })?;
        let cached = self
            .compiled
            .lock()
            .ok()
            .and_then(|c| c.get(&installed.digest).cloned());
        let node = match cached {
            Some(node) => node,
            None => {
                let node = Arc::new(self.runtime.load(&installed.wasm).await.map_err(|e| {
                    format!(
                        "plugin `{repository}@{version}` ({}) does not load: {e}",
                        installed.digest
                    )
                })?);
                if let Ok(mut compiled) = self.compiled.lock() {
                    compiled.insert(installed.digest.clone(), Arc::clone(&node));
                }
                node
            }
        };
        if node.spec().version != version {
            return Err(format!(
                "plugin `{repository}` installed as version `{version}` describes itself as version `{}`; publish it with a tag that matches its spec",
                node.spec().version
            ));
        }
        Ok(Resolved {
            digest: installed.digest,
            node,
            approved_egress: installed.approved_egress,
        })
    }

    /// The plugins installed in `tenant` that load, as node types
    /// (`NAMESPACE/NAME@VERSION`) with their components; one that does not
    /// load is left out and logged.
    pub async fn tenant_plugins(&self, tenant: &str) -> Vec<(String, Arc<LoadedNode>)> {
        let Some(source) = &self.plugins else {
            return Vec::new();
        };
        let listed = match source.list(tenant).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "cannot list the tenant's plugins");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (repository, version) in listed {
            match self.resolve_one(tenant, &repository, &version).await {
                Ok(resolved) => out.push((format!("{repository}@{version}"), resolved.node)),
                Err(e) => tracing::warn!(tenant, error = %e, "an installed plugin does not load"),
            }
        }
        out
    }

    /// The catalog as `tenant`'s workflow sees it: the shared components
    /// and the plugins `plugins` resolved.
    pub(crate) fn view<'a>(&'a self, plugins: &'a Plugins) -> TenantCatalog<'a> {
        TenantCatalog {
            catalog: self,
            plugins,
        }
    }

    /// The component for `node_type` in a workflow whose plugins are
    /// `plugins`.
    pub(crate) fn component(&self, node_type: &str, plugins: &Plugins) -> Option<Arc<LoadedNode>> {
        self.nodes
            .get(node_type)
            .or_else(|| plugins.resolved.get(node_type).map(|r| &r.node))
            .cloned()
    }
}

/// The catalog one workflow sees: shared components and its tenant's plugins.
pub(crate) struct TenantCatalog<'a> {
    catalog: &'a Catalog,
    plugins: &'a Plugins,
}

impl TenantCatalog<'_> {
    /// The problems of plugin nodes that validation alone does not see:
    /// grants beyond what the tenant approved for the plugin.
    pub(crate) fn plugin_problems(&self, workflow: &Workflow) -> Vec<ValidationError> {
        let mut problems = Vec::new();
        for (i, node) in workflow.nodes.iter().enumerate() {
            let Some(resolved) = self.plugins.resolved.get(&node.node_type.to_string()) else {
                continue;
            };
            for (g, grant) in node.egress.iter().enumerate() {
                if !resolved.approved_egress.contains(grant) {
                    let approved: Vec<&str> = resolved
                        .approved_egress
                        .iter()
                        .map(String::as_str)
                        .collect();
                    let path = Path::root().key("nodes").index(i).key("egress").index(g);
                    problems.push(ValidationError {
                        location: workflow.locate(&path),
                        path: path.to_string(),
                        message: format!(
                            "node `{}`: the tenant approved plugin `{}` to reach {} only, not `{grant}`; remove the grant, or have an admin approve it (`n8n-work plugin approve ID --egress {grant}`)",
                            node.id,
                            node.node_type,
                            if approved.is_empty() { "nothing".to_owned() } else { approved.join(", ") }
                        ),
                    });
                }
            }
        }
        problems
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

impl NodeCatalog for TenantCatalog<'_> {
    fn spec(&self, node_type: &str) -> Option<ComponentSpec> {
        match self.catalog.nodes.get(node_type) {
            Some(node) => Some(component_spec(node)),
            None => self
                .plugins
                .resolved
                .get(node_type)
                .map(|r| component_spec(&r.node)),
        }
    }

    fn why_missing(&self, node_type: &str) -> Option<String> {
        self.plugins.missing.get(node_type).cloned()
    }

    fn parse_grant(&self, grant: &str) -> Result<String, String> {
        self.catalog.parse_grant(grant)
    }

    fn grants_allow(&self, grants: &[&str], scheme: &str, host: &str, port: u16) -> bool {
        self.catalog.grants_allow(grants, scheme, host, port)
    }
}

fn component_spec(node: &LoadedNode) -> ComponentSpec {
    let spec = node.spec();
    ComponentSpec {
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
    }
}

impl NodeCatalog for Catalog {
    fn spec(&self, node_type: &str) -> Option<ComponentSpec> {
        self.nodes.get(node_type).map(|n| component_spec(n))
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
