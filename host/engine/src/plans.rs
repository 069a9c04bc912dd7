//! Compiled plans, cached per workflow version, with their params
//! prepared for evaluation.

use std::sync::Arc;

use n8n_work_expr::WorkflowInfo;
use n8n_work_model::{ControlKind, Plan, Workflow};

use crate::{Engine, EngineError, Params, catalog};

/// A plan with its params prepared for evaluation.
pub(crate) struct Compiled {
    pub(crate) plan: Plan,
    /// The tenant's plugins its nodes name, pinned when it was compiled.
    pub(crate) plugins: catalog::Plugins,
    pub(crate) params: Vec<Params>,
    /// Per node, how many inputs it waits for (Merge: its distinct inputs).
    pub(crate) inputs_expected: Vec<u32>,
    pub(crate) info: WorkflowInfo,
}

impl Engine {
    /// The plan of `workflow_id` at `version`, compiled once per process.
    pub(crate) async fn compiled(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i64,
    ) -> Result<Arc<Compiled>, EngineError> {
        let key = (tenant.to_owned(), workflow_id.to_owned(), version);
        if let Some(found) = self
            .inner
            .plans
            .lock()
            .ok()
            .and_then(|p| p.get(&key).cloned())
        {
            return Ok(found);
        }
        let stored = self
            .inner
            .store
            .workflow_version(tenant, workflow_id, version)
            .await?;
        let workflow = Workflow::from_json(&stored.definition.to_string()).map_err(|e| {
            EngineError::Corrupt(format!(
                "stored workflow `{workflow_id}` is unreadable: {e}"
            ))
        })?;
        let plugins = self.inner.catalog.resolve(tenant, &workflow).await;
        let plan = Plan::compile(&workflow, &self.inner.catalog.view(&plugins))
            .map_err(EngineError::Invalid)?;
        let params = plan
            .nodes
            .iter()
            .map(|n| Params::compile(&n.params))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let inputs_expected = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                if node.node_type.control() != Some(ControlKind::Merge) {
                    return 1;
                }
                let mut names: Vec<String> = plan
                    .nodes
                    .iter()
                    .flat_map(|n| n.outputs.values().flatten())
                    .filter(|e| e.to.get() == i)
                    .map(|e| e.input.clone().unwrap_or_else(|| "main".into()))
                    .collect();
                names.sort();
                names.dedup();
                names.len().max(1) as u32
            })
            .collect();
        let compiled = Arc::new(Compiled {
            plugins,
            info: WorkflowInfo {
                id: workflow_id.to_owned(),
                name: plan.name.clone(),
            },
            plan,
            params,
            inputs_expected,
        });
        if let Ok(mut plans) = self.inner.plans.lock() {
            plans.insert(key, compiled.clone());
        }
        Ok(compiled)
    }
}
