//! The rows and transitions the store deals in.

use serde::{Deserialize, Serialize};

/// The tenant every row belongs to until there are more (the security issue
/// adds them).
pub const DEFAULT_TENANT: &str = "default";

/// Milliseconds since the Unix epoch, the store's unit of time.
pub type Millis = i64;

/// Where a step lives: tenant, execution and its sequence number there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepKey {
    /// The tenant.
    pub tenant: String,
    /// The execution.
    pub execution_id: String,
    /// The step's number within the execution, from 1.
    pub seq: i64,
}

/// A step's lifecycle. `Queued` steps wait their turn (one branch at a time,
/// or compensations in order); `Collecting` steps are Merge nodes gathering
/// their inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Waiting for its turn.
    Queued,
    /// Gathering inputs (Merge).
    Collecting,
    /// Claimable once `due_at` passes.
    Ready,
    /// Claimed under a lease.
    Running,
    /// Parked: until `due_at`, a resume call, or a sub-workflow.
    Waiting,
    /// Finished with outputs.
    Done,
    /// Finished with an error, retries used up.
    Failed,
    /// Stopped by a cancel or by the run failing elsewhere.
    Cancelled,
}

impl StepStatus {
    /// Its name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Queued => "queued",
            StepStatus::Collecting => "collecting",
            StepStatus::Ready => "ready",
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> StepStatus {
        match text {
            "queued" => StepStatus::Queued,
            "collecting" => StepStatus::Collecting,
            "ready" => StepStatus::Ready,
            "running" => StepStatus::Running,
            "waiting" => StepStatus::Waiting,
            "done" => StepStatus::Done,
            "failed" => StepStatus::Failed,
            _ => StepStatus::Cancelled,
        }
    }
}

/// Why a step exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// A node of the workflow, reached by the run.
    Node,
    /// A compensating node, run because the run failed.
    Compensation,
}

impl StepKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepKind::Node => "node",
            StepKind::Compensation => "compensation",
        }
    }

    pub(crate) fn parse(text: &str) -> StepKind {
        if text == "compensation" {
            StepKind::Compensation
        } else {
            StepKind::Node
        }
    }
}

/// A run's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionStatus {
    /// Steps are still to run.
    Running,
    /// Failed; compensating nodes are running.
    Compensating,
    /// Every branch finished.
    Succeeded,
    /// A step failed with on-error `stop`.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl ExecutionStatus {
    /// Its name in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Compensating => "compensating",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> ExecutionStatus {
        match text {
            "running" => ExecutionStatus::Running,
            "compensating" => ExecutionStatus::Compensating,
            "succeeded" => ExecutionStatus::Succeeded,
            "failed" => ExecutionStatus::Failed,
            _ => ExecutionStatus::Cancelled,
        }
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Cancelled
        )
    }
}

/// A run to start.
#[derive(Clone, Debug)]
pub struct NewExecution {
    /// The tenant.
    pub tenant: String,
    /// Its id; starting an id that exists starts nothing (see [`Started`]).
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The version that runs.
    pub version: i64,
    /// The node the run starts at.
    pub trigger: String,
    /// The trigger's items (a JSON array).
    pub items: serde_json::Value,
    /// One branch at a time (`n8n-v1` order) rather than in parallel.
    pub sequential: bool,
    /// The step waiting for this run, when it is a sub-workflow.
    pub parent: Option<StepKey>,
}

/// What starting a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    /// A new run.
    Created,
    /// A run with that id already existed; nothing changed.
    Existing,
}

/// A step a worker has claimed.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// Where it lives.
    pub key: StepKey,
    /// The workflow and version it belongs to.
    pub workflow_id: String,
    /// The version.
    pub version: i64,
    /// When the run started, for its run timeout.
    pub run_started_at: Millis,
    /// The node.
    pub node_id: String,
    /// The loop iteration.
    pub iteration: i64,
    /// Node or compensation.
    pub kind: StepKind,
    /// Attempts started, this one included.
    pub attempt: i64,
    /// Stays the same across retries and crash re-runs.
    pub idempotency_key: String,
    /// Items per input name (`{"main": [...]}`, Merge: `{"0": [...], "1": [...]}`).
    pub input: serde_json::Value,
    /// What the node kept when it parked.
    pub state: Option<serde_json::Value>,
    /// What woke it: a resume call's data, or a sub-workflow's result.
    pub resume: Option<serde_json::Value>,
    /// Whether it was parked (a Wait, a pending component, a sub-workflow).
    pub was_waiting: bool,
}

/// Items for a successor step.
#[derive(Clone, Debug)]
pub struct NewStep {
    /// The node.
    pub node_id: String,
    /// The loop iteration it belongs to.
    pub iteration: i64,
    /// The input the items arrive on (`main`, or `0`, `1` for Merge).
    pub input_name: String,
    /// The items (a JSON array).
    pub items: serde_json::Value,
    /// How many inputs the node waits for (more than 1 for Merge): such a
    /// step collects arrivals for the same node and iteration until all are
    /// in, or until nothing else in the run can still deliver.
    pub inputs_expected: u32,
}

/// What a step used, recorded with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Wall-clock time of the attempt, in microseconds.
    pub duration_us: i64,
    /// Fuel consumed.
    pub fuel: i64,
    /// Peak linear memory, in bytes.
    pub peak_memory_bytes: i64,
    /// Outgoing HTTP requests.
    pub egress_requests: i64,
    /// Bytes sent and received over them.
    pub egress_bytes: i64,
}

/// How an attempt ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Finished: outputs per port, and the steps they start.
    Done {
        /// Items per output port (a JSON object of arrays).
        outputs: serde_json::Value,
        /// Successor steps.
        successors: Vec<NewStep>,
        /// A webhook response the node set.
        response: Option<serde_json::Value>,
        /// What the node keeps for its next step in the run (a Loop's
        /// remaining items), read back with [`crate::Store::latest_state`].
        state: Option<serde_json::Value>,
        /// What the step changed in its node's state, committed with this.
        node_state: Option<crate::NodeStateWrite>,
    },
    /// Parked until `due_at`, a resume call with `token`, or a sub-run.
    Park {
        /// When to run again by itself.
        due_at: Option<Millis>,
        /// The token a resume call names.
        token: Option<String>,
        /// What the node keeps until then.
        state: Option<serde_json::Value>,
        /// A sub-workflow run whose end wakes the step.
        child: Option<NewExecution>,
        /// What the step changed in its node's state, committed with this.
        node_state: Option<crate::NodeStateWrite>,
    },
    /// Failed; try again at `due_at`.
    Retry {
        /// When.
        due_at: Millis,
        /// The error of this attempt.
        error: serde_json::Value,
    },
    /// Failed for good: the run fails (on-error `stop`).
    Fail {
        /// The error.
        error: serde_json::Value,
        /// Node id → compensating node id, from the plan.
        compensations: Vec<(String, String)>,
        /// The error workflow's run, if the workflow names one.
        error_run: Option<NewExecution>,
    },
    /// Interrupted by a cancel.
    Cancelled,
}

/// A claimed step's result.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The step.
    pub key: StepKey,
    /// The worker that claimed it: a step whose lease passed to another
    /// worker is not completed twice.
    pub owner: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What it used.
    pub usage: Usage,
    /// Its log lines.
    pub logs: Vec<serde_json::Value>,
    /// Claim up to this many steps the completion makes ready in the same
    /// run, leased until the given time, in the same transaction.
    pub claim: Option<(usize, Millis)>,
}

/// What a completion changed, for the worker.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Whether the completion was recorded (false when the lease was lost).
    pub recorded: bool,
    /// Steps made ready, so the worker knows to claim.
    pub ready: usize,
    /// Runs that ended, with their final status.
    pub finished: Vec<(String, ExecutionStatus)>,
    /// Steps claimed for the worker (see [`Completion::claim`]).
    pub claimed: Vec<Claimed>,
}

/// A run, as stored.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionRow {
    /// The tenant.
    pub tenant: String,
    /// Its id.
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The version that ran.
    pub version: i64,
    /// Where it is.
    pub status: ExecutionStatus,
    /// Why it failed.
    pub error: Option<serde_json::Value>,
    /// The outputs of the last step that finished.
    pub result: Option<serde_json::Value>,
    /// The webhook response a Respond node set.
    pub response: Option<serde_json::Value>,
    /// The sub-workflow step waiting for it.
    pub parent: Option<StepKey>,
    /// When it started.
    pub created_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
}

/// A step, as stored.
#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    /// Its number in the run.
    pub seq: i64,
    /// The node.
    pub node_id: String,
    /// The loop iteration.
    pub iteration: i64,
    /// Node or compensation.
    pub kind: StepKind,
    /// Where it is.
    pub status: StepStatus,
    /// Attempts started.
    pub attempt: i64,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// When it becomes claimable.
    pub due_at: Option<Millis>,
    /// The lease holder.
    pub lease_owner: Option<String>,
    /// The last error.
    pub error: Option<serde_json::Value>,
    /// What the last attempt used.
    pub usage: Usage,
    /// The order in which steps finished.
    pub done_order: Option<i64>,
    /// Created.
    pub created_at: Millis,
    /// Last claimed.
    pub started_at: Option<Millis>,
    /// Finished.
    pub finished_at: Option<Millis>,
}

/// A step's data.
#[derive(Clone, Debug, Serialize)]
pub struct StepPayload {
    /// Items per input.
    pub input: serde_json::Value,
    /// Items per output port.
    pub output: Option<serde_json::Value>,
    /// Log lines.
    pub logs: Option<serde_json::Value>,
}

/// A step that failed for good, kept for replay.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    /// Its id.
    pub id: String,
    /// The run.
    pub execution_id: String,
    /// The step.
    pub seq: i64,
    /// The node.
    pub node_id: String,
    /// The error.
    pub error: serde_json::Value,
    /// When.
    pub created_at: Millis,
    /// When it was replayed.
    pub replayed_at: Option<Millis>,
}

/// A stored workflow version.
#[derive(Clone, Debug, Serialize)]
pub struct WorkflowVersion {
    /// The workflow's id.
    pub workflow_id: String,
    /// Its name.
    pub name: String,
    /// The version number, from 1.
    pub version: i64,
    /// The workflow document (JSON).
    pub definition: serde_json::Value,
}

/// A workflow as lists show it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    /// Its id.
    pub id: String,
    /// Its name (unique in the tenant).
    pub name: String,
    /// The newest version.
    pub latest_version: i64,
    /// The version webhooks and schedules run, if any.
    pub active_version: Option<i64>,
    /// When it was created.
    pub created_at: Millis,
    /// When a version was added or the active one changed.
    pub updated_at: Millis,
    /// Its most recent run.
    pub last_run: Option<LastRun>,
}

/// How many runs a workflow has in the store (runs that retention deleted
/// are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Every run, whatever its status.
    pub total: i64,
    /// Runs that failed.
    pub failed: i64,
}

/// A workflow's most recent run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    /// The run's id.
    pub execution_id: String,
    /// How it stands.
    pub status: ExecutionStatus,
    /// When it started.
    pub started_at: Millis,
}

/// Which runs to list; every field narrows the list.
#[derive(Clone, Debug, Default)]
pub struct ExecutionFilter {
    /// Runs of this workflow.
    pub workflow: Option<String>,
    /// Runs in this status (`running`, `succeeded`, ...).
    pub status: Option<String>,
    /// Runs older than this run id (the cursor).
    pub before: Option<String>,
    /// Runs started at or after this time.
    pub since: Option<Millis>,
    /// Runs started before this time.
    pub until: Option<Millis>,
}

/// The JSON of each item in an array of items (`[{"json": ...}]`), as
/// results and step payloads hold them.
pub fn items_json(items: &serde_json::Value) -> Vec<serde_json::Value> {
    items
        .as_array()
        .map(|items| items.iter().map(|i| i["json"].clone()).collect())
        .unwrap_or_default()
}

impl ExecutionRow {
    /// The JSON of the items the run ended with (its `main` output).
    pub fn output(&self) -> Vec<serde_json::Value> {
        self.result
            .as_ref()
            .and_then(|r| r.get("main"))
            .map(items_json)
            .unwrap_or_default()
    }
}
