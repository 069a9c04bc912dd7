//! The runtime stage of n8n-work: it runs one node step inside a wasmtime
//! sandbox.
//!
//! The principal type in this crate is [`Runtime`]. It compiles a node's
//! component once ([`Runtime::load`] gives a [`LoadedNode`]), then runs each
//! step in a fresh instance from the pooling allocator
//! ([`Runtime::run_step`]), under the step's [`StepLimits`] (fuel, memory,
//! output size, a wall-clock deadline) and its egress [`Grant`]s. A step
//! ends in a [`StepReport`]: the outcome or a [`StepError`] that tells a
//! node's own error from a limit and a trap, plus what the step used
//! ([`StepUsage`]), its log, its state changes and the binary data it wrote.
//!
//! The runtime knows nothing of workflows: the engine decides which step
//! runs, with which credentials and grants, and records the report.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use n8n_work_runtime::{Runtime, RuntimeConfig, StepRequest};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let node = runtime.load(&std::fs::read("node.wasm")?).await?;
//! let report = runtime
//!     .run_step(&node, StepRequest::new("n1", serde_json::json!({"url": "https://example.com"})))
//!     .await;
//! println!("{:?} used {:?}", report.result, report.usage);
//! # Ok(()) }
//! ```

mod bindings;
mod cache;
mod data;
pub mod egress;
mod host;
mod limits;
mod log;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

pub use cache::{CacheHit, shared_cache_dir};
pub use data::{
    BinaryRef, CredentialSlot, EgressNeed, Item, NodeError, NodeSpec, OutputPort, StepOutcome,
};
pub use egress::{
    EgressConfig, EgressPolicy, EgressRateError, EgressRates, EgressUsage, Grant, PrivateAllowlist,
};
pub use host::{BinaryStore, MemoryBinaries, NewBinary, StateSource};
pub use limits::{LimitExceeded, StepLimits};
pub use log::{LogLevel, LogLine, LogSource};

use crate::bindings::{Node, NodePre};
use crate::egress::EgressCounters;
use crate::host::StepState;
use crate::log::StepLog;

/// How often the epoch ticks: the granularity of deadlines, cancellation and
/// of yielding to other steps on the same thread.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings for a [`Runtime`], fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may run at once (pooling allocator slots).
    pub max_instances: u32,
    /// The largest memory limit any step may be given, in bytes.
    pub max_memory_bytes: usize,
    /// Use the pooling allocator (fast instantiation). Turn off where the
    /// address space cannot be reserved up front.
    pub pooling: bool,
    /// Limits for steps that do not set their own.
    pub default_limits: StepLimits,
    /// Egress settings shared by every step.
    pub egress: EgressConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 1024 * 1024 * 1024,
            pooling: true,
            default_limits: StepLimits::default(),
            egress: EgressConfig::default(),
        }
    }
}

/// Why the runtime could not start or load a node.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The wasmtime engine could not be configured.
    #[error("could not start the wasm engine: {0}")]
    Engine(String),
    /// The component cache directory is unusable.
    #[error("component cache at {}: {message}", path.display())]
    Cache {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The bytes are not a valid component.
    #[error("not a valid wasm component: {0}")]
    Compile(String),
    /// The component does not implement the node world.
    #[error("the component is not an n8n-work node (world n8n-work:node/node@0.1.0): {0}")]
    Link(String),
    /// `describe()` failed or returned something invalid.
    #[error("describe() failed: {0}")]
    Describe(String),
}

/// Why a step did not produce an outcome.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StepError {
    /// The node returned an error of its own.
    #[error("node error: {0}")]
    Node(NodeError),
    /// The step ran into one of its limits.
    #[error("limit exceeded: {0}")]
    Limit(LimitExceeded),
    /// The guest trapped (a panic, an out-of-bounds access, ...).
    #[error("node crashed: {message}")]
    Trap {
        /// The trap and where it happened.
        message: String,
    },
    /// The node broke the contract (invalid output JSON, ...).
    #[error("node broke the contract: {0}")]
    Contract(String),
    /// The step was cancelled.
    #[error("step cancelled")]
    Cancelled,
}

impl StepError {
    /// Whether running the step again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StepError::Node(e) => e.retryable,
            StepError::Limit(LimitExceeded::Deadline { .. }) => true,
            _ => false,
        }
    }
}

/// What a step used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepUsage {
    /// Wall-clock time from instantiation to the end, in microseconds.
    pub duration_us: u64,
    /// Fuel consumed.
    pub fuel: u64,
    /// Most linear memory held at once, in bytes.
    pub peak_memory_bytes: u64,
    /// Outgoing HTTP.
    pub egress: EgressUsage,
}

/// Everything a step needs besides the node itself.
pub struct StepRequest {
    /// The workflow the step belongs to.
    pub workflow_id: String,
    /// The run.
    pub execution_id: String,
    /// The node within the workflow.
    pub node_id: String,
    /// Stable across retries: `run id / node id / item or iteration`.
    pub idempotency_key: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// Parameters, expressions evaluated.
    pub params: serde_json::Value,
    /// Input items.
    pub items: Vec<Item>,
    /// Credentials granted to this node, by slot name.
    pub credentials: BTreeMap<String, serde_json::Value>,
    /// Origins this node may reach.
    pub grants: Vec<Grant>,
    /// The node's persisted state, when it is given up front.
    pub state: BTreeMap<String, Vec<u8>>,
    /// Where the node's persisted state is read from, on first use (it
    /// replaces `state` then).
    pub state_source: Option<Arc<dyn StateSource>>,
    /// State from the step's last `pending` outcome.
    pub resume: Option<Vec<u8>>,
    /// Limits; the runtime's defaults when `None`.
    pub limits: Option<StepLimits>,
    /// Where binary references are read from.
    pub binaries: Option<Arc<dyn BinaryStore>>,
    /// Cancels the step when triggered.
    pub cancel: CancellationToken,
}

impl StepRequest {
    /// A request for node `node_id` with `params`, no items, no credentials
    /// and no grants.
    pub fn new(node_id: impl Into<String>, params: serde_json::Value) -> Self {
        let node_id = node_id.into();
        StepRequest {
            workflow_id: "adhoc".into(),
            execution_id: "adhoc".into(),
            idempotency_key: format!("adhoc/{node_id}/0"),
            node_id,
            attempt: 1,
            params,
            items: Vec::new(),
            credentials: BTreeMap::new(),
            grants: Vec::new(),
            state: BTreeMap::new(),
            state_source: None,
            resume: None,
            limits: None,
            binaries: None,
            cancel: CancellationToken::new(),
        }
    }
}

/// How a step went.
#[derive(Debug)]
pub struct StepReport {
    /// The outcome, or why there is none.
    pub result: Result<StepOutcome, StepError>,
    /// What the step used.
    pub usage: StepUsage,
    /// What it logged and printed, and what the host noted about it.
    pub logs: Vec<LogLine>,
    /// State writes (`None` deletes), to commit with the step's result.
    pub state_changes: BTreeMap<String, Option<Vec<u8>>>,
    /// Binary data it wrote, to keep with the step's result.
    pub binaries: Vec<NewBinary>,
}

/// A compiled node, ready to instantiate.
#[derive(Clone)]
pub struct LoadedNode {
    pre: NodePre<StepState>,
    spec: Arc<NodeSpec>,
    digest: Arc<str>,
    cache_hit: CacheHit,
}

impl LoadedNode {
    /// What the node said it is.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// The component's content digest, `sha256-<hex>`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Whether loading compiled the component or found it cached.
    pub fn cache_hit(&self) -> CacheHit {
        self.cache_hit
    }
}

/// Runs node components. One per process; cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StepState>,
    cache: Arc<cache::ComponentCache>,
    egress: Arc<EgressPolicy>,
    config: RuntimeConfig,
}

impl Runtime {
    /// Starts the engine: pooling allocator, fuel, epochs, and the epoch
    /// ticker thread (which stops when the runtime is dropped).
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true);
        wasm.consume_fuel(true);
        wasm.epoch_interruption(true);
        if config.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(config.max_instances);
            pool.total_core_instances(config.max_instances.saturating_mul(4));
            pool.total_memories(config.max_instances.saturating_mul(2));
            pool.total_tables(config.max_instances.saturating_mul(4));
            pool.total_stacks(config.max_instances);
            pool.max_memory_size(config.max_memory_bytes);
            // Keep the first MiB of each slot mapped between steps and reset
            // it with pagemap scanning: far fewer madvise calls per step.
            pool.linear_memory_keep_resident(1 << 20);
            pool.table_keep_resident(1 << 20);
            pool.pagemap_scan(wasmtime::Enabled::Auto);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        link(&mut linker).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        spawn_epoch_ticker(&engine);
        let cache = Arc::new(cache::ComponentCache::new(
            engine.clone(),
            config.cache_dir.clone(),
        )?);
        Ok(Runtime {
            egress: Arc::new(EgressPolicy::new(config.egress.clone())),
            engine,
            linker,
            cache,
            config,
        })
    }

    /// The settings the runtime was started with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Compiles (or finds cached) a node component, links it, and asks it
    /// to `describe()` itself.
    pub async fn load(&self, wasm: &[u8]) -> Result<LoadedNode, RuntimeError> {
        let cache = self.cache.clone();
        let bytes = wasm.to_vec();
        let (component, cache_hit) = tokio::task::spawn_blocking(move || cache.load(&bytes))
            .await
            .map_err(|e| RuntimeError::Compile(e.to_string()))??;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(NodePre::new)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let spec = self.describe(&pre).await?;
        Ok(LoadedNode {
            pre,
            spec: Arc::new(spec),
            digest: cache::ComponentCache::digest(wasm).into(),
            cache_hit,
        })
    }

    async fn describe(&self, pre: &NodePre<StepState>) -> Result<NodeSpec, RuntimeError> {
        let request = StepRequest::new("describe", serde_json::Value::Null);
        let limits = self.config.default_limits;
        let (mut store, _counters) = self.store(&request, limits);
        let deadline = store.data().deadline;
        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        };
        let spec = match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(spec)) => spec,
            Ok(Err(e)) => {
                return Err(RuntimeError::Describe(
                    classify(&e, &limits, &store).to_string(),
                ));
            }
            Err(_) => {
                return Err(RuntimeError::Describe(
                    LimitExceeded::Deadline {
                        timeout_ms: limits.timeout.as_millis() as u64,
                    }
                    .to_string(),
                ));
            }
        };
        NodeSpec::try_from(spec).map_err(RuntimeError::Describe)
    }

    /// Runs one step in a fresh instance and reports how it went. Never
    /// panics on guest behaviour: every failure is in the report.
    pub async fn run_step(&self, node: &LoadedNode, request: StepRequest) -> StepReport {
        let limits = request
            .limits
            .unwrap_or(self.config.default_limits)
            .clamped(self.config.max_memory_bytes);
        let started = Instant::now();
        let (mut store, counters) = self.store(&request, limits);
        let deadline = store.data().deadline;
        let cancel = request.cancel.clone();
        let context = bindings::n8n_work::node::types::Context {
            workflow_id: request.workflow_id,
            execution_id: request.execution_id,
            node_id: request.node_id,
            idempotency_key: request.idempotency_key,
            attempt: request.attempt,
            params: request.params.to_string(),
            resume: request.resume,
        };
        let items: Vec<_> = request.items.iter().map(Into::into).collect();

        let call = async {
            let instance: Node = node.pre.instantiate_async(&mut store).await?;
            instance.call_execute(&mut store, &context, &items).await
        };
        // The epoch callback stops wasm that computes; this stops a guest
        // that waits in a host call (a slow response, a long poll).
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(StepError::Cancelled),
            _ = tokio::time::sleep_until(deadline) => Err(StepError::Limit(LimitExceeded::Deadline {
                timeout_ms: limits.timeout.as_millis() as u64,
            })),
            returned = call => match returned {
                Ok(Ok(bindings::n8n_work::node::types::Outcome::Done(ports))) => {
                    data::items_from_guest(ports, limits.output_bytes)
                        .map(|outputs| StepOutcome::Done { outputs })
                }
                Ok(Ok(bindings::n8n_work::node::types::Outcome::Pending(p))) => Ok(StepOutcome::Pending {
                    poll_after: Duration::from_millis(p.poll_after_ms),
                    state: p.state,
                }),
                Ok(Err(e)) => Err(StepError::Node(e.into())),
                Err(e) => Err(classify(&e, &limits, &store)),
            },
        };
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.into_data();
        StepReport {
            result,
            usage: StepUsage {
                duration_us: started.elapsed().as_micros() as u64,
                fuel: limits.fuel.saturating_sub(fuel_left),
                peak_memory_bytes: state.limiter.peak() as u64,
                egress: counters.snapshot(),
            },
            logs: state.log.finish(),
            state_changes: state.state_changes,
            binaries: state.new_binaries,
        }
    }

    /// A fresh store for one step, with its limits armed.
    fn store(
        &self,
        request: &StepRequest,
        limits: StepLimits,
    ) -> (Store<StepState>, Arc<EgressCounters>) {
        let log = StepLog::new(limits.log_bytes);
        let counters = Arc::new(EgressCounters::default());
        let node: Arc<str> = request.node_id.as_str().into();
        // An empty WASI context: no preopens, no environment, no arguments,
        // stdin closed, no sockets, no name lookup. Output goes to the log.
        let wasi = WasiCtx::builder()
            .stdout(log.output(LogSource::Stdout))
            .stderr(log.output(LogSource::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let deadline = Instant::now() + limits.timeout;
        let state = StepState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            egress: egress::EgressHooks {
                policy: self.egress.clone(),
                grants: request.grants.clone().into(),
                node: node.clone(),
                counters: counters.clone(),
                log: log.clone(),
            },
            limiter: limits::StepLimiter::new(limits.memory_bytes),
            log,
            node,
            credentials: request.credentials.clone(),
            state: request.state.clone(),
            state_source: request.state_source.clone(),
            state_changes: BTreeMap::new(),
            binaries: request
                .binaries
                .clone()
                .unwrap_or_else(|| Arc::new(MemoryBinaries::default())),
            new_binaries: Vec::new(),
            binary_bytes: 0,
            binary_cap: limits.binary_bytes,
            deadline,
            cancel: request.cancel.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .expect("fuel is enabled in the engine config");
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            let state = store.data();
            if state.cancel.is_cancelled() {
                return Err(wasmtime::Error::new(StepError::Cancelled));
            }
            if Instant::now() >= state.deadline {
                return Err(wasmtime::Error::new(Trap::Interrupt));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        (store, counters)
    }
}

impl StepLimits {
    fn clamped(mut self, max_memory: usize) -> Self {
        self.memory_bytes = self.memory_bytes.min(max_memory);
        self
    }
}

/// Sorts a wasmtime error into limit, cancellation or trap.
fn classify(error: &wasmtime::Error, limits: &StepLimits, store: &Store<StepState>) -> StepError {
    if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
        return StepError::Limit(limit.clone());
    }
    if let Some(step) = error.downcast_ref::<StepError>() {
        return step.clone();
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => StepError::Limit(LimitExceeded::Fuel { limit: limits.fuel }),
        Some(Trap::Interrupt) if Instant::now() >= store.data().deadline => {
            StepError::Limit(LimitExceeded::Deadline {
                timeout_ms: limits.timeout.as_millis() as u64,
            })
        }
        _ => StepError::Trap {
            message: format!("{error:#}"),
        },
    }
}

/// Wires every import a node may use into the linker, once.
fn link(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    use bindings::n8n_work::node::{binary, credentials, log, state, types};
    types::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    log::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    credentials::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    state::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    binary::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    Ok(())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("n8n-work-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}
