//! One step's decision: run its node (control natively, component in the
//! runtime) and turn what it did into an outcome: outputs, park, retry or
//! failure.

use std::collections::BTreeMap;

use n8n_work_expr::{ExprContext, ExprError};
use n8n_work_model::{ControlKind, NodeType, OnError};
use n8n_work_runtime::Item;
use n8n_work_store::{
    Claimed, Millis, NewExecution, NewStep, Outcome, StepKey, StepKind, StoreError, Usage,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{Compiled, Engine, EngineError, catalog, component, control, inline};

/// A failed attempt, as the engine sees it.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: Option<String>,
    pub(crate) retryable: bool,
    pub(crate) retry_after_ms: Option<u64>,
    /// The sub-workflow run whose failure this is.
    pub(crate) sub_execution: Option<String>,
}

impl Failure {
    /// A failure of the node's configuration: not retried.
    pub(crate) fn config(message: String) -> Failure {
        Failure {
            message,
            code: Some("parameters".into()),
            retryable: false,
            retry_after_ms: None,
            sub_execution: None,
        }
    }

    // Taken by value to serve as a `map_err` adapter.
    #[allow(clippy::needless_pass_by_value)]
    pub(crate) fn expression(error: ExprError) -> Failure {
        Failure {
            message: error.to_string(),
            code: Some("expression".into()),
            retryable: false,
            retry_after_ms: None,
            sub_execution: None,
        }
    }

    /// The failure as a run's or step's `error` records it.
    pub(crate) fn to_json(&self, node: &str) -> Value {
        let mut error = json!({ "message": self.message, "code": self.code, "node": node });
        if let Some(run) = &self.sub_execution {
            error["subExecution"] = json!(run);
        }
        error
    }
}

/// What a node did, before the engine turns it into an [`Outcome`].
pub(crate) enum NodeResult {
    Outputs {
        outputs: BTreeMap<String, Vec<Item>>,
        response: Option<Value>,
        state: Option<Value>,
        /// Ports whose successors run in another loop iteration.
        iterations: BTreeMap<String, i64>,
    },
    /// Done, having started a sub-workflow that runs on its own.
    Started {
        /// The sub-workflow (name or id) and its items.
        child: (String, Vec<Item>),
        outputs: BTreeMap<String, Vec<Item>>,
    },
    Park {
        due_at: Option<Millis>,
        /// Whether a resume call may wake it.
        token: bool,
        /// A sub-workflow to run: its name and items.
        child: Option<(String, Vec<Item>)>,
        /// What a pending component keeps until it is polled again.
        state: Option<Value>,
    },
}

impl Engine {
    /// Runs one claimed step and decides its outcome.
    /// Runs one claimed step and decides its outcome; a run held in
    /// `memory` (one running here) gives what expressions read of earlier
    /// steps, the store otherwise.
    pub(crate) async fn execute_with(
        &self,
        step: &Claimed,
        cancel: &CancellationToken,
        memory: Option<&inline::InlineRun>,
    ) -> (Outcome, Usage, Vec<Value>) {
        let tenant = &step.key.tenant;
        let compiled = match self.compiled(tenant, &step.workflow_id, step.version).await {
            Ok(c) => c,
            Err(e) => {
                let failure = Failure::config(format!("the workflow version cannot run: {e}"));
                return (
                    self.fail(step, None, &failure).await,
                    Usage::default(),
                    vec![],
                );
            }
        };
        let Some(index) = compiled.plan.index_of(&step.node_id) else {
            let failure = Failure::config(format!(
                "node `{}` is not in this workflow version",
                step.node_id
            ));
            return (
                self.fail(step, Some(&compiled), &failure).await,
                Usage::default(),
                vec![],
            );
        };
        let node = compiled.plan.node(index);
        // The run's own deadline: past it, the next step fails the run.
        let run_left = compiled
            .plan
            .settings
            .run_timeout_ms
            .map(|limit| step.run_started_at + limit as i64 - self.inner.clock.now());
        if run_left.is_some_and(|left| left <= 0) && step.kind == StepKind::Node {
            let failure = Failure {
                message: format!(
                    "the run passed its timeout of {} ms (settings.runTimeoutMs)",
                    compiled.plan.settings.run_timeout_ms.unwrap_or_default()
                ),
                code: Some("run-timeout".into()),
                retryable: false,
                retry_after_ms: None,
                sub_execution: None,
            };
            return (
                self.fail(step, Some(&compiled), &failure).await,
                Usage::default(),
                vec![],
            );
        }
        let inputs: BTreeMap<String, Vec<Item>> =
            serde_json::from_value(step.input.clone()).unwrap_or_default();
        let params = &compiled.params[index.get()];
        let mut context = ExprContext {
            execution_id: step.key.execution_id.clone(),
            workflow: compiled.info.clone(),
            input_items: inputs
                .values()
                .flatten()
                .map(|i| Value::Object(i.json.clone()))
                .collect(),
            now_millis: self.inner.clock.now(),
            ..ExprContext::default()
        };
        if params.reads_nodes() || catalog::code_reads_nodes(node) {
            context.nodes = match memory {
                Some(run) => by_node(run.outputs()),
                None => self.node_outputs(tenant, &step.key.execution_id).await,
            };
        }
        if params.reads_vars()
            && let Ok(vars) = self.inner.store.variables(tenant).await
        {
            context.vars = vars
                .into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect();
        }
        let mut usage = Usage::default();
        let mut logs = Vec::new();
        let mut node_state = None;
        let result = match &node.node_type {
            NodeType::Control(kind) => {
                let loop_state = if *kind == ControlKind::Loop {
                    match memory {
                        Some(run) => run.latest_state(&step.node_id),
                        None => self
                            .inner
                            .store
                            .latest_state(tenant, &step.key.execution_id, &step.node_id)
                            .await
                            .ok()
                            .flatten(),
                    }
                } else {
                    None
                };
                control::run(&control::Input {
                    kind: *kind,
                    params,
                    inputs: inputs.clone(),
                    context,
                    now: self.inner.clock.now(),
                    iteration: step.iteration,
                    resume: step.resume.clone(),
                    was_waiting: step.was_waiting,
                    loop_state,
                })
            }
            _ => {
                let call = component::ComponentCall {
                    step,
                    node,
                    plugins: &compiled.plugins,
                    params,
                    inputs: &inputs,
                    context,
                    cancel,
                    run_left,
                };
                self.run_component(call, &mut usage, &mut logs, &mut node_state)
                    .await
            }
        };
        let outcome = match result {
            Ok(NodeResult::Outputs {
                outputs,
                response,
                state,
                iterations,
            }) => {
                let mut done = self.done(
                    step,
                    &compiled,
                    index,
                    outputs,
                    response,
                    state,
                    &iterations,
                );
                // The node's state lands with its result, and only then: a
                // failed attempt leaves none of its writes.
                if let Outcome::Done { node_state: s, .. } = &mut done {
                    *s = node_state;
                }
                done
            }
            Ok(NodeResult::Started {
                child: (name, items),
                outputs,
            }) => match self.start_child(step, &name, items).await {
                Ok(()) => self.done(
                    step,
                    &compiled,
                    index,
                    outputs,
                    None,
                    None,
                    &BTreeMap::new(),
                ),
                Err(e) => {
                    let failure = Failure::config(e.to_string());
                    return (
                        self.fail(step, Some(&compiled), &failure).await,
                        usage,
                        logs,
                    );
                }
            },
            Ok(NodeResult::Park {
                due_at,
                token,
                child,
                state,
            }) => {
                let child = match child {
                    Some((name, items)) => {
                        match self.child_run(tenant, &name, items, &step.key).await {
                            Ok(run) => Some(run),
                            Err(e) => {
                                let failure = Failure::config(e.to_string());
                                return (
                                    self.fail(step, Some(&compiled), &failure).await,
                                    usage,
                                    logs,
                                );
                            }
                        }
                    }
                    None => None,
                };
                Outcome::Park {
                    due_at,
                    token: token.then(n8n_work_store::new_token),
                    state,
                    child,
                    node_state,
                }
            }
            Err(_) if cancel.is_cancelled() => Outcome::Cancelled,
            Err(failure) => {
                let on_error = node.on_error;
                let max_attempts = node.retry.as_ref().map_or(1, |r| r.max_attempts.max(1));
                if failure.retryable
                    && step.attempt < i64::from(max_attempts)
                    && step.kind == StepKind::Node
                {
                    let delay =
                        retry_delay(node.retry.as_ref(), step.attempt, failure.retry_after_ms);
                    Outcome::Retry {
                        due_at: self.inner.clock.now() + delay,
                        error: failure.to_json(&step.node_id),
                    }
                } else if step.kind == StepKind::Compensation {
                    self.fail(step, Some(&compiled), &failure).await
                } else {
                    match on_error {
                        OnError::Stop => self.fail(step, Some(&compiled), &failure).await,
                        OnError::Continue => {
                            let items = inputs.values().flatten().cloned().collect();
                            self.done(
                                step,
                                &compiled,
                                index,
                                BTreeMap::from([("main".into(), items)]),
                                None,
                                None,
                                &BTreeMap::new(),
                            )
                        }
                        OnError::ErrorOutput => {
                            let error = failure.to_json(&step.node_id);
                            let mut items: Vec<Item> = inputs.values().flatten().cloned().collect();
                            if items.is_empty() {
                                items.push(Item::default());
                            }
                            for item in &mut items {
                                item.json.insert("error".into(), error.clone());
                            }
                            self.done(
                                step,
                                &compiled,
                                index,
                                BTreeMap::from([("error".into(), items)]),
                                None,
                                None,
                                &BTreeMap::new(),
                            )
                        }
                    }
                }
            }
        };
        (outcome, usage, logs)
    }

    pub(crate) async fn node_outputs(
        &self,
        tenant: &str,
        execution: &str,
    ) -> BTreeMap<String, Vec<Value>> {
        by_node(
            self.inner
                .store
                .outputs(tenant, execution)
                .await
                .unwrap_or_default(),
        )
    }

    pub(crate) async fn child_run(
        &self,
        tenant: &str,
        name: &str,
        items: Vec<Item>,
        parent: &StepKey,
    ) -> Result<NewExecution, EngineError> {
        let version = self.workflow_named(tenant, name).await?;
        self.new_run(tenant, &version, None, items, None, Some(parent.clone()))
            .await
    }

    /// The version of workflow `name` (a name or an id) a sub-workflow
    /// step runs: its active one, else its latest.
    async fn workflow_named(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<n8n_work_store::WorkflowVersion, EngineError> {
        self.inner
            .store
            .workflow_by_name(tenant, name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => EngineError::NotFound(format!(
                    "workflow `{name}` is not stored (by that name or id); deploy it first (with `n8n-work run`, pass it with `--with FILE`)"
                )),
                other => other.into(),
            })
    }

    /// Starts sub-workflow `name` (a name or an id) on `items`, to run on
    /// its own. Its id comes from the step's key, so a step run again after
    /// a crash does not start it twice.
    async fn start_child(
        &self,
        step: &Claimed,
        name: &str,
        items: Vec<Item>,
    ) -> Result<(), EngineError> {
        let tenant = &step.key.tenant;
        let id = format!("{}-sub-{}", step.key.execution_id, step.key.seq);
        if self.inner.store.execution(tenant, &id).await.is_ok() {
            return Ok(());
        }
        let version = self.workflow_named(tenant, name).await?;
        let run = self
            .new_run(tenant, &version, None, items, Some(id.clone()), None)
            .await?;
        // Into the queue, for the workers: the step goes on at once.
        let workflow_id = run.workflow_id.clone();
        self.inner.store.start(run, self.inner.clock.now()).await?;
        self.inner.wake.notify_one();
        self.changed(tenant, &workflow_id, &id);
        Ok(())
    }

    /// A step that produced outputs: its successors by port (each in its
    /// iteration), or, for a compensation, nothing more.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn done(
        &self,
        step: &Claimed,
        compiled: &Compiled,
        index: n8n_work_model::NodeIndex,
        outputs: BTreeMap<String, Vec<Item>>,
        response: Option<Value>,
        state: Option<Value>,
        iterations: &BTreeMap<String, i64>,
    ) -> Outcome {
        let plan = &compiled.plan;
        let mut successors = Vec::new();
        if step.kind == StepKind::Node {
            for (port, items) in &outputs {
                if items.is_empty() {
                    continue;
                }
                let iteration = iterations.get(port).copied().unwrap_or(step.iteration);
                let items_json = serde_json::to_value(items).unwrap_or_default();
                for edge in plan.successors(index, port) {
                    successors.push(NewStep {
                        node_id: plan.node(edge.to).id.clone(),
                        iteration,
                        input_name: if edge.closes_loop {
                            "return".into()
                        } else {
                            edge.input.clone().unwrap_or_else(|| "main".into())
                        },
                        items: items_json.clone(),
                        inputs_expected: compiled.inputs_expected[edge.to.get()],
                    });
                }
            }
            if plan.settings.execution_order == n8n_work_model::ExecutionOrder::N8nV1 {
                // One branch at a time: the store runs the newest queued step
                // first, so the top-most (then left-most) node goes last.
                successors.sort_by(|a, b| {
                    let pos = |id: &str| {
                        plan.index_of(id)
                            .and_then(|i| plan.node(i).position)
                            .map_or((0.0, 0.0), |p| (p.y, p.x))
                    };
                    pos(&b.node_id)
                        .partial_cmp(&pos(&a.node_id))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            }
        }
        Outcome::Done {
            outputs: serde_json::to_value(outputs).unwrap_or_default(),
            successors,
            response,
            state,
            node_state: None,
        }
    }

    /// The final failure of a step: the run fails, compensations and the
    /// error workflow start.
    pub(crate) async fn fail(
        &self,
        step: &Claimed,
        compiled: Option<&Compiled>,
        failure: &Failure,
    ) -> Outcome {
        let error = failure.to_json(&step.node_id);
        let mut compensations = Vec::new();
        let mut error_run = None;
        if let Some(compiled) = compiled {
            let plan = &compiled.plan;
            compensations = plan
                .nodes
                .iter()
                .filter_map(|n| {
                    n.compensate
                        .map(|c| (n.id.clone(), plan.node(c).id.clone()))
                })
                .collect();
            if let Some(name) = &plan.settings.error_workflow {
                let item = json!({
                    "execution": { "id": step.key.execution_id, "error": error, "lastNodeExecuted": step.node_id },
                    "workflow": { "id": compiled.info.id, "name": compiled.info.name },
                });
                let items = n8n_work_runtime::Item::list_from_value(item).unwrap_or_default();
                match self
                    .inner
                    .store
                    .workflow_by_name(&step.key.tenant, name)
                    .await
                {
                    Ok(version) => match self
                        .new_run(&step.key.tenant, &version, None, items, None, None)
                        .await
                    {
                        Ok(run) => error_run = Some(run),
                        Err(e) => tracing::warn!(error = %e, "the error workflow cannot start"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, workflow = %name, "the error workflow is not stored")
                    }
                }
            }
        }
        Outcome::Fail {
            error,
            compensations,
            error_run,
        }
    }
}

/// Completed nodes' `main` items by node, as expressions read them
/// (`$("Node")`); a node that ran twice gives its latest.
pub(crate) fn by_node(outputs: Vec<(String, Value)>) -> BTreeMap<String, Vec<Value>> {
    outputs
        .into_iter()
        .map(|(node, output)| {
            let items: Vec<Item> =
                serde_json::from_value(output.get("main").cloned().unwrap_or_default())
                    .unwrap_or_default();
            (
                node,
                items.into_iter().map(|i| Value::Object(i.json)).collect(),
            )
        })
        .collect()
}

/// The delay before attempt `attempt + 1`: exponential from the policy's
/// initial delay, capped, with full jitter when asked; never shorter than a
/// vendor's `Retry-After`.
pub fn retry_delay(
    policy: Option<&n8n_work_model::RetryPolicy>,
    attempt: i64,
    retry_after_ms: Option<u64>,
) -> i64 {
    let backoff = policy.map(|p| p.backoff.clone()).unwrap_or_default();
    let exponent = (attempt - 1).clamp(0, 30) as u32;
    let base = backoff
        .initial_ms
        .saturating_mul(1_u64 << exponent)
        .min(backoff.max_ms);
    let delay = if policy.is_none_or(|p| p.jitter) {
        fastrand::u64(0..=base)
    } else {
        base
    };
    delay.max(retry_after_ms.unwrap_or(0)) as i64
}
