//! Runs that execute where they start: a synchronous webhook (or a manual
//! run that waits) runs in the caller's own task, its state in memory, and
//! appends to its journal only at durable points — before a step that calls
//! out (a component: it may act on the world), and when the run ends. Pure
//! control nodes between two durable points cost no write; a run of control
//! nodes only costs one append, in the writer's next group commit.
//!
//! Anything but a step that completes (a retry, a failure, a Wait, a
//! sub-workflow, a cancellation) is handed to the step queue: the run's rows
//! are appended with that step running under this process's lease, the
//! outcome is recorded by the store as for any claimed step, and the run
//! goes on in the workers. Should this process die at a durable point, the
//! lease lapses and a worker resumes the run from its rows: steps recorded
//! as done are not run again, the one in flight runs again with the same
//! idempotency key.

use std::time::Duration;

use n8n_work_model::NodeType;
use n8n_work_store::{
    Append, Appended, Claimed, Completion, ExecutionRow, ExecutionStatus, JournalRun, JournalStep,
    Millis, NewExecution, NewStep, NodeStateWrite, Outcome, StepKey, StepKind, StepStatus, Usage,
    append_items,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::{Compiled, Engine, EngineError};

/// A run held in memory by the task that executes it. Its transitions are
/// the store's (`ops::complete`'s) for steps that complete, kept in memory.
pub(crate) struct InlineRun {
    run: JournalRun,
    /// Whether the run's row is in the store yet.
    written: bool,
    steps: Vec<InlineStep>,
    /// Node state that steps completed since the last append changed: it
    /// lands with their rows.
    node_state: Vec<NodeStateWrite>,
}

struct InlineStep {
    row: JournalStep,
    /// Changed since the last append.
    dirty: bool,
    /// How the claim that handed this run over woke the step, passed to
    /// its next attempt as the queue would pass it.
    woken: Option<Woken>,
}

/// A step woken from a wait: by its due time, or by a resume call's data.
struct Woken {
    was_waiting: bool,
    resume: Option<Value>,
}

impl InlineRun {
    /// A run of `start`, its trigger step ready now.
    pub(crate) fn new(start: &NewExecution, now: Millis) -> InlineRun {
        let mut run = InlineRun {
            run: JournalRun {
                tenant: start.tenant.clone(),
                id: start.id.clone(),
                workflow_id: start.workflow_id.clone(),
                version: start.version,
                status: ExecutionStatus::Running,
                sequential: start.sequential,
                next_seq: 1,
                error: None,
                result: None,
                response: None,
                created_at: now,
                finished_at: None,
            },
            written: false,
            steps: Vec::new(),
            node_state: Vec::new(),
        };
        run.insert_step(
            &start.trigger,
            0,
            StepStatus::Ready,
            1,
            json!({ "main": start.items }),
            now,
        );
        run
    }

    /// A run taken over from its journal by the worker that claimed its
    /// step `claimed`, which runs first; `None` unless the run is that
    /// worker's alone: running, and no other step ready, running or waiting
    /// (which another worker could claim). Queued and collecting steps move
    /// only when a step of the run completes, so they stay its too.
    pub(crate) fn take_over(
        run: JournalRun,
        steps: Vec<JournalStep>,
        claimed: &Claimed,
    ) -> Option<InlineRun> {
        if run.status != ExecutionStatus::Running {
            return None;
        }
        let mut found = false;
        for step in &steps {
            if step.seq == claimed.key.seq {
                found = step.status == StepStatus::Running && step.attempt == claimed.attempt;
            } else if matches!(
                step.status,
                StepStatus::Ready | StepStatus::Running | StepStatus::Waiting
            ) {
                return None;
            }
        }
        if !found {
            return None;
        }
        let mut taken = InlineRun {
            run,
            written: true,
            steps: steps
                .into_iter()
                .map(|row| InlineStep {
                    row,
                    dirty: false,
                    woken: None,
                })
                .collect(),
            node_state: Vec::new(),
        };
        // The claim began this attempt; the driver begins it (again).
        let step = taken
            .steps
            .iter_mut()
            .find(|s| s.row.seq == claimed.key.seq)?;
        step.row.status = StepStatus::Ready;
        // A woken wait's claim began no attempt; the driver's begin counts
        // one all the same, so the attempt is the queue's either way.
        step.row.attempt -= 1;
        if claimed.was_waiting || claimed.resume.is_some() {
            step.woken = Some(Woken {
                was_waiting: claimed.was_waiting,
                resume: claimed.resume.clone(),
            });
        }
        Some(taken)
    }

    /// Reserves `n` sequence numbers and returns the first.
    fn alloc(&mut self, n: i64) -> i64 {
        let first = self.run.next_seq;
        self.run.next_seq += n;
        first
    }

    fn insert_step(
        &mut self,
        node_id: &str,
        iteration: i64,
        status: StepStatus,
        inputs_expected: i64,
        input: Value,
        now: Millis,
    ) {
        let seq = self.alloc(1);
        // run / node / iteration, plus how many times the node was reached
        // before in the same iteration, as the store names them.
        let earlier = self
            .steps
            .iter()
            .filter(|s| {
                s.row.node_id == node_id
                    && s.row.iteration == iteration
                    && s.row.kind == StepKind::Node
            })
            .count();
        let mut key = format!("{}/{node_id}/{iteration}", self.run.id);
        if earlier > 0 {
            key.push_str(&format!("#{earlier}"));
        }
        self.steps.push(InlineStep {
            row: JournalStep {
                seq,
                node_id: node_id.to_owned(),
                iteration,
                kind: StepKind::Node,
                status,
                attempt: 0,
                idempotency_key: key,
                due_at: Some(now),
                lease_owner: None,
                lease_expires: None,
                inputs_expected,
                done_order: None,
                error: None,
                usage: Usage::default(),
                created_at: now,
                started_at: None,
                finished_at: None,
                input,
                output: None,
                state: None,
                logs: None,
            },
            dirty: true,
            woken: None,
        });
    }

    /// The ready steps, in the order the store would claim them: earliest
    /// due, then lowest sequence number.
    pub(crate) fn ready(&self) -> Vec<usize> {
        let mut ready: Vec<usize> = (0..self.steps.len())
            .filter(|&i| self.steps[i].row.status == StepStatus::Ready)
            .collect();
        ready.sort_by_key(|&i| (self.steps[i].row.due_at, self.steps[i].row.seq));
        ready
    }

    /// Starts an attempt of step `index`, leased to `owner`.
    pub(crate) fn begin(
        &mut self,
        index: usize,
        owner: &str,
        lease_until: Millis,
        now: Millis,
    ) -> Claimed {
        let step = &mut self.steps[index];
        step.dirty = true;
        let woken = step.woken.take();
        let row = &mut step.row;
        row.status = StepStatus::Running;
        row.attempt += 1;
        row.lease_owner = Some(owner.to_owned());
        row.lease_expires = Some(lease_until);
        row.started_at = Some(now);
        Claimed {
            key: StepKey {
                tenant: self.run.tenant.clone(),
                execution_id: self.run.id.clone(),
                seq: row.seq,
            },
            workflow_id: self.run.workflow_id.clone(),
            version: self.run.version,
            run_started_at: self.run.created_at,
            node_id: row.node_id.clone(),
            iteration: row.iteration,
            kind: row.kind,
            attempt: row.attempt,
            idempotency_key: row.idempotency_key.clone(),
            input: row.input.clone(),
            state: row.state.clone(),
            was_waiting: woken.as_ref().is_some_and(|w| w.was_waiting),
            resume: woken.and_then(|w| w.resume),
        }
    }

    /// Records that step `index` completed, makes its successors ready,
    /// and ends the run when nothing is left.
    pub(crate) fn complete(&mut self, index: usize, done: Completed, now: Millis) {
        let order = self.alloc(1);
        let step = &mut self.steps[index];
        step.dirty = true;
        let row = &mut step.row;
        row.status = StepStatus::Done;
        row.done_order = Some(order);
        row.error = None;
        row.lease_owner = None;
        row.lease_expires = None;
        row.finished_at = Some(now);
        row.usage = done.usage;
        row.output = Some(done.outputs);
        if done.state.is_some() {
            row.state = done.state;
        }
        if !done.logs.is_empty() {
            row.logs = Some(Value::Array(done.logs));
        }
        if let Some(response) = done.response {
            self.run.response = Some(response);
        }
        self.node_state.extend(done.node_state);
        for next in &done.successors {
            self.add_successor(next, now);
        }
        self.settle(now);
    }

    fn add_successor(&mut self, next: &NewStep, now: Millis) {
        let waiting = if self.run.sequential {
            StepStatus::Queued
        } else {
            StepStatus::Ready
        };
        if next.inputs_expected > 1
            && let Some(open) = self.steps.iter_mut().find(|s| {
                s.row.node_id == next.node_id
                    && s.row.iteration == next.iteration
                    && s.row.status == StepStatus::Collecting
            })
        {
            open.dirty = true;
            append_items(&mut open.row.input, &next.input_name, &next.items);
            if open.row.input.as_object().map_or(0, |m| m.len()) >= next.inputs_expected as usize {
                open.row.status = waiting;
                open.row.due_at = Some(now);
            }
            return;
        }
        let mut input = json!({});
        append_items(&mut input, &next.input_name, &next.items);
        let status = if next.inputs_expected > 1 {
            StepStatus::Collecting
        } else {
            waiting
        };
        self.insert_step(
            &next.node_id,
            next.iteration,
            status,
            i64::from(next.inputs_expected),
            input,
            now,
        );
    }

    /// After a step completed: lets the next queued step go, releases
    /// Merges that nothing can feed any more, and ends the run when nothing
    /// is left (the store's `settle`).
    fn settle(&mut self, now: Millis) {
        let busy = self.steps.iter().any(|s| {
            matches!(
                s.row.status,
                StepStatus::Ready | StepStatus::Running | StepStatus::Waiting
            )
        });
        if busy || self.promote_newest(now) {
            return;
        }
        let mut released = false;
        let status = if self.run.sequential {
            StepStatus::Queued
        } else {
            StepStatus::Ready
        };
        for step in &mut self.steps {
            if step.row.status == StepStatus::Collecting {
                step.row.status = status;
                step.row.due_at = Some(now);
                step.dirty = true;
                released = true;
            }
        }
        if released {
            if self.run.sequential {
                self.promote_newest(now);
            }
            return;
        }
        self.run.status = ExecutionStatus::Succeeded;
        self.run.finished_at = Some(now);
        self.run.result = self
            .steps
            .iter()
            .filter(|s| s.row.status == StepStatus::Done && s.row.kind == StepKind::Node)
            .max_by_key(|s| s.row.done_order)
            .and_then(|s| s.row.output.clone());
    }

    /// Makes the newest queued step ready (one branch at a time).
    fn promote_newest(&mut self, now: Millis) -> bool {
        let Some(step) = self
            .steps
            .iter_mut()
            .filter(|s| s.row.status == StepStatus::Queued)
            .max_by_key(|s| s.row.seq)
        else {
            return false;
        };
        step.row.status = StepStatus::Ready;
        step.row.due_at = Some(now);
        step.dirty = true;
        true
    }

    /// Whether the run has ended.
    pub(crate) fn ended(&self) -> bool {
        self.run.status.is_final()
    }

    /// The outputs of its completed node steps in the order they completed,
    /// as [`n8n_work_store::Store::outputs`] reads them.
    pub(crate) fn outputs(&self) -> Vec<(String, Value)> {
        let mut done: Vec<&InlineStep> = self
            .steps
            .iter()
            .filter(|s| s.row.status == StepStatus::Done && s.row.kind == StepKind::Node)
            .collect();
        done.sort_by_key(|s| s.row.done_order);
        done.into_iter()
            .map(|s| {
                (
                    s.row.node_id.clone(),
                    s.row.output.clone().unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// The state node `node_id` kept in its latest completed step.
    pub(crate) fn latest_state(&self, node_id: &str) -> Option<Value> {
        self.steps
            .iter()
            .filter(|s| s.row.node_id == node_id && s.row.status == StepStatus::Done)
            .max_by_key(|s| s.row.done_order)
            .and_then(|s| s.row.state.clone())
    }

    /// What changed since the last append; afterwards nothing has. With
    /// `hold` (this process's owner name and lease), steps ready here are
    /// written as running under that lease: the run is this process's, and
    /// no worker claims its steps unless the lease lapses. Without, they are
    /// written ready, for the workers to take.
    pub(crate) fn take_append(&mut self, hold: Option<(&str, Millis)>) -> Append {
        let first = !self.written;
        self.written = true;
        let steps = self
            .steps
            .iter_mut()
            // Once released, ready steps held so far are written again.
            .filter_map(|s| {
                let dirty = std::mem::take(&mut s.dirty);
                (dirty || (hold.is_none() && s.row.status == StepStatus::Ready)).then_some(s)
            })
            .map(|s| {
                let mut row = s.row.clone();
                if let (StepStatus::Ready, Some((owner, until))) = (row.status, hold) {
                    row.status = StepStatus::Running;
                    row.lease_owner = Some(owner.to_owned());
                    row.lease_expires = Some(until);
                }
                row
            })
            .collect();
        Append {
            run: self.run.clone(),
            first,
            steps,
            node_state: std::mem::take(&mut self.node_state),
        }
    }

    /// The run's row as the store would read it.
    pub(crate) fn row(&self) -> ExecutionRow {
        ExecutionRow {
            tenant: self.run.tenant.clone(),
            id: self.run.id.clone(),
            workflow_id: self.run.workflow_id.clone(),
            version: self.run.version,
            status: self.run.status,
            error: self.run.error.clone(),
            result: self.run.result.clone(),
            response: self.run.response.clone(),
            parent: None,
            created_at: self.run.created_at,
            finished_at: self.run.finished_at,
        }
    }
}

/// Where a run driven here went.
enum Driven {
    /// It ended here.
    Ended(Box<ExecutionRow>),
    /// The workers (or whoever cancelled it) have it now.
    Elsewhere,
    /// The workers have it now, and a respond node has already given its
    /// answer (the run as it was then).
    Answered(Box<ExecutionRow>),
}

/// A step that completed, as [`InlineRun::complete`] records it.
pub(crate) struct Completed {
    pub(crate) outputs: Value,
    pub(crate) successors: Vec<NewStep>,
    pub(crate) response: Option<Value>,
    pub(crate) state: Option<Value>,
    pub(crate) node_state: Option<NodeStateWrite>,
    pub(crate) usage: Usage,
    pub(crate) logs: Vec<Value>,
}

impl Engine {
    /// Runs `workflow_id` at `version` from its trigger node `trigger` with
    /// `items` here, in the caller's task, and returns the ended run. A
    /// caller that may be dropped before the run ends (a request's task,
    /// when its client hangs up) runs this in a task of its own: dropped
    /// midway, the run stays held under this process's lease until the
    /// lease lapses, as if the process had died. The run
    /// is recorded before this returns; steps that call out are journaled
    /// before they do. A run that retries, parks or fails continues in the
    /// workers, and this waits for it to end, as [`Engine::wait`] does;
    /// unless a respond node has answered by then: the run as it is then
    /// comes back at once (still running, with its response), as n8n
    /// answers at its Respond to Webhook node.
    pub async fn run_here(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i64,
        trigger: &str,
        items: Vec<n8n_work_runtime::Item>,
    ) -> Result<ExecutionRow, EngineError> {
        let (compiled, start) = self
            .run_at_trigger(tenant, workflow_id, version, trigger, items)
            .await?;
        let run = InlineRun::new(&start, self.inner.clock.now());
        match self.drive_here(&compiled, run).await? {
            Driven::Ended(row) | Driven::Answered(row) => Ok(*row),
            Driven::Elsewhere => self.wait(tenant, &start.id).await,
        }
    }

    /// Records the start of `start` (its trigger step held by this process)
    /// and drives the run here in a task of its own; returns once the start
    /// is committed. A start whose id exists already starts nothing.
    pub(crate) async fn start_here(&self, start: &NewExecution) -> Result<(), EngineError> {
        let compiled = self
            .compiled(&start.tenant, &start.workflow_id, start.version)
            .await?;
        let mut run = InlineRun::new(start, self.inner.clock.now());
        // Driven from here on, before the caller hears of the start.
        let driving = self.driving(&start.id);
        let (committed, started) = oneshot::channel();
        let engine = self.clone();
        let span = tracing::info_span!(parent: None, "run", execution_id = %start.id);
        // The start is committed and the run driven in a task of its own:
        // a caller that goes away meanwhile (a client that hangs up) does
        // not leave a committed run held under this process's lease, and
        // idle until the lease lapses.
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let _driving = driving;
                let appended = engine.append(&mut run, true).await;
                let go = matches!(appended, Ok(true));
                let _ = committed.send(appended);
                if !go {
                    return;
                }
                if let Err(e) = engine.drive_here(&compiled, run).await {
                    tracing::error!(error = %e, "a run started here stopped; a worker resumes it once its lease lapses");
                }
            },
            span,
        ));
        started
            .await
            .map_err(|_| EngineError::Internal("the task starting a run stopped".into()))?
            .map(|_| ())
    }

    /// Runs the run of `step`, which this worker claimed, here to its end
    /// when the run is this worker's alone; gives the step back otherwise.
    pub(crate) async fn take_over(&self, step: Claimed) -> Result<Option<Claimed>, EngineError> {
        // A compensation goes through the queue; so does a child run, whose
        // end wakes its parent. A step woken from a wait (by its time, a
        // resume call or a sub-workflow's end) is driven here like any.
        if !self.inner.config.drives_runs || step.kind != StepKind::Node {
            return Ok(Some(step));
        }
        let (run, steps, parent) = self
            .inner
            .store
            .journal(&step.key.tenant, &step.key.execution_id)
            .await?;
        let Some(run) = InlineRun::take_over(run, steps, &step).filter(|_| !parent) else {
            return Ok(Some(step));
        };
        let compiled = self
            .compiled(&step.key.tenant, &step.workflow_id, step.version)
            .await?;
        // From here on the run is driven: should the store fail, the run's
        // leases lapse and it is resumed from its journal.
        if let Err(e) = self.drive_here(&compiled, run).await {
            tracing::error!(error = %e, "a run taken over here stopped; a worker resumes it once its lease lapses");
        }
        Ok(None)
    }

    /// Drives `run` until it ends, or hands it to the workers.
    async fn drive_here(
        &self,
        compiled: &Compiled,
        mut run: InlineRun,
    ) -> Result<Driven, EngineError> {
        let inner = &self.inner;
        let owner = &inner.config.owner;
        let _driving = self.driving(&run.run.id);
        loop {
            let ready = run.ready();
            if ready.is_empty() {
                break;
            }
            let now = inner.clock.now();
            let until = now + inner.config.lease_ms;
            let steps: Vec<(usize, Claimed)> = ready
                .into_iter()
                .map(|index| (index, run.begin(index, owner, until, now)))
                .collect();
            let calls_out = steps.iter().any(|(_, step)| {
                compiled.plan.index_of(&step.node_id).is_none_or(|i| {
                    !matches!(compiled.plan.node(i).node_type, NodeType::Control(_))
                })
            });
            if calls_out && !self.append(&mut run, true).await? {
                return self.lost(&run).await;
            }
            let memory = &run;
            let outcomes = self
                .leased(
                    calls_out,
                    futures::future::join_all(steps.iter().map(|(_, step)| async move {
                        let token = CancellationToken::new();
                        self.track(step, &token);
                        let began = std::time::Instant::now();
                        let result = self.execute_with(step, &token, Some(memory)).await;
                        self.count(step, &result.0, began.elapsed());
                        self.untrack(step);
                        result
                    })),
                )
                .await;
            let mut handover = Vec::new();
            for ((index, step), (outcome, usage, logs)) in steps.into_iter().zip(outcomes) {
                match outcome {
                    Outcome::Done {
                        outputs,
                        successors,
                        response,
                        state,
                        node_state,
                    } => {
                        let done = Completed {
                            outputs,
                            successors,
                            response,
                            state,
                            node_state,
                            usage,
                            logs,
                        };
                        run.complete(index, done, inner.clock.now());
                    }
                    outcome => handover.push(Completion {
                        key: step.key,
                        owner: owner.clone(),
                        outcome,
                        usage,
                        logs,
                        claim: None,
                    }),
                }
            }
            if !handover.is_empty() {
                // The store decides what follows, with those steps held
                // under this process's lease; the workers go on from there.
                let appended = self.append(&mut run, false).await?;
                // Recorded or not, the steps that ended here end in the
                // store (a cancelled one as cancelled).
                for completion in handover {
                    let applied = self.record(completion).await?;
                    for (execution, _) in &applied.finished {
                        self.ended(execution);
                    }
                }
                if !appended {
                    return self.lost(&run).await;
                }
                inner.wake.notify_one();
                self.changed(&run.run.tenant, &run.run.workflow_id, &run.run.id);
                // A respond node answered before the run parked, retried
                // or failed: as in n8n, that answer goes out now, the run
                // going on in the workers.
                if run.run.response.is_some() && run.run.status == ExecutionStatus::Running {
                    return Ok(Driven::Answered(Box::new(run.row())));
                }
                return Ok(Driven::Elsewhere);
            }
        }
        if !self.append(&mut run, false).await? {
            return self.lost(&run).await;
        }
        debug_assert!(run.ended(), "a run with nothing ready has ended");
        self.ended(&run.run.id);
        Ok(Driven::Ended(Box::new(run.row())))
    }

    /// The run is no longer this process's (it was cancelled meanwhile):
    /// the steps it holds here end, so no lease of this process lingers.
    async fn lost(&self, run: &InlineRun) -> Result<Driven, EngineError> {
        self.inner
            .store
            .release(&run.run.tenant, &run.run.id, &self.inner.config.owner)
            .await?;
        self.ended(&run.run.id);
        Ok(Driven::Elsewhere)
    }

    /// Appends what changed in `run`, holding its ready steps for this
    /// process (`hold`) or leaving them to the workers; false when the run
    /// is no longer this process's to write (it was cancelled meanwhile, or
    /// a start's id exists already).
    async fn append(&self, run: &mut InlineRun, hold: bool) -> Result<bool, EngineError> {
        let until = self.inner.clock.now() + self.inner.config.lease_ms;
        let owner = &self.inner.config.owner;
        let append = run.take_append(hold.then_some((owner.as_str(), until)));
        let appended = self.inner.store.append(append).await?;
        self.changed(&run.run.tenant, &run.run.workflow_id, &run.run.id);
        Ok(appended == Appended::Recorded)
    }

    /// Runs `work` while keeping this process's leases alive, when steps
    /// are journaled as running here (no worker loop may be heartbeating in
    /// this process: an API-only one).
    async fn leased<T>(&self, journaled: bool, work: impl Future<Output = T>) -> T {
        if !journaled {
            return work.await;
        }
        let lease = self.inner.config.lease_ms;
        let mut beat = tokio::time::interval(Duration::from_millis((lease / 3).max(1) as u64));
        beat.tick().await;
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = beat.tick() => {
                    let until = self.inner.clock.now() + lease;
                    if let Err(e) = self.inner.store.heartbeat(&self.inner.config.owner, until).await {
                        tracing::warn!(error = %e, "could not extend the leases of steps running here");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(sequential: bool) -> NewExecution {
        NewExecution {
            tenant: "default".into(),
            id: "run".into(),
            workflow_id: "wf".into(),
            version: 1,
            trigger: "hook".into(),
            items: json!([{ "json": { "a": 1 } }]),
            sequential,
            parent: None,
        }
    }

    fn next(node: &str, input: &str, expected: u32) -> NewStep {
        NewStep {
            node_id: node.into(),
            iteration: 0,
            input_name: input.into(),
            items: json!([{ "json": { "from": node } }]),
            inputs_expected: expected,
        }
    }

    fn done(successors: Vec<NewStep>) -> Completed {
        Completed {
            outputs: json!({ "main": [] }),
            successors,
            response: None,
            state: None,
            node_state: None,
            usage: Usage::default(),
            logs: vec![],
        }
    }

    /// Runs the ready steps in the order the store would claim them, each
    /// completing with the successors `graph` names; returns the order.
    fn drive(run: &mut InlineRun, graph: &dyn Fn(&str) -> Vec<NewStep>) -> Vec<String> {
        let mut order = vec![];
        while let Some(&index) = run.ready().first() {
            let step = run.begin(index, "me", 10, 1);
            order.push(step.node_id.clone());
            run.complete(index, done(graph(&step.node_id)), 2);
        }
        order
    }

    #[test]
    fn a_chain_ends_with_the_last_steps_output_as_result() {
        let mut run = InlineRun::new(&start(false), 1);
        let order = drive(&mut run, &|node| match node {
            "hook" => vec![next("set", "main", 1)],
            _ => vec![],
        });
        assert_eq!(order, ["hook", "set"]);
        assert!(run.ended());
        let append = run.take_append(None);
        assert!(append.first);
        assert_eq!(append.run.status, ExecutionStatus::Succeeded);
        assert_eq!(append.steps.len(), 2);
        assert!(append.steps.iter().all(|s| s.status == StepStatus::Done));
        // Sequence numbers and completion order share one counter.
        assert_eq!(append.steps[1].done_order, Some(4));
        assert_eq!(append.run.next_seq, 5);
        assert!(
            run.take_append(None).steps.is_empty(),
            "nothing changed since"
        );
    }

    #[test]
    fn held_ready_steps_are_written_running_under_the_lease_until_released() {
        let mut run = InlineRun::new(&start(false), 1);
        let trigger = run.ready()[0];
        run.begin(trigger, "me", 10, 1);
        run.complete(trigger, done(vec![next("a", "main", 1)]), 2);
        let held = run.take_append(Some(("me", 50)));
        let a = held.steps.iter().find(|s| s.node_id == "a").unwrap();
        assert_eq!(
            (
                a.status,
                a.attempt,
                a.lease_owner.as_deref(),
                a.lease_expires
            ),
            (StepStatus::Running, 0, Some("me"), Some(50))
        );
        assert!(run.take_append(Some(("me", 60))).steps.is_empty());
        // Released to the workers: ready again, unleased.
        let released = run.take_append(None);
        assert_eq!(released.steps.len(), 1);
        assert_eq!(
            (
                released.steps[0].status,
                released.steps[0].lease_owner.as_deref()
            ),
            (StepStatus::Ready, None)
        );
    }

    #[test]
    fn a_run_is_taken_over_only_when_no_other_step_can_be_claimed() {
        let mut run = InlineRun::new(&start(false), 1);
        let trigger = run.ready()[0];
        run.begin(trigger, "me", 10, 1);
        run.complete(
            trigger,
            done(vec![next("a", "main", 1), next("b", "main", 1)]),
            2,
        );
        let rows: Vec<JournalStep> = run.steps.iter().map(|s| s.row.clone()).collect();
        let mut claimed_a = run.begin(1, "worker", 10, 3);
        claimed_a.attempt = 1;
        let mut with_a_running = rows;
        with_a_running[1].status = StepStatus::Running;
        with_a_running[1].attempt = 1;
        // `b` is ready: another worker may claim it.
        assert!(
            InlineRun::take_over(run.run.clone(), with_a_running.clone(), &claimed_a).is_none()
        );
        with_a_running[2].status = StepStatus::Done;
        let taken =
            InlineRun::take_over(run.run.clone(), with_a_running.clone(), &claimed_a).unwrap();
        assert_eq!(taken.ready(), vec![1], "the claimed step runs first");
        // A stale claim (another attempt began since) is not taken over.
        claimed_a.attempt = 2;
        assert!(InlineRun::take_over(run.run.clone(), with_a_running, &claimed_a).is_none());
    }

    #[test]
    fn a_merge_waits_for_both_inputs_then_runs_once() {
        let mut run = InlineRun::new(&start(false), 1);
        let order = drive(&mut run, &|node| match node {
            "hook" => vec![next("a", "main", 1), next("b", "main", 1)],
            "a" => vec![next("merge", "input1", 2)],
            "b" => vec![next("merge", "input2", 2)],
            _ => vec![],
        });
        assert_eq!(order, ["hook", "a", "b", "merge"]);
        let append = run.take_append(None);
        let merge = append.steps.iter().find(|s| s.node_id == "merge").unwrap();
        assert_eq!(
            merge.input.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["input1", "input2"]
        );
    }

    #[test]
    fn sequential_order_runs_the_newest_queued_branch_first() {
        let mut run = InlineRun::new(&start(true), 1);
        let order = drive(&mut run, &|node| match node {
            "hook" => vec![next("low", "main", 1), next("top", "main", 1)],
            _ => vec![],
        });
        assert_eq!(order, ["hook", "top", "low"]);
    }

    #[test]
    fn a_node_reached_twice_gets_a_second_idempotency_key() {
        let mut run = InlineRun::new(&start(false), 1);
        drive(&mut run, &|node| match node {
            "hook" => vec![next("x", "main", 1), next("x", "main", 1)],
            _ => vec![],
        });
        let keys: Vec<String> = run
            .take_append(None)
            .steps
            .into_iter()
            .filter(|s| s.node_id == "x")
            .map(|s| s.idempotency_key)
            .collect();
        assert_eq!(keys, ["run/x/0", "run/x/0#1"]);
    }
}
