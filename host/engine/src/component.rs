//! Component calls: a step's request to the runtime, with its grants and
//! credentials by slot, and the runtime's answer as a node result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use n8n_work_expr::ExprContext;
use n8n_work_runtime::{Grant, Item, StateSource, StepError, StepOutcome, StepRequest};
use n8n_work_store::{Claimed, NodeStateWrite, Store, Usage};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{Engine, Failure, NodeResult, Params, catalog, redact};

/// One component node's call: the step, its node and params, what it is
/// given, and the limits it runs under.
pub(crate) struct ComponentCall<'a> {
    pub(crate) step: &'a Claimed,
    pub(crate) node: &'a n8n_work_model::PlanNode,
    /// The tenant's plugins, pinned with the plan.
    pub(crate) plugins: &'a catalog::Plugins,
    pub(crate) params: &'a Params,
    /// Its input items by input name.
    pub(crate) inputs: &'a BTreeMap<String, Vec<Item>>,
    pub(crate) context: ExprContext,
    pub(crate) cancel: &'a CancellationToken,
    /// Milliseconds left of the run's timeout, if it has one.
    pub(crate) run_left: Option<i64>,
}

impl Engine {
    /// Runs a component node, then scrubs its credentials' values from
    /// what it gave back (outputs, log, error) before any of it is stored.
    /// What it changed in its node's state goes to `node_state`, to be
    /// committed with its result.
    pub(crate) async fn run_component(
        &self,
        call: ComponentCall<'_>,
        usage: &mut Usage,
        logs: &mut Vec<Value>,
        node_state: &mut Option<NodeStateWrite>,
    ) -> Result<NodeResult, Failure> {
        let credentials = self.credentials_of(call.step, call.node).await?;
        let redactor = redact::Redactor::new(credentials.values());
        let logged = logs.len();
        let result = self
            .run_component_with(call, usage, logs, node_state, credentials)
            .await;
        logs[logged..]
            .iter_mut()
            .for_each(|log| redactor.value(log));
        match result {
            Ok(NodeResult::Outputs {
                mut outputs,
                response,
                state,
                iterations,
            }) => {
                for item in outputs.values_mut().flatten() {
                    redactor.map(&mut item.json);
                }
                Ok(NodeResult::Outputs {
                    outputs,
                    response,
                    state,
                    iterations,
                })
            }
            Ok(parked) => Ok(parked),
            Err(mut failure) => {
                failure.message = redactor.text(&failure.message);
                Err(failure)
            }
        }
    }

    /// The values of `node`'s credentials, by slot.
    pub(crate) async fn credentials_of(
        &self,
        step: &Claimed,
        node: &n8n_work_model::PlanNode,
    ) -> Result<BTreeMap<String, Value>, Failure> {
        let mut credentials = BTreeMap::new();
        for (slot, name) in &node.credentials {
            match self.inner.credentials.get(&step.key.tenant, name).await {
                Ok(Some(value)) => {
                    credentials.insert(slot.clone(), value);
                }
                Err(e) => {
                    return Err(Failure {
                        message: e,
                        code: Some("credential".into()),
                        retryable: true,
                        retry_after_ms: None,
                        sub_execution: None,
                    });
                }
                Ok(None) => {
                    return Err(Failure::config(format!(
                        "credential `{name}` (slot `{slot}`) is not stored; add it (POST /api/v1/credentials, or with `n8n-work run`, `--credential {name}=JSON`)"
                    )));
                }
            }
        }
        Ok(credentials)
    }

    /// Runs a component node with its credentials' values: once for all
    /// items, or once per item where its params read the item.
    pub(crate) async fn run_component_with(
        &self,
        call: ComponentCall<'_>,
        usage: &mut Usage,
        logs: &mut Vec<Value>,
        node_state: &mut Option<NodeStateWrite>,
        credentials: BTreeMap<String, Value>,
    ) -> Result<NodeResult, Failure> {
        let ComponentCall {
            step,
            node,
            plugins,
            params,
            inputs,
            context,
            cancel,
            run_left,
        } = call;
        let node_type = node.node_type.to_string();
        let Some(component) = self.inner.catalog.component(&node_type, plugins) else {
            let why = plugins.missing.get(&node_type).cloned();
            return Err(Failure::config(why.unwrap_or_else(|| {
                format!("component `{node_type}` is not installed")
            })));
        };
        // A plugin reaches what the workflow grants and its tenant approved.
        let approved = plugins.resolved.get(&node_type).map(|r| &r.approved_egress);
        let grants = node
            .egress
            .iter()
            .filter(|g| approved.is_none_or(|a| a.contains(*g)))
            .map(|g| g.parse::<Grant>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::config(e.to_string()))?;
        let items: Vec<Item> = inputs.values().flatten().cloned().collect();
        // Params that read the item are evaluated, and the node run, per item.
        let batches: Vec<(Option<usize>, Vec<Item>)> = if params.per_item() && items.len() > 1 {
            items
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, item)| (Some(i), vec![item]))
                .collect()
        } else {
            vec![(None, items.clone())]
        };
        let mut limits = self.inner.catalog.runtime().config().default_limits;
        if let Some(ms) = node.timeout_ms {
            limits.timeout = Duration::from_millis(ms);
        }
        // A step never outlives its run's timeout.
        if let Some(left) = run_left {
            limits.timeout = limits
                .timeout
                .min(Duration::from_millis(left.max(1) as u64));
        }
        let mut outputs: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        // What the node changed in its state, over every batch: each batch
        // reads the state as the ones before it left it.
        let mut changes: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        for (index, batch) in batches {
            let mut ctx = context.clone();
            let at = index.unwrap_or(0);
            ctx.json = items
                .get(at)
                .map_or_else(|| json!({}), |i| Value::Object(i.json.clone()));
            ctx.item_index = at;
            let mut evaluated = params.eval(&ctx).map_err(Failure::expression)?;
            if catalog::code_reads_nodes(node) {
                evaluated = catalog::pass_node_outputs(evaluated, &ctx.nodes);
            }
            let request = StepRequest {
                workflow_id: step.workflow_id.clone(),
                execution_id: step.key.execution_id.clone(),
                node_id: step.node_id.clone(),
                idempotency_key: match index {
                    Some(i) => format!("{}/{i}", step.idempotency_key),
                    None => step.idempotency_key.clone(),
                },
                attempt: step.attempt.max(1) as u32,
                params: evaluated,
                items: batch,
                credentials: credentials.clone(),
                grants: grants.clone(),
                state: BTreeMap::new(),
                state_source: Some(Arc::new(StoredState {
                    store: self.inner.store.clone(),
                    tenant: step.key.tenant.clone(),
                    workflow_id: step.workflow_id.clone(),
                    node_id: step.node_id.clone(),
                    changes: changes.clone(),
                })),
                resume: step
                    .state
                    .as_ref()
                    .filter(|_| step.was_waiting)
                    .and_then(|s| serde_json::from_value::<Vec<u8>>(s.clone()).ok()),
                limits: Some(limits),
                binaries: None,
                cancel: cancel.clone(),
            };
            let report = self
                .inner
                .catalog
                .runtime()
                .run_step(&component, request)
                .await;
            usage.duration_us += report.usage.duration_us as i64;
            usage.fuel += report.usage.fuel as i64;
            usage.peak_memory_bytes = usage
                .peak_memory_bytes
                .max(report.usage.peak_memory_bytes as i64);
            usage.egress_requests += report.usage.egress.calls as i64;
            usage.egress_bytes +=
                (report.usage.egress.bytes_sent + report.usage.egress.bytes_received) as i64;
            logs.extend(
                report
                    .logs
                    .iter()
                    .filter_map(|l| serde_json::to_value(l).ok()),
            );
            if report.result.is_ok() {
                changes.extend(report.state_changes);
            }
            match report.result {
                Ok(StepOutcome::Done { outputs: produced }) => {
                    for (port, items) in produced {
                        outputs.entry(port).or_default().extend(items);
                    }
                }
                Ok(StepOutcome::Pending { poll_after, state }) if index.is_none() => {
                    *node_state = state_write(step, changes);
                    return Ok(NodeResult::Park {
                        due_at: Some(self.inner.clock.now() + poll_after.as_millis() as i64),
                        token: false,
                        child: None,
                        state: Some(json!(state)),
                    });
                }
                Ok(StepOutcome::Pending { .. }) => {
                    return Err(Failure::config(
                        "the node answered `pending` for one item; pending is supported when the node gets all items at once".into(),
                    ));
                }
                Err(error) => return Err(step_failure(&error)),
            }
        }
        *node_state = state_write(step, changes);
        Ok(NodeResult::Outputs {
            outputs,
            response: None,
            state: None,
            iterations: BTreeMap::new(),
        })
    }
}

/// What `step` changed in its node's state, if anything.
fn state_write(
    step: &Claimed,
    changes: BTreeMap<String, Option<Vec<u8>>>,
) -> Option<NodeStateWrite> {
    (!changes.is_empty()).then(|| NodeStateWrite {
        workflow_id: step.workflow_id.clone(),
        node_id: step.node_id.clone(),
        changes,
    })
}

/// A node's state as the store has it, with the changes the step's earlier
/// batches made; read only when the node first reads or writes its state.
struct StoredState {
    store: Store,
    tenant: String,
    workflow_id: String,
    node_id: String,
    changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl StateSource for StoredState {
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, Vec<u8>>, String>> {
        Box::pin(async move {
            let mut state = self
                .store
                .node_state(&self.tenant, &self.workflow_id, &self.node_id)
                .await
                .map_err(|e| e.to_string())?;
            for (key, value) in &self.changes {
                match value {
                    Some(value) => state.insert(key.clone(), value.clone()),
                    None => state.remove(key),
                };
            }
            Ok(state)
        })
    }
}

/// A runtime error as a failed attempt: its code and whether to retry.
pub(crate) fn step_failure(error: &StepError) -> Failure {
    let (code, retry_after_ms) = match error {
        StepError::Node(e) => (e.code.clone(), e.retry_after_ms),
        StepError::Limit(_) => (Some("limit".into()), None),
        StepError::Trap { .. } => (Some("trap".into()), None),
        StepError::Contract(_) => (Some("contract".into()), None),
        StepError::Cancelled => (Some("cancelled".into()), None),
    };
    Failure {
        message: error.to_string(),
        code,
        retryable: error.is_retryable(),
        retry_after_ms,
        sub_execution: None,
    }
}
