//! The engine: runs workflow versions durably on a [`Store`].
//!
//! Stage in the data flow (docs/architecture.md): after the model (which
//! compiles a workflow into a [`Plan`]) and the store (which holds runs and
//! the step queue); before the server. A run executes where it starts, in
//! memory, and is journaled to the store at durable points (ADR 0008:
//! `inline.rs`). What only the queue does (a retry, a Wait, a failure) is
//! handed to it: a worker loop claims due steps under a lease, runs each (a
//! control node natively, a component in the runtime), and hands the
//! outcome back to the store, which records it and makes the successors
//! ready in one transaction, or takes the run over when the step is its
//! only open one. Retries, on-error modes,
//! compensation, parking (Wait, pending components, sub-workflows) and
//! cancellation are decided here; when they happen is the store's business.
//!
//! The principal type is [`Engine`].

mod catalog;
mod clock;
mod component;
mod control;
mod editor;
mod inline;
mod metrics;
mod params;
mod plans;
pub mod preview;
mod redact;
mod runs;
mod schedule;
mod step;
mod worker;
mod workflows;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use n8n_work_model::ValidationError;
use n8n_work_store::{Store, StoreError, Usage};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, broadcast, oneshot};
use tokio_util::sync::CancellationToken;

pub use catalog::{Catalog, InstalledComponent, PluginSource};
pub use clock::{Clock, ManualClock, SystemClock};
pub use metrics::EngineMetrics;
pub use params::EXPRESSION_MILLIS;
use params::Params;
use plans::Compiled;
pub use schedule::{CatchUp, Every, Schedule};
pub use step::retry_delay;
pub(crate) use step::{Failure, NodeResult};
pub use workflows::validate;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The workflow does not validate.
    #[error("the workflow is invalid:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ValidationError>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the request names does not exist: a node of the workflow, a
    /// step of the run, a stored sub-workflow.
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the run's state now: retrying a run that
    /// is still running, or one with nothing to retry.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong: a template that does not parse, a
    /// trigger the workflow does not have, params that do not compile.
    #[error("{0}")]
    BadRequest(String),
    /// An expression was evaluated and failed (the editor's preview shows
    /// this as the expression's value).
    #[error("{0}")]
    Expression(String),
    /// What the store holds cannot be read back or written: damaged, or
    /// written by an incompatible version.
    #[error("{0}")]
    Corrupt(String),
    /// The engine failed inside: the task driving a run panicked.
    #[error("{0}")]
    Internal(String),
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
    /// How often those waiting for a run (a synchronous answer, a webhook's
    /// admission place) look at the store for an end or a park they were
    /// not told about: another process's work, where no Redis tells of it.
    /// Every waiter looks on its own, so with many runs in flight a short
    /// period costs a read per run per period.
    pub waiter_poll_ms: i64,
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
            waiter_poll_ms: 1_000,
            prune_every_ms: 10 * 60 * 1_000,
            starts_here: false,
            drives_runs: true,
        }
    }
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
    /// Runs this process drives in memory: their ready steps reach the
    /// store only at their next durable point, so the store alone cannot
    /// tell that they are at work.
    driving: Mutex<HashSet<String>>,
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
                driving: Mutex::new(HashSet::new()),
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
}
