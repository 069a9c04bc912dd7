//! Workflow administration: deploy and update versions, validate them
//! against the catalog, pin the plugins they name.

use std::collections::BTreeMap;

use n8n_work_model::{ControlKind, NodeCatalog, NodeType, Plan, ValidationError, Workflow};
use n8n_work_store::WorkflowVersion;

use crate::{Catalog, Engine, EngineError, Schedule};

impl Engine {
    /// Validates `workflow` and stores it as a new version (or returns the
    /// latest, when it is unchanged), under its name.
    pub async fn deploy(
        &self,
        tenant: &str,
        workflow: &Workflow,
    ) -> Result<WorkflowVersion, EngineError> {
        self.put(tenant, None, workflow).await
    }

    /// Validates `workflow` and adds it as a new version of workflow `id`
    /// (which it may rename).
    pub async fn update(
        &self,
        tenant: &str,
        id: &str,
        workflow: &Workflow,
    ) -> Result<WorkflowVersion, EngineError> {
        self.put(tenant, Some(id), workflow).await
    }

    pub(crate) async fn put(
        &self,
        tenant: &str,
        id: Option<&str>,
        workflow: &Workflow,
    ) -> Result<WorkflowVersion, EngineError> {
        self.validate(tenant, workflow)
            .await
            .map_err(EngineError::Invalid)?;
        let definition = serde_json::to_value(workflow)
            .map_err(|e| EngineError::Corrupt(format!("the workflow cannot be stored: {e}")))?;
        Ok(self
            .inner
            .store
            .put_workflow(
                tenant,
                id,
                &workflow.name,
                definition,
                self.inner.clock.now(),
            )
            .await?)
    }

    /// The problems that keep `workflow` from running in `tenant`: its
    /// plugin nodes resolve to what the tenant installed, within the egress
    /// the tenant approved.
    pub async fn validate(
        &self,
        tenant: &str,
        workflow: &Workflow,
    ) -> Result<(), Vec<ValidationError>> {
        let plugins = self.inner.catalog.resolve(tenant, workflow).await;
        let view = self.inner.catalog.view(&plugins);
        let mut problems = problems(workflow, &view).unwrap_or_default();
        problems.extend(view.plugin_problems(workflow));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Compiles version `version` of workflow `workflow_id`, resolving its
    /// plugin nodes in `tenant` to the digests their installs pinned (once
    /// per version and process: later upgrades do not change a compiled
    /// version under its running triggers). Returns the pins by node type;
    /// an error names a plugin that is not installed or cannot be used.
    pub async fn pin_plugins(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i64,
    ) -> Result<BTreeMap<String, String>, EngineError> {
        let compiled = self.compiled(tenant, workflow_id, version).await?;
        Ok(compiled.plugins.pins())
    }

    /// Forgets `tenant`'s compiled plans that name plugins, so the next
    /// step resolves them again: after a plugin is removed, or approved.
    pub fn plugins_changed(&self, tenant: &str) {
        if let Ok(mut plans) = self.inner.plans.lock() {
            plans.retain(|(t, _, _), compiled| {
                t != tenant
                    || (compiled.plugins.resolved.is_empty() && compiled.plugins.missing.is_empty())
            });
        }
    }
}

/// The problems that keep `workflow` from running with `catalog`: the
/// model's checks, and the params the engine reads itself (schedules).
pub fn validate(workflow: &Workflow, catalog: &Catalog) -> Result<(), Vec<ValidationError>> {
    problems(workflow, catalog).map_or(Ok(()), Err)
}

/// What keeps `workflow` from compiling over `catalog`, if anything.
pub(crate) fn problems(
    workflow: &Workflow,
    catalog: &dyn NodeCatalog,
) -> Option<Vec<ValidationError>> {
    let mut problems = Plan::compile(workflow, catalog).err().unwrap_or_default();
    for (i, node) in workflow.nodes.iter().enumerate() {
        if node.node_type == NodeType::Control(ControlKind::Schedule)
            && let Err(message) = Schedule::from_params(&node.params)
        {
            let path = n8n_work_model::Path::root()
                .key("nodes")
                .index(i)
                .key("params");
            problems.push(ValidationError {
                location: workflow.locate(&path),
                path: format!("nodes[{i}].params"),
                message,
            });
        }
    }
    (!problems.is_empty()).then_some(problems)
}
