//! The worker loop: claim due steps under a lease, run each in a task of
//! its own, record its outcome; reclaim leases that lapsed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use n8n_work_store::{Applied, Claimed, Completion, Millis, Outcome, StoreError};
use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineError, metrics};

impl Engine {
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

    pub(crate) async fn drive(
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
    pub(crate) async fn reclaim_expired(&self, last: &mut Millis) {
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
    pub(crate) fn spawn_step(&self, step: Claimed) {
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

    /// Cancels the steps of run `execution` running here (it was cancelled).
    pub(crate) fn interrupt(&self, execution: &str) {
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
    pub(crate) fn track(&self, step: &Claimed, token: &CancellationToken) {
        if let Ok(mut running) = self.inner.running.lock() {
            running
                .entry(step.key.execution_id.clone())
                .or_default()
                .push((step.key.seq, token.clone()));
        }
    }

    /// Notes that `step` no longer runs here.
    pub(crate) fn untrack(&self, step: &Claimed) {
        if let Ok(mut running) = self.inner.running.lock()
            && let Some(tokens) = running.get_mut(&step.key.execution_id)
        {
            tokens.retain(|(seq, _)| *seq != step.key.seq);
            if tokens.is_empty() {
                running.remove(&step.key.execution_id);
            }
        }
    }

    pub(crate) async fn run_claimed(self, step: Claimed) {
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
    pub(crate) async fn record(&self, mut completion: Completion) -> Result<Applied, StoreError> {
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
                Ok(applied) => {
                    // Those holding an admission place for the run give it
                    // back once it parks.
                    if matches!(completion.outcome, Outcome::Park { .. }) {
                        self.ended(&completion.key.execution_id);
                    }
                    return Ok(applied);
                }
                other => return other,
            }
        }
    }

    pub(crate) fn count(&self, step: &Claimed, outcome: &Outcome, took: Duration) {
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
}
