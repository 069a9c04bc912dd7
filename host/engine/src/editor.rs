//! The editor's helpers: an expression's value against a node's input, one
//! node run on pinned input. Nothing here is stored.

use std::collections::BTreeMap;

use n8n_work_expr::ExprContext;
use n8n_work_runtime::Item;
use n8n_work_store::{Claimed, Outcome, StepKey, StepKind, WorkflowVersion};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineError, NodeRun, preview};

impl Engine {
    /// Evaluates `template` (`{{ $json.name }}`) as the editor previews it:
    /// against the input of node `node`'s latest step in run `execution`,
    /// when both are given, and against nothing otherwise.
    pub async fn preview(
        &self,
        tenant: &str,
        template: &str,
        at: Option<(&str, &str)>,
    ) -> Result<Value, EngineError> {
        let parsed = n8n_work_expr::Template::parse(template)
            .map_err(|e| EngineError::BadRequest(format!("the template: {e}")))?;
        let mut context = ExprContext {
            now_millis: self.inner.clock.now(),
            ..ExprContext::default()
        };
        if let Some((execution, node)) = at {
            let store = &self.inner.store;
            let row = store.execution(tenant, execution).await?;
            let step = store
                .steps(tenant, execution)
                .await?
                .into_iter()
                .filter(|s| s.node_id == node)
                .max_by_key(|s| s.seq)
                .ok_or_else(|| {
                    EngineError::NotFound(format!(
                        "node `{node}` did not run in run `{execution}`; pick a node that ran"
                    ))
                })?;
            let inputs: BTreeMap<String, Vec<Item>> =
                serde_json::from_value(store.payload(tenant, execution, step.seq).await?.input)
                    .unwrap_or_default();
            context.input_items = inputs
                .into_values()
                .flatten()
                .map(|i| Value::Object(i.json))
                .collect();
            context.json = context
                .input_items
                .first()
                .cloned()
                .unwrap_or_else(|| json!({}));
            context.nodes = self.node_outputs(tenant, execution).await;
            context.execution_id = execution.to_owned();
            context.workflow.id = row.workflow_id;
        }
        if let Ok(vars) = self.inner.store.variables(tenant).await {
            context.vars = vars
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect();
        }
        // On the preview threads, under their deadline (preview.rs).
        preview::evaluate(parsed, context)
            .await
            .map_err(|e| EngineError::Expression(e.to_string()))
    }

    /// Runs node `node_id` of `version` once on `items`, as the editor's
    /// "run this node" does: nothing is stored, nothing after it runs, and
    /// a failure is not retried.
    pub async fn run_node(
        &self,
        tenant: &str,
        version: &WorkflowVersion,
        node_id: &str,
        items: Vec<Item>,
    ) -> Result<NodeRun, EngineError> {
        let compiled = self
            .compiled(tenant, &version.workflow_id, version.version)
            .await?;
        if compiled.plan.index_of(node_id).is_none() {
            return Err(EngineError::NotFound(format!(
                "workflow `{}` has no node `{node_id}`",
                compiled.plan.name
            )));
        }
        let now = self.inner.clock.now();
        let step = Claimed {
            key: StepKey {
                tenant: tenant.to_owned(),
                execution_id: format!("pinned-{}", n8n_work_store::new_id()),
                seq: 0,
            },
            workflow_id: version.workflow_id.clone(),
            version: version.version,
            run_started_at: now,
            node_id: node_id.to_owned(),
            iteration: 0,
            kind: StepKind::Node,
            // As the last attempt, so a failure comes back rather than a retry.
            attempt: i64::MAX,
            idempotency_key: n8n_work_store::new_id(),
            input: json!({ "main": items }),
            state: None,
            resume: None,
            was_waiting: false,
        };
        let (outcome, usage, logs) = self
            .execute_with(&step, &CancellationToken::new(), None)
            .await;
        let (outputs, error) = match outcome {
            Outcome::Done { outputs, .. } => (outputs, None),
            Outcome::Fail { error, .. } | Outcome::Retry { error, .. } => (json!({}), Some(error)),
            Outcome::Park { .. } => (
                json!({}),
                Some(
                    json!({ "message": format!("node `{node_id}` waits (a Wait, a pending call or a sub-workflow); run the workflow to see what follows") }),
                ),
            ),
            Outcome::Cancelled => (json!({}), Some(json!({ "message": "cancelled" }))),
        };
        Ok(NodeRun {
            outputs,
            error,
            logs,
            usage,
        })
    }
}
