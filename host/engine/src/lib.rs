//! The engine: runs workflow versions durably on a [`Store`].
//!
//! Stage in the data flow (ARCHITECTURE.md): after the model (which compiles
//! a workflow into a [`Plan`]) and the store (which holds runs and the step
//! queue); before the server. A worker loop claims due steps from the store
//! under a lease, runs each (a control node natively, a component in the
//! runtime), and hands the outcome back to the store, which records it and
//! makes the successors ready in one transaction. Retries, on-error modes,
//! compensation, parking (Wait, pending components, sub-workflows) and
//! cancellation are decided here; when they happen is the store's business.
//!
//! The principal type is [`Engine`].

mod catalog;
mod clock;
mod control;
mod inline;
mod metrics;
mod params;
pub mod preview;
mod redact;
mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use n8n_work_expr::{ExprContext, ExprError, WorkflowInfo};
use n8n_work_model::{
    ControlKind, NodeCatalog, NodeType, OnError, Plan, ValidationError, Workflow,
};
use n8n_work_runtime::{Grant, Item, StepError, StepOutcome, StepRequest};
use n8n_work_store::{
    Applied, Claimed, Completion, ExecutionRow, Millis, NewExecution, NewStep, Outcome, StepKey,
    StepKind, Store, StoreError, Usage, WorkflowVersion,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, broadcast, oneshot};
use tokio_util::sync::CancellationToken;

pub use catalog::{Catalog, InstalledComponent, PluginSource};
pub use clock::{Clock, ManualClock, SystemClock};
pub use metrics::EngineMetrics;
use params::Params;
pub use schedule::{CatchUp, Every, Schedule};

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The workflow does not validate.
    #[error("the workflow is invalid:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ValidationError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request does not make sense for this workflow.
    #[error("{0}")]
    Request(String),
}

/// Where stored credentials come from: the vault, or values given up front.
pub trait Credentials: Send + Sync {
    /// What a step is given of the credential stored as `name` in
    /// `tenant` (`Ok(None)`: there is none); an error says why it cannot be
    /// had now (an OAuth2 token endpoint refused, say).
    fn get<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, String>>;
}

/// Credentials given up front, by name (the CLI's `--credential`).
#[derive(Clone, Debug, Default)]
pub struct StaticCredentials(pub BTreeMap<String, Value>);

impl Credentials for StaticCredentials {
    fn get<'a>(
        &'a self,
        _tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async move { Ok(self.0.get(name).cloned()) })
    }
}

/// How the engine works.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// This worker's name in leases; unique per process.
    pub owner: String,
    /// Steps run at once.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the step.
    pub lease_ms: i64,
    /// How often an idle worker looks for work it was not told about.
    pub idle_poll_ms: i64,
    /// How often finished runs past their workflow's retention are pruned.
    pub prune_every_ms: i64,
    /// Whether runs started here ([`Engine::start`]) run here, in a task of
    /// their own, from the moment their start is committed (else a worker
    /// claims them from the queue).
    pub starts_here: bool,
    /// Whether a worker that claims a step of a run no other worker can
    /// touch drives the whole run itself, journaling at durable points
    /// (ADR 0008); off, every step goes through the queue.
    pub drives_runs: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            owner: format!("worker-{}", n8n_work_store::new_id()),
            concurrency: 64,
            lease_ms: 30_000,
            idle_poll_ms: 1_000,
            prune_every_ms: 10 * 60 * 1_000,
            starts_here: false,
            drives_runs: true,
        }
    }
}

/// A failed attempt, as the engine sees it.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: Option<String>,
    pub(crate) retryable: bool,
    pub(crate) retry_after_ms: Option<u64>,
}

impl Failure {
    pub(crate) fn config(message: String) -> Failure {
        Failure {
            message,
            code: Some("parameters".into()),
            retryable: false,
            retry_after_ms: None,
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
        }
    }

    fn to_json(&self, node: &str) -> Value {
        json!({ "message": self.message, "code": self.code, "node": node })
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

/// A plan with its params prepared for evaluation.
struct Compiled {
    plan: Plan,
    /// The tenant's plugins its nodes name, pinned when it was compiled.
    plugins: catalog::Plugins,
    params: Vec<Params>,
    /// Per node, how many inputs it waits for (Merge: its distinct inputs).
    inputs_expected: Vec<u32>,
    info: WorkflowInfo,
}

struct Inner {
    store: Store,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    credentials: Arc<dyn Credentials>,
    plans: Mutex<HashMap<(String, String, i64), Arc<Compiled>>>,
    /// In-flight steps by run, to interrupt on cancel.
    running: Mutex<HashMap<String, Vec<(i64, CancellationToken)>>>,
    /// New work: a start, a resume, a replay.
    wake: Notify,
    /// Slots for steps running at once.
    slots: Arc<Semaphore>,
    /// Steps claimed and not yet recorded.
    in_flight: AtomicUsize,
    /// Told whenever a step's task ends.
    step_ended: Notify,
    /// Who waits for which run to end.
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
    /// Runs that changed, for live views.
    changes: broadcast::Sender<Change>,
    /// Activations changed: the schedule loop looks again.
    schedules_changed: Notify,
    /// Activations changed, with the origin of each change: the bus tells
    /// the other processes, and the webhook routes here are read again.
    activations: broadcast::Sender<String>,
    metrics: EngineMetrics,
}

/// A run changed: it started, a step started or ended, or it ended. Live
/// views ([`Engine::changes`]) read what changed from the store, so a
/// missed or lagged notice loses nothing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// The run's tenant.
    pub tenant: String,
    /// The run's workflow.
    pub workflow_id: String,
    /// The run.
    pub execution_id: String,
    /// The engine (worker owner) the change happened in.
    pub origin: String,
}

/// What running one node on pinned input gave.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeRun {
    /// Items per output port.
    pub outputs: Value,
    /// Why it failed, if it did.
    pub error: Option<Value>,
    /// What the node logged.
    pub logs: Vec<Value>,
    /// What it used.
    pub usage: Usage,
}

/// Runs workflows on a store. Cloning is cheap.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.inner.config.owner)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store`, running components from `catalog`.
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        credentials: Arc<dyn Credentials>,
    ) -> Engine {
        let slots = config.concurrency.max(1);
        Engine {
            inner: Arc::new(Inner {
                store,
                catalog,
                clock,
                config,
                credentials,
                plans: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                slots: Arc::new(Semaphore::new(slots)),
                in_flight: AtomicUsize::new(0),
                step_ended: Notify::new(),
                waiters: Mutex::new(HashMap::new()),
                changes: broadcast::channel(1024).0,
                schedules_changed: Notify::new(),
                activations: broadcast::channel(64).0,
                metrics: EngineMetrics::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The components.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// What the engine counts.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.inner.metrics
    }

    /// Notices of runs that change, in this process.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    fn changed(&self, tenant: &str, workflow_id: &str, execution_id: &str) {
        // Nobody listening is fine.
        let _ = self.inner.changes.send(Change {
            tenant: tenant.to_owned(),
            workflow_id: workflow_id.to_owned(),
            execution_id: execution_id.to_owned(),
            origin: self.inner.config.owner.clone(),
        });
    }

    /// A change another process made (told through Redis): live views here
    /// look again, this worker looks for new work, and those waiting for
    /// the run here check whether it ended.
    pub fn remote_change(&self, change: Change) {
        let execution = change.execution_id.clone();
        let _ = self.inner.changes.send(change);
        self.inner.wake.notify_one();
        self.ended(&execution);
    }

    /// Notices that activations changed, each with the engine (process) it
    /// happened in: this one's own, and others' told through Redis.
    pub fn activations(&self) -> broadcast::Receiver<String> {
        self.inner.activations.subscribe()
    }

    /// Activations changed in another process (told through Redis): the
    /// schedule loop and the webhook routes here look again.
    pub fn remote_activations_changed(&self, origin: String) {
        self.inner.schedules_changed.notify_one();
        let _ = self.inner.activations.send(origin);
    }

    /// This engine's worker name: changes it makes carry it as `origin`.
    pub fn owner(&self) -> &str {
        &self.inner.config.owner
    }

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

    async fn put(
        &self,
        tenant: &str,
        id: Option<&str>,
        workflow: &Workflow,
    ) -> Result<WorkflowVersion, EngineError> {
        self.validate(tenant, workflow)
            .await
            .map_err(EngineError::Invalid)?;
        let definition = serde_json::to_value(workflow)
            .map_err(|e| EngineError::Request(format!("the workflow cannot be stored: {e}")))?;
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

    /// Runs run `id` again: from its first failed step, in the same run
    /// (`from_start` false), or as a new run of the same version with the
    /// same trigger items. Returns the run that goes on.
    pub async fn retry(
        &self,
        tenant: &str,
        id: &str,
        from_start: bool,
    ) -> Result<String, EngineError> {
        let store = &self.inner.store;
        let row = store.execution(tenant, id).await?;
        if !row.status.is_final() {
            return Err(EngineError::Request(format!(
                "run `{id}` is still {}; cancel it or wait for it to end before retrying",
                row.status.as_str()
            )));
        }
        if !from_start {
            let letter = store
                .dead_letters(tenant)
                .await?
                .into_iter()
                .find(|l| l.execution_id == id && l.replayed_at.is_none())
                .ok_or_else(|| {
                    EngineError::Request(format!(
                        "run `{id}` has no failed step to retry from; retry it from the start"
                    ))
                })?;
            self.replay(tenant, &letter.id).await?;
            self.changed(tenant, &row.workflow_id, id);
            return Ok(id.to_owned());
        }
        let first = store
            .steps(tenant, id)
            .await?
            .into_iter()
            .min_by_key(|s| s.seq)
            .ok_or_else(|| EngineError::Request(format!("run `{id}` has no steps to retry")))?;
        let payload = store.payload(tenant, id, first.seq).await?;
        let inputs: BTreeMap<String, Vec<Item>> =
            serde_json::from_value(payload.input).unwrap_or_default();
        let items = inputs.into_values().flatten().collect();
        let version = store
            .workflow_version(tenant, &row.workflow_id, row.version)
            .await?;
        // Anew from the trigger the run started at.
        self.start_at(tenant, &version, &first.node_id, items, None)
            .await
    }

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
            .map_err(|e| EngineError::Request(format!("the template: {e}")))?;
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
                    EngineError::Request(format!(
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
            .map_err(|e| EngineError::Request(e.to_string()))
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
            return Err(EngineError::Request(format!(
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

    /// Starts a run of `version` at its first trigger, with `items`. With an
    /// `id` that already exists, nothing new starts: the start is idempotent.
    pub async fn start(
        &self,
        tenant: &str,
        version: &WorkflowVersion,
        items: Vec<Item>,
        id: Option<String>,
    ) -> Result<String, EngineError> {
        let run = self.new_run(tenant, version, None, items, id, None).await?;
        self.start_run(run).await
    }

    /// Starts a run of `version` at its trigger node `trigger` (a webhook, a
    /// schedule), for workflows with more than one trigger; otherwise as
    /// [`Engine::start`].
    pub async fn start_at(
        &self,
        tenant: &str,
        version: &WorkflowVersion,
        trigger: &str,
        items: Vec<Item>,
        id: Option<String>,
    ) -> Result<String, EngineError> {
        let run = self
            .new_run(tenant, version, Some(trigger), items, id, None)
            .await?;
        self.start_run(run).await
    }

    async fn start_run(&self, run: NewExecution) -> Result<String, EngineError> {
        if self.inner.config.starts_here {
            self.start_here(&run).await?;
            return Ok(run.id);
        }
        let (tenant, workflow_id) = (run.tenant.clone(), run.workflow_id.clone());
        let id = run.id.clone();
        self.inner.store.start(run, self.inner.clock.now()).await?;
        self.inner.wake.notify_one();
        self.changed(&tenant, &workflow_id, &id);
        Ok(id)
    }

    /// A run of `version` starting at trigger node `trigger`, or at its
    /// first trigger.
    async fn new_run(
        &self,
        tenant: &str,
        version: &WorkflowVersion,
        trigger: Option<&str>,
        items: Vec<Item>,
        id: Option<String>,
        parent: Option<StepKey>,
    ) -> Result<NewExecution, EngineError> {
        let compiled = self
            .compiled(tenant, &version.workflow_id, version.version)
            .await?;
        let mut run = self.run_of(
            &compiled,
            tenant,
            &version.workflow_id,
            version.version,
            trigger,
            items,
            parent,
        )?;
        if let Some(id) = id {
            run.id = id;
        }
        Ok(run)
    }

    /// A new run of the compiled workflow `workflow_id` at `version`,
    /// starting at trigger node `trigger` or at its first trigger.
    #[allow(clippy::too_many_arguments)]
    fn run_of(
        &self,
        compiled: &Compiled,
        tenant: &str,
        workflow_id: &str,
        version: i64,
        trigger: Option<&str>,
        items: Vec<Item>,
        parent: Option<StepKey>,
    ) -> Result<NewExecution, EngineError> {
        let plan = &compiled.plan;
        let found = match trigger {
            None => plan.triggers.first(),
            Some(wanted) => plan.triggers.iter().find(|&&t| plan.node(t).id == wanted),
        };
        let Some(trigger) = found else {
            return Err(EngineError::Request(match trigger {
                None => format!(
                    "workflow `{}` has no trigger; add a node of type `manual` (or `webhook`, `schedule`) to start it",
                    plan.name
                ),
                Some(wanted) => format!(
                    "`{wanted}` is not a trigger of workflow `{}`; start it at one of its trigger nodes",
                    plan.name
                ),
            }));
        };
        Ok(NewExecution {
            tenant: tenant.to_owned(),
            id: n8n_work_store::new_id(),
            workflow_id: workflow_id.to_owned(),
            version,
            trigger: plan.node(*trigger).id.clone(),
            items: serde_json::to_value(items).unwrap_or_default(),
            sequential: plan.settings.execution_order == n8n_work_model::ExecutionOrder::N8nV1,
            parent,
        })
    }

    /// Waits until run `id` has ended, and returns it.
    pub async fn wait(&self, tenant: &str, id: &str) -> Result<ExecutionRow, EngineError> {
        loop {
            // Registered before the check, so an end in between is not missed.
            let (told, ended) = oneshot::channel();
            if let Ok(mut waiters) = self.inner.waiters.lock() {
                waiters.entry(id.to_owned()).or_default().push(told);
            }
            let row = self.inner.store.execution(tenant, id).await?;
            if row.status.is_final() {
                return Ok(row);
            }
            // Runs this process does not finish (another worker's) are seen
            // by looking again now and then.
            let idle = Duration::from_millis(self.inner.config.idle_poll_ms.max(1) as u64);
            let _ = tokio::time::timeout(idle, ended).await;
        }
    }

    /// Tells those waiting for run `id` that it ended.
    fn ended(&self, id: &str) {
        let told = self
            .inner
            .waiters
            .lock()
            .map(|mut w| w.remove(id).unwrap_or_default())
            .unwrap_or_default();
        for waiter in told {
            let _ = waiter.send(());
        }
    }

    /// Cancels a run: parked and queued steps end now; running ones are
    /// interrupted.
    pub async fn cancel(&self, tenant: &str, id: &str) -> Result<(), EngineError> {
        self.inner
            .store
            .cancel(tenant, id, self.inner.clock.now())
            .await?;
        self.interrupt(id);
        self.ended(id);
        if let Ok(row) = self.inner.store.execution(tenant, id).await {
            self.changed(tenant, &row.workflow_id, id);
        }
        Ok(())
    }

    /// Wakes the step parked under `token` (a Wait with `resume: call`)
    /// with `data`.
    pub async fn resume(
        &self,
        tenant: &str,
        token: &str,
        data: Value,
    ) -> Result<StepKey, EngineError> {
        let key = self
            .inner
            .store
            .resume(tenant, token, data, self.inner.clock.now())
            .await?;
        self.inner.wake.notify_one();
        Ok(key)
    }

    /// Runs a dead-lettered step again and reopens its run.
    pub async fn replay(&self, tenant: &str, dead_letter: &str) -> Result<StepKey, EngineError> {
        let key = self
            .inner
            .store
            .replay(tenant, dead_letter, self.inner.clock.now())
            .await?;
        self.inner.wake.notify_one();
        Ok(key)
    }

    /// Deletes finished runs past their workflow's retention (`maxAgeDays`,
    /// `maxCount`), in every tenant; returns how many.
    pub async fn prune(&self) -> Result<u64, EngineError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let mut pruned = 0;
        for tenant in store.tenants().await? {
            for (id, _, version) in store.workflows(&tenant).await? {
                let compiled = self.compiled(&tenant, &id, version).await?;
                let Some(retention) = &compiled.plan.settings.retention else {
                    continue;
                };
                let max_age = retention.max_age_days.map(|d| i64::from(d) * 86_400_000);
                let max_count = retention.max_count.map(|c| c as i64);
                pruned += store.prune(&tenant, &id, max_age, max_count, now).await?;
            }
        }
        Ok(pruned)
    }

    /// Runs every step that is due now, and what they make ready, until
    /// nothing is due and nothing runs. Steps due later (retries, Waits)
    /// stay queued: advance the clock and call again.
    pub async fn run_until_idle(&self) -> Result<(), EngineError> {
        self.drive(true, CancellationToken::new()).await
    }

    /// Works until `shutdown`: claims due steps, sleeps until the next due
    /// time or new work when there is none.
    /// While the store is unreachable, says so in the log and tries again
    /// with backoff: steps in flight keep running and record their
    /// outcomes once it is back.
    pub async fn serve(&self, shutdown: CancellationToken) -> Result<(), EngineError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.drive(false, shutdown.clone()).await {
                Ok(()) => return Ok(()),
                Err(EngineError::Store(e)) if e.is_unavailable() => {
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        "the store is unreachable; the worker claims nothing until it is back"
                    );
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn drive(
        &self,
        until_idle: bool,
        shutdown: CancellationToken,
    ) -> Result<(), EngineError> {
        let inner = &self.inner;
        let lease = inner.config.lease_ms;
        let mut heartbeat = tokio::time::interval(Duration::from_millis((lease / 3).max(1) as u64));
        heartbeat.tick().await;
        let mut pruned_at = inner.clock.now();
        let mut reclaimed_at = inner.clock.now();
        loop {
            let free = inner.slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                let now = inner.clock.now();
                for step in inner
                    .store
                    .claim(&inner.config.owner, free, now, now + lease)
                    .await?
                {
                    claimed += 1;
                    self.spawn_step(step);
                }
            }
            if claimed > 0 && claimed == free {
                // There may be more; look again once a slot frees up.
            } else if claimed > 0 {
                continue;
            }
            if inner.in_flight.load(Ordering::SeqCst) == 0 && claimed == 0 {
                if until_idle {
                    return Ok(());
                }
                self.reclaim_expired(&mut reclaimed_at).await;
                if inner.clock.now() - pruned_at >= inner.config.prune_every_ms {
                    pruned_at = inner.clock.now();
                    match self.prune().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(runs = n, "pruned runs past their retention"),
                        Err(e) => tracing::warn!(error = %e, "pruning failed"),
                    }
                }
                let now = inner.clock.now();
                let idle = inner.config.idle_poll_ms;
                let wait = match inner.store.next_due().await? {
                    Some(due) => (due - now).clamp(0, idle),
                    None => idle,
                };
                tokio::select! {
                    _ = inner.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait.max(1) as u64)) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
                continue;
            }
            tokio::select! {
                // A step ended: its successors run on their own; look for
                // other due work with the freed slot.
                _ = inner.step_ended.notified() => {}
                _ = heartbeat.tick() => {
                    let until = inner.clock.now() + lease;
                    inner.store.heartbeat(&inner.config.owner, until).await?;
                    self.reclaim_expired(&mut reclaimed_at).await;
                }
                _ = inner.wake.notified(), if free > claimed => {}
                _ = shutdown.cancelled() => {
                    // Claim nothing more; let the steps in flight finish
                    // and record their outcomes.
                    while inner.in_flight.load(Ordering::SeqCst) > 0 {
                        inner.step_ended.notified().await;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Returns steps whose worker stopped heartbeating to the queue, once
    /// per lease period: on a shared store, another worker died.
    async fn reclaim_expired(&self, last: &mut Millis) {
        let now = self.inner.clock.now();
        if now - *last < self.inner.config.lease_ms {
            return;
        }
        *last = now;
        match self.inner.store.reclaim(now, None).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(steps = n, "took back steps whose worker's lease expired"),
            Err(e) => tracing::warn!(error = %e, "could not take back expired leases"),
        }
    }

    /// Runs a claimed step in a task of its own, in one of the engine's slots.
    fn spawn_step(&self, step: Claimed) {
        self.changed(&step.key.tenant, &step.workflow_id, &step.key.execution_id);
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        let engine = self.clone();
        // Every log line of the step names it.
        let span = tracing::info_span!(
            parent: None,
            "step",
            execution_id = %step.key.execution_id,
            seq = step.key.seq,
            node = %step.node_id,
            attempt = step.attempt,
        );
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let slot = engine.inner.slots.clone().acquire_owned().await;
                engine.clone().run_claimed(step).await;
                drop(slot);
                engine.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
                engine.inner.step_ended.notify_one();
            },
            span,
        ));
    }

    fn interrupt(&self, execution: &str) {
        let tokens = self
            .inner
            .running
            .lock()
            .map(|mut r| r.remove(execution).unwrap_or_default())
            .unwrap_or_default();
        for (_, token) in tokens {
            token.cancel();
        }
    }

    /// Notes that `step` runs here, so a cancel interrupts it.
    fn track(&self, step: &Claimed, token: &CancellationToken) {
        if let Ok(mut running) = self.inner.running.lock() {
            running
                .entry(step.key.execution_id.clone())
                .or_default()
                .push((step.key.seq, token.clone()));
        }
    }

    /// Notes that `step` no longer runs here.
    fn untrack(&self, step: &Claimed) {
        if let Ok(mut running) = self.inner.running.lock()
            && let Some(tokens) = running.get_mut(&step.key.execution_id)
        {
            tokens.retain(|(seq, _)| *seq != step.key.seq);
            if tokens.is_empty() {
                running.remove(&step.key.execution_id);
            }
        }
    }

    async fn run_claimed(self, step: Claimed) {
        // A run this worker has alone, it drives to its end itself.
        let step = match self.take_over(step.clone()).await {
            Ok(Some(step)) => step,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the run over; running the step alone");
                step
            }
        };
        let token = CancellationToken::new();
        self.track(&step, &token);
        let began = std::time::Instant::now();
        let (outcome, usage, logs) = self.execute_with(&step, &token, None).await;
        self.count(&step, &outcome, began.elapsed());
        self.untrack(&step);
        let completion = Completion {
            key: step.key.clone(),
            owner: self.inner.config.owner.clone(),
            outcome,
            usage,
            logs,
            // The slot this step holds frees up as it ends.
            claim: Some((
                self.inner.slots.available_permits() + 1,
                self.inner.clock.now() + self.inner.config.lease_ms,
            )),
        };
        match self.record(completion).await {
            Ok(applied) => {
                self.changed(&step.key.tenant, &step.workflow_id, &step.key.execution_id);
                for next in applied.claimed {
                    self.spawn_step(next);
                }
                for (execution, status) in &applied.finished {
                    if *status != n8n_work_store::ExecutionStatus::Succeeded {
                        self.interrupt(execution);
                    }
                    self.ended(execution);
                    if *execution != step.key.execution_id
                        && let Ok(row) = self
                            .inner
                            .store
                            .execution(&step.key.tenant, execution)
                            .await
                    {
                        self.changed(&step.key.tenant, &row.workflow_id, execution);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, step = ?step.key, "could not record a step"),
        }
    }

    /// Records a step's outcome; while the store is unreachable, tries
    /// again, so a short outage does not cost the work done. Should the
    /// lease have passed to another worker meanwhile, the store ignores
    /// this late outcome.
    async fn record(&self, mut completion: Completion) -> Result<Applied, StoreError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let now = self.inner.clock.now();
            // Successors claimed with the outcome are leased from now, not
            // from the first try.
            if let Some((slots, _)) = completion.claim {
                completion.claim = Some((slots, now + self.inner.config.lease_ms));
            }
            match self.inner.store.complete(completion.clone(), now).await {
                Err(e) if e.is_unavailable() => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "the store is unreachable; the step's outcome is recorded once it is back");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    fn count(&self, step: &Claimed, outcome: &Outcome, took: Duration) {
        let node_type = self
            .inner
            .plans
            .lock()
            .ok()
            .and_then(|plans| {
                let key = (
                    step.key.tenant.clone(),
                    step.workflow_id.clone(),
                    step.version,
                );
                let compiled = plans.get(&key)?;
                let index = compiled.plan.index_of(&step.node_id)?;
                Some(compiled.plan.node(index).node_type.to_string())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let outcome = match outcome {
            Outcome::Done { .. } => "done",
            Outcome::Park { .. } => "parked",
            Outcome::Retry { error, due_at } => {
                tracing::info!(
                    error = error["message"].as_str().unwrap_or_default(),
                    due_at,
                    "the step failed and will be retried"
                );
                "retry"
            }
            Outcome::Fail { error, .. } => {
                tracing::warn!(
                    error = error["message"].as_str().unwrap_or_default(),
                    "the step failed; the run fails"
                );
                "failed"
            }
            Outcome::Cancelled => "cancelled",
        };
        self.inner
            .metrics
            .steps
            .get_or_create(&metrics::StepLabels {
                node_type,
                outcome: outcome.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    async fn compiled(
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
            EngineError::Request(format!(
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
            .map_err(|e| EngineError::Request(e.to_string()))?;
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

    /// Runs one claimed step and decides its outcome.
    /// Runs one claimed step and decides its outcome; a run held in
    /// `memory` (one running here) gives what expressions read of earlier
    /// steps, the store otherwise.
    async fn execute_with(
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
                self.run_component(
                    step,
                    node,
                    &compiled.plugins,
                    params,
                    &inputs,
                    context,
                    cancel,
                    run_left,
                    &mut usage,
                    &mut logs,
                )
                .await
            }
        };
        let outcome = match result {
            Ok(NodeResult::Outputs {
                outputs,
                response,
                state,
                iterations,
            }) => self.done(
                step,
                &compiled,
                index,
                outputs,
                response,
                state,
                &iterations,
            ),
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

    async fn node_outputs(&self, tenant: &str, execution: &str) -> BTreeMap<String, Vec<Value>> {
        by_node(
            self.inner
                .store
                .outputs(tenant, execution)
                .await
                .unwrap_or_default(),
        )
    }

    async fn child_run(
        &self,
        tenant: &str,
        name: &str,
        items: Vec<Item>,
        parent: &StepKey,
    ) -> Result<NewExecution, EngineError> {
        let version = self.inner.store.workflow_by_name(tenant, name).await.map_err(|e| match e {
            StoreError::NotFound(_) => EngineError::Request(format!(
                "workflow `{name}` is not stored; deploy it first (with `n8n-work run`, pass it with `--with FILE`)"
            )),
            other => other.into(),
        })?;
        self.new_run(tenant, &version, None, items, None, Some(parent.clone()))
            .await
    }

    #[allow(clippy::too_many_arguments)]
    fn done(
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
        }
    }

    /// The final failure of a step: the run fails, compensations and the
    /// error workflow start.
    async fn fail(
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

    /// Runs a component node, then scrubs its credentials' values from
    /// what it gave back (outputs, log, error) before any of it is stored.
    #[allow(clippy::too_many_arguments)]
    async fn run_component(
        &self,
        step: &Claimed,
        node: &n8n_work_model::PlanNode,
        plugins: &catalog::Plugins,
        params: &Params,
        inputs: &BTreeMap<String, Vec<Item>>,
        context: ExprContext,
        cancel: &CancellationToken,
        run_left: Option<i64>,
        usage: &mut Usage,
        logs: &mut Vec<Value>,
    ) -> Result<NodeResult, Failure> {
        let credentials = self.credentials_of(step, node).await?;
        let redactor = redact::Redactor::new(credentials.values());
        let logged = logs.len();
        let result = self
            .run_component_with(
                step,
                node,
                plugins,
                params,
                inputs,
                context,
                cancel,
                run_left,
                usage,
                logs,
                credentials,
            )
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
    async fn credentials_of(
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

    #[allow(clippy::too_many_arguments)]
    async fn run_component_with(
        &self,
        step: &Claimed,
        node: &n8n_work_model::PlanNode,
        plugins: &catalog::Plugins,
        params: &Params,
        inputs: &BTreeMap<String, Vec<Item>>,
        context: ExprContext,
        cancel: &CancellationToken,
        run_left: Option<i64>,
        usage: &mut Usage,
        logs: &mut Vec<Value>,
        credentials: BTreeMap<String, Value>,
    ) -> Result<NodeResult, Failure> {
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
            match report.result {
                Ok(StepOutcome::Done { outputs: produced }) => {
                    for (port, items) in produced {
                        outputs.entry(port).or_default().extend(items);
                    }
                }
                Ok(StepOutcome::Pending { poll_after, state }) if index.is_none() => {
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
        Ok(NodeResult::Outputs {
            outputs,
            response: None,
            state: None,
            iterations: BTreeMap::new(),
        })
    }
}

/// Completed nodes' `main` items by node, as expressions read them
/// (`$("Node")`); a node that ran twice gives its latest.
fn by_node(outputs: Vec<(String, Value)>) -> BTreeMap<String, Vec<Value>> {
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

/// The problems that keep `workflow` from running with `catalog`: the
/// model's checks, and the params the engine reads itself (schedules).
pub fn validate(workflow: &Workflow, catalog: &Catalog) -> Result<(), Vec<ValidationError>> {
    problems(workflow, catalog).map_or(Ok(()), Err)
}

/// What keeps `workflow` from compiling over `catalog`, if anything.
fn problems(workflow: &Workflow, catalog: &dyn NodeCatalog) -> Option<Vec<ValidationError>> {
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

fn step_failure(error: &StepError) -> Failure {
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
    }
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
