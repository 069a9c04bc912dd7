//! Run commands: start, wait, cancel, resume, retry, replay, prune. The
//! API meets runs through these.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use n8n_work_runtime::Item;
use n8n_work_store::{ExecutionRow, NewExecution, StepKey, WorkflowVersion};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::{Compiled, Engine, EngineError};

impl Engine {
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
            return Err(EngineError::Conflict(format!(
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
                    EngineError::Conflict(format!(
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
            .ok_or_else(|| EngineError::Conflict(format!("run `{id}` has no steps to retry")))?;
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

    /// Starts a run of version `version` of `workflow_id` at its trigger
    /// node `trigger`, as [`Engine::start_at`] does, from the compiled
    /// workflow this process keeps (a webhook's path, without reading the
    /// version from the store).
    pub async fn start_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i64,
        trigger: &str,
        items: Vec<Item>,
    ) -> Result<String, EngineError> {
        let (_, run) = self
            .run_at_trigger(tenant, workflow_id, version, trigger, items)
            .await?;
        self.start_run(run).await
    }

    /// The compiled workflow `workflow_id` at `version`, and a new run of it
    /// at its trigger node `trigger`.
    pub(crate) async fn run_at_trigger(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i64,
        trigger: &str,
        items: Vec<Item>,
    ) -> Result<(Arc<Compiled>, NewExecution), EngineError> {
        let compiled = self.compiled(tenant, workflow_id, version).await?;
        let run = self.run_of(
            &compiled,
            tenant,
            workflow_id,
            version,
            Some(trigger),
            items,
            None,
        )?;
        Ok((compiled, run))
    }

    pub(crate) async fn start_run(&self, run: NewExecution) -> Result<String, EngineError> {
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
    pub(crate) async fn new_run(
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
    pub(crate) fn run_of(
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
            return Err(EngineError::BadRequest(match trigger {
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
            let idle = Duration::from_millis(self.inner.config.waiter_poll_ms.max(1) as u64);
            let _ = tokio::time::timeout(idle, ended).await;
        }
    }

    /// Waits until run `id` has ended or parked: every step it has left
    /// waits for a time, a resume call or a sub-workflow. A parked run
    /// costs no work until it is woken, so what admits work may count it
    /// as done.
    pub async fn settle(&self, tenant: &str, id: &str) -> Result<(), EngineError> {
        loop {
            let (told, changed) = oneshot::channel();
            if let Ok(mut waiters) = self.inner.waiters.lock() {
                waiters.entry(id.to_owned()).or_default().push(told);
            }
            if !self.is_driven_here(id) && !self.inner.store.is_busy(tenant, id).await? {
                return Ok(());
            }
            let idle = Duration::from_millis(self.inner.config.waiter_poll_ms.max(1) as u64);
            let _ = tokio::time::timeout(idle, changed).await;
        }
    }

    /// Whether this process drives run `id` in memory now.
    fn is_driven_here(&self, id: &str) -> bool {
        self.inner
            .driving
            .lock()
            .map(|driving| driving.contains(id))
            .unwrap_or(false)
    }

    /// Marks run `id` as driven in memory here until the guard returned is
    /// dropped, or the run ends or parks.
    pub(crate) fn driving(&self, id: &str) -> Driving {
        if let Ok(mut driving) = self.inner.driving.lock() {
            driving.insert(id.to_owned());
        }
        Driving {
            engine: self.clone(),
            id: id.to_owned(),
        }
    }

    /// Tells those waiting for run `id` that it ended or parked: they
    /// look again.
    pub(crate) fn ended(&self, id: &str) {
        if let Ok(mut driving) = self.inner.driving.lock() {
            driving.remove(id);
        }
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
}

/// A run driven in memory here, until dropped.
pub(crate) struct Driving {
    engine: Engine,
    id: String,
}

impl Drop for Driving {
    fn drop(&mut self) {
        if let Ok(mut driving) = self.engine.inner.driving.lock() {
            driving.remove(&self.id);
        }
    }
}
