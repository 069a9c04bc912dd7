//! The store's operations: writes go through the group-commit writer,
//! reads straight to the pool.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::ops::{self, parse, parse_opt};
use crate::types::*;
use crate::{Result, Store, StoreError};

impl Store {
    /// Starts a run: the execution and its trigger step, ready now. An id
    /// that exists already starts nothing, so a start can be retried.
    pub async fn start(&self, run: NewExecution, now: Millis) -> Result<Started> {
        self.writer
            .write(move |conn| Box::pin(async move { ops::start_execution(conn, &run, now).await }))
            .await
    }

    /// Leases up to `limit` steps that are due to `owner` until `lease_until`.
    pub async fn claim(
        &self,
        owner: &str,
        limit: usize,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<Claimed>> {
        let owner = owner.to_owned();
        let backend = self.backend;
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    ops::claim(
                        conn,
                        backend,
                        ops::Scope::Any,
                        &owner,
                        limit as i64,
                        now,
                        lease_until,
                    )
                    .await
                })
            })
            .await
    }

    /// Records how a claimed step's attempt ended, and what follows.
    pub async fn complete(&self, completion: Completion, now: Millis) -> Result<Applied> {
        let backend = self.backend;
        self.writer
            .write(move |conn| {
                Box::pin(async move { ops::complete(conn, backend, completion, now).await })
            })
            .await
    }

    /// Extends the leases of every step `owner` runs.
    pub async fn heartbeat(&self, owner: &str, lease_until: Millis) -> Result<u64> {
        let owner = owner.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query(
                        "UPDATE steps SET lease_expires = $1 WHERE status = $3 AND lease_owner = $2",
                    )
                    .bind(lease_until)
                    .bind(&owner)
                    .bind(StepStatus::Running.as_str())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected())
                })
            })
            .await
    }

    /// Returns running steps to the queue: those whose lease has expired,
    /// or, with `all_but` (a store only this process uses), every lease not
    /// held by that owner.
    pub async fn reclaim(&self, now: Millis, all_but: Option<&str>) -> Result<u64> {
        let all_but = all_but.map(str::to_owned);
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let query = match &all_but {
                        Some(owner) => sqlx::query(
                            "UPDATE steps SET status = $3, due_at = $1, lease_owner = NULL, lease_expires = NULL \
                             WHERE status = $4 AND (lease_expires < $1 OR lease_owner <> $2)",
                        )
                        .bind(now)
                        .bind(owner.clone())
                        .bind(StepStatus::Ready.as_str())
                        .bind(StepStatus::Running.as_str()),
                        None => sqlx::query(
                            "UPDATE steps SET status = $2, due_at = $1, lease_owner = NULL, lease_expires = NULL \
                             WHERE status = $3 AND lease_expires < $1",
                        )
                        .bind(now)
                        .bind(StepStatus::Ready.as_str())
                        .bind(StepStatus::Running.as_str()),
                    };
                    Ok(query.execute(&mut *conn).await?.rows_affected())
                })
            })
            .await
    }

    /// Cancels a run: its waiting and queued steps end now; running ones end
    /// when their worker sees it.
    pub async fn cancel(&self, tenant: &str, execution: &str, now: Millis) -> Result<Applied> {
        let (tenant, execution) = (tenant.to_owned(), execution.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move { ops::cancel(conn, &tenant, &execution, now).await })
            })
            .await
    }

    /// Wakes the step parked under `token` with `data`.
    pub async fn resume(
        &self,
        tenant: &str,
        token: &str,
        data: Value,
        now: Millis,
    ) -> Result<StepKey> {
        let (tenant, token) = (tenant.to_owned(), token.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move { ops::resume(conn, &tenant, &token, &data, now).await })
            })
            .await
    }

    /// Runs a dead-lettered step again, and reopens its run.
    pub async fn replay(&self, tenant: &str, dead_letter: &str, now: Millis) -> Result<StepKey> {
        let (tenant, id) = (tenant.to_owned(), dead_letter.to_owned());
        self.writer
            .write(move |conn| Box::pin(async move { ops::replay(conn, &tenant, &id, now).await }))
            .await
    }

    /// Stores a workflow under its name: a new version when the definition
    /// differs from the latest, the latest otherwise.
    ///
    /// With an `id`, the version goes to that workflow (which may be renamed
    /// by it) and a missing workflow is [`StoreError::NotFound`].
    pub async fn put_workflow(
        &self,
        tenant: &str,
        id: Option<&str>,
        name: &str,
        definition: Value,
        now: Millis,
    ) -> Result<WorkflowVersion> {
        let (tenant, id, name) = (tenant.to_owned(), id.map(str::to_owned), name.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    ops::put_workflow(conn, &tenant, id.as_deref(), &name, &definition, now).await
                })
            })
            .await
    }

    /// A tenant's workflows with their versions and last run, by name.
    pub async fn workflow_summaries(&self, tenant: &str) -> Result<Vec<WorkflowSummary>> {
        sqlx::query(
            "SELECT w.id, w.name, w.latest_version, w.active_version, w.created_at, w.updated_at, \
             e.id AS run_id, e.status AS run_status, e.created_at AS run_at \
             FROM workflows w LEFT JOIN executions e ON e.tenant_id = w.tenant_id AND e.id = \
             (SELECT MAX(x.id) FROM executions x WHERE x.tenant_id = w.tenant_id AND x.workflow_id = w.id) \
             WHERE w.tenant_id = $1 ORDER BY w.name",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            let run_id: Option<String> = row.try_get("run_id")?;
            Ok(WorkflowSummary {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                latest_version: row.try_get("latest_version")?,
                active_version: row.try_get("active_version")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                last_run: match run_id {
                    Some(id) => Some(LastRun {
                        execution_id: id,
                        status: ExecutionStatus::parse(&row.try_get::<String, _>("run_status")?),
                        started_at: row.try_get("run_at")?,
                    }),
                    None => None,
                },
            })
        })
        .collect()
    }

    /// How many runs each of a tenant's workflows has, by workflow id (only
    /// `workflow`'s when given); a workflow without runs is absent.
    pub async fn run_counts(
        &self,
        tenant: &str,
        workflow: Option<&str>,
    ) -> Result<std::collections::HashMap<String, RunCounts>> {
        // Two index scans: every run by (tenant, workflow), the failed ones
        // by (tenant, status); one GROUP BY over both columns reads the table.
        let count = |status: Option<ExecutionStatus>| {
            sqlx::query(
                "SELECT workflow_id, COUNT(*) AS runs FROM executions WHERE tenant_id = $1 \
                 AND ($2 = '' OR workflow_id = $2) AND ($3 = '' OR status = $3) GROUP BY workflow_id",
            )
            .bind(tenant)
            .bind(workflow.unwrap_or_default())
            .bind(status.map_or("", ExecutionStatus::as_str))
            .fetch_all(self.pool())
        };
        let mut counts = std::collections::HashMap::<String, RunCounts>::new();
        for row in count(None).await? {
            counts.entry(row.try_get("workflow_id")?).or_default().total = row.try_get("runs")?;
        }
        for row in count(Some(ExecutionStatus::Failed)).await? {
            counts
                .entry(row.try_get("workflow_id")?)
                .or_default()
                .failed = row.try_get("runs")?;
        }
        Ok(counts)
    }

    /// One workflow's summary.
    pub async fn workflow_summary(&self, tenant: &str, id: &str) -> Result<WorkflowSummary> {
        self.workflow_summaries(tenant)
            .await?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("workflow `{id}`")))
    }

    /// A workflow's versions, oldest first: number and when it was made.
    pub async fn versions(&self, tenant: &str, workflow_id: &str) -> Result<Vec<(i64, Millis)>> {
        let rows = sqlx::query(
            "SELECT version, created_at FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2 ORDER BY version",
        )
        .bind(tenant)
        .bind(workflow_id)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("workflow `{workflow_id}`")));
        }
        rows.iter()
            .map(|row| Ok((row.try_get("version")?, row.try_get("created_at")?)))
            .collect()
    }

    /// Stops a workflow's triggers: no version is active afterwards.
    pub async fn deactivate(&self, tenant: &str, workflow_id: &str, now: Millis) -> Result<()> {
        let (tenant, id) = (tenant.to_owned(), workflow_id.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let changed = sqlx::query(
                        "UPDATE workflows SET active_version = NULL, updated_at = $1 WHERE tenant_id = $2 AND id = $3",
                    )
                    .bind(now)
                    .bind(&tenant)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        return Err(StoreError::NotFound(format!("workflow `{id}`")));
                    }
                    Ok(())
                })
            })
            .await
    }

    /// The last tick a schedule trigger fired, if it ever did.
    pub async fn last_tick(
        &self,
        tenant: &str,
        workflow_id: &str,
        node_id: &str,
    ) -> Result<Option<Millis>> {
        sqlx::query(
            "SELECT last_tick FROM schedule_ticks WHERE tenant_id = $1 AND workflow_id = $2 AND node_id = $3",
        )
        .bind(tenant)
        .bind(workflow_id)
        .bind(node_id)
        .fetch_optional(self.pool())
        .await?
        .map(|row| Ok(row.try_get("last_tick")?))
        .transpose()
    }

    /// Records that a schedule trigger fired `tick` (never moving backwards).
    pub async fn set_last_tick(
        &self,
        tenant: &str,
        workflow_id: &str,
        node_id: &str,
        tick: Millis,
    ) -> Result<()> {
        let (tenant, workflow, node) = (
            tenant.to_owned(),
            workflow_id.to_owned(),
            node_id.to_owned(),
        );
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO schedule_ticks (tenant_id, workflow_id, node_id, last_tick) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, workflow_id, node_id) DO UPDATE SET last_tick = excluded.last_tick \
                         WHERE schedule_ticks.last_tick < excluded.last_tick",
                    )
                    .bind(&tenant)
                    .bind(&workflow)
                    .bind(&node)
                    .bind(tick)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Deletes a workflow's finished runs older than `max_age_ms` or beyond
    /// the newest `max_count`; returns how many.
    pub async fn prune(
        &self,
        tenant: &str,
        workflow_id: &str,
        max_age_ms: Option<i64>,
        max_count: Option<i64>,
        now: Millis,
    ) -> Result<u64> {
        let (tenant, workflow) = (tenant.to_owned(), workflow_id.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    ops::prune(conn, &tenant, &workflow, max_age_ms, max_count, now).await
                })
            })
            .await
    }

    /// A run.
    pub async fn execution(&self, tenant: &str, id: &str) -> Result<ExecutionRow> {
        let row = sqlx::query(
            "SELECT id, workflow_id, version, status, error, result, response, parent_execution, \
             parent_seq, created_at, finished_at FROM executions WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("execution `{id}`")))?;
        execution_row(tenant, &row)
    }

    /// The runs of a workflow, newest first.
    pub async fn executions_of(
        &self,
        tenant: &str,
        workflow_id: &str,
    ) -> Result<Vec<ExecutionRow>> {
        sqlx::query(
            "SELECT id, workflow_id, version, status, error, result, response, parent_execution, \
             parent_seq, created_at, finished_at FROM executions WHERE tenant_id = $1 AND workflow_id = $2 \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant)
        .bind(workflow_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| execution_row(tenant, row))
        .collect()
    }

    /// A run's steps, in the order they were created.
    pub async fn steps(&self, tenant: &str, execution: &str) -> Result<Vec<StepRow>> {
        sqlx::query(
            "SELECT seq, node_id, iteration, kind, status, attempt, idempotency_key, due_at, lease_owner, \
             error, duration_us, fuel, peak_memory_bytes, egress_requests, egress_bytes, done_order, \
             created_at, started_at, finished_at FROM steps WHERE tenant_id = $1 AND execution_id = $2 \
             ORDER BY seq",
        )
        .bind(tenant)
        .bind(execution)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(step_row)
        .collect()
    }

    /// A step's items and logs.
    pub async fn payload(&self, tenant: &str, execution: &str, seq: i64) -> Result<StepPayload> {
        let row = sqlx::query(
            "SELECT input, output, logs FROM step_payloads WHERE tenant_id = $1 AND execution_id = $2 AND seq = $3",
        )
        .bind(tenant)
        .bind(execution)
        .bind(seq)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("step {seq} of execution `{execution}`")))?;
        Ok(StepPayload {
            input: parse(&row.try_get::<String, _>("input")?)?,
            output: parse_opt(row.try_get("output")?)?,
            logs: parse_opt(row.try_get("logs")?)?,
        })
    }

    /// The outputs of a run's finished node steps, in the order they
    /// finished: what expressions read as `$("Node")`.
    pub async fn outputs(&self, tenant: &str, execution: &str) -> Result<Vec<(String, Value)>> {
        sqlx::query(
            "SELECT s.node_id, p.output FROM steps s JOIN step_payloads p \
             ON p.tenant_id = s.tenant_id AND p.execution_id = s.execution_id AND p.seq = s.seq \
             WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.status = $3 AND s.kind = $4 \
             ORDER BY s.done_order",
        )
        .bind(tenant)
        .bind(execution)
        .bind(StepStatus::Done.as_str())
        .bind(StepKind::Node.as_str())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("node_id")?,
                parse_opt(row.try_get("output")?)?.unwrap_or(Value::Null),
            ))
        })
        .collect()
    }

    /// The loop state a node kept in its latest finished step of a run.
    pub async fn latest_state(
        &self,
        tenant: &str,
        execution: &str,
        node_id: &str,
    ) -> Result<Option<Value>> {
        let row = sqlx::query(
            "SELECT p.state FROM steps s JOIN step_payloads p \
             ON p.tenant_id = s.tenant_id AND p.execution_id = s.execution_id AND p.seq = s.seq \
             WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.node_id = $3 AND s.status = $4 \
             ORDER BY s.done_order DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(execution)
        .bind(node_id)
        .bind(StepStatus::Done.as_str())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => parse_opt(row.try_get("state")?),
            None => Ok(None),
        }
    }

    /// Whether run `execution` has a step to run or running. False once it
    /// ended, and while every step it has left is parked (on a time, a
    /// resume call or a sub-workflow) or gathering inputs behind one.
    pub async fn is_busy(&self, tenant: &str, execution: &str) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT 1 AS busy FROM steps WHERE tenant_id = $1 AND execution_id = $2 \
             AND status IN ($3, $4, $5) LIMIT 1",
        )
        .bind(tenant)
        .bind(execution)
        .bind(StepStatus::Queued.as_str())
        .bind(StepStatus::Ready.as_str())
        .bind(StepStatus::Running.as_str())
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    /// When the next parked or retrying step falls due, if any is waiting.
    pub async fn next_due(&self) -> Result<Option<Millis>> {
        Ok(
            sqlx::query("SELECT MIN(due_at) AS due FROM steps WHERE status IN ($1, $2)")
                .bind(StepStatus::Ready.as_str())
                .bind(StepStatus::Waiting.as_str())
                .fetch_one(self.pool())
                .await?
                .try_get("due")?,
        )
    }

    /// The queue as metrics see it: how many steps are due now, and since
    /// when the oldest of them has waited.
    pub async fn queue_depth(&self, now: Millis) -> Result<(i64, Option<Millis>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(due_at) AS oldest FROM steps WHERE status = $2 AND due_at <= $1",
        )
        .bind(now)
        .bind(StepStatus::Ready.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// The resume token of a parked step.
    pub async fn resume_token(&self, key: &StepKey) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT token FROM timers WHERE tenant_id = $1 AND execution_id = $2 AND seq = $3",
        )
        .bind(&key.tenant)
        .bind(&key.execution_id)
        .bind(key.seq)
        .fetch_optional(self.pool())
        .await?
        .map(|row| row.try_get("token"))
        .transpose()?)
    }

    /// Steps that failed for good, newest first.
    pub async fn dead_letters(&self, tenant: &str) -> Result<Vec<DeadLetter>> {
        sqlx::query(
            "SELECT id, execution_id, seq, node_id, error, created_at, replayed_at FROM dead_letters \
             WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(DeadLetter {
                id: row.try_get("id")?,
                execution_id: row.try_get("execution_id")?,
                seq: row.try_get("seq")?,
                node_id: row.try_get("node_id")?,
                error: parse(&row.try_get::<String, _>("error")?)?,
                created_at: row.try_get("created_at")?,
                replayed_at: row.try_get("replayed_at")?,
            })
        })
        .collect()
    }

    /// A workflow version, by workflow id and version.
    pub async fn workflow_version(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: i64,
    ) -> Result<WorkflowVersion> {
        let row = sqlx::query(
            "SELECT w.name, v.definition FROM workflow_versions v JOIN workflows w \
             ON w.tenant_id = v.tenant_id AND w.id = v.workflow_id \
             WHERE v.tenant_id = $1 AND v.workflow_id = $2 AND v.version = $3",
        )
        .bind(tenant)
        .bind(workflow_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!("version {version} of workflow `{workflow_id}`"))
        })?;
        Ok(WorkflowVersion {
            workflow_id: workflow_id.to_owned(),
            name: row.try_get("name")?,
            version,
            definition: parse(&row.try_get::<String, _>("definition")?)?,
        })
    }

    /// Every workflow's latest definition, by workflow id, in one query.
    pub async fn latest_definitions(
        &self,
        tenant: &str,
    ) -> Result<std::collections::HashMap<String, Value>> {
        let rows = sqlx::query(
            "SELECT v.workflow_id, v.definition FROM workflow_versions v JOIN workflows w \
             ON w.tenant_id = v.tenant_id AND w.id = v.workflow_id AND w.latest_version = v.version \
             WHERE v.tenant_id = $1",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("workflow_id")?,
                    parse(&row.try_get::<String, _>("definition")?)?,
                ))
            })
            .collect()
    }

    /// A workflow's active version, or its latest when none is active, by
    /// its name or, failing that, its id.
    pub async fn workflow_by_name(&self, tenant: &str, name: &str) -> Result<WorkflowVersion> {
        let row = sqlx::query(
            "SELECT id, COALESCE(active_version, latest_version) AS version FROM workflows \
             WHERE tenant_id = $1 AND (name = $2 OR id = $2) ORDER BY name = $2 DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("workflow `{name}`")))?;
        self.workflow_version(
            tenant,
            &row.try_get::<String, _>("id")?,
            row.try_get("version")?,
        )
        .await
    }

    /// Makes `version` of a workflow the one that runs (webhooks, schedules).
    pub async fn activate(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: Option<i64>,
        now: Millis,
    ) -> Result<i64> {
        let (tenant, id) = (tenant.to_owned(), workflow_id.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query("SELECT latest_version FROM workflows WHERE tenant_id = $1 AND id = $2")
                        .bind(&tenant)
                        .bind(&id)
                        .fetch_optional(&mut *conn)
                        .await?
                        .ok_or_else(|| StoreError::NotFound(format!("workflow `{id}`")))?;
                    let latest: i64 = row.try_get("latest_version")?;
                    let version = version.unwrap_or(latest);
                    if !(1..=latest).contains(&version) {
                        return Err(StoreError::NotFound(format!(
                            "version {version} of workflow `{id}` (it has versions 1 to {latest})"
                        )));
                    }
                    sqlx::query("UPDATE workflows SET active_version = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
                        .bind(version)
                        .bind(now)
                        .bind(&tenant)
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?;
                    Ok(version)
                })
            })
            .await
    }

    /// Active workflows: id and active version, in every tenant.
    pub async fn active_workflows(&self) -> Result<Vec<(String, String, i64)>> {
        sqlx::query(
            "SELECT tenant_id, id, active_version FROM workflows WHERE active_version IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("tenant_id")?,
                row.try_get("id")?,
                row.try_get("active_version")?,
            ))
        })
        .collect()
    }

    /// Runs, newest first, optionally of one workflow and in one status;
    /// `before` is the cursor: the id of the last run of the previous page.
    pub async fn list_executions(
        &self,
        tenant: &str,
        filter: &ExecutionFilter,
        limit: i64,
    ) -> Result<Vec<ExecutionRow>> {
        // Ids are UUID v7: their order is their start order.
        sqlx::query(
            "SELECT id, workflow_id, version, status, error, result, response, parent_execution, \
             parent_seq, created_at, finished_at FROM executions WHERE tenant_id = $1 \
             AND ($2 = '' OR workflow_id = $2) AND ($3 = '' OR status = $3) AND ($4 = '' OR id < $4) \
             AND created_at >= $5 AND created_at < $6 ORDER BY id DESC LIMIT $7",
        )
        .bind(tenant)
        .bind(filter.workflow.as_deref().unwrap_or_default())
        .bind(filter.status.as_deref().unwrap_or_default())
        .bind(filter.before.as_deref().unwrap_or_default())
        .bind(filter.since.unwrap_or(0))
        .bind(filter.until.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| execution_row(tenant, row))
        .collect()
    }

    /// Sets a tenant variable (`$vars.NAME`).
    pub async fn set_variable(
        &self,
        tenant: &str,
        name: &str,
        value: &str,
        now: Millis,
    ) -> Result<()> {
        let (tenant, name, value) = (tenant.to_owned(), name.to_owned(), value.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO variables (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(&tenant)
                    .bind(&name)
                    .bind(&value)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Deletes a tenant variable; whether it existed.
    pub async fn delete_variable(&self, tenant: &str, name: &str) -> Result<bool> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    Ok(
                        sqlx::query("DELETE FROM variables WHERE tenant_id = $1 AND name = $2")
                            .bind(&tenant)
                            .bind(&name)
                            .execute(&mut *conn)
                            .await?
                            .rows_affected()
                            > 0,
                    )
                })
            })
            .await
    }

    /// Every tenant's id.
    pub async fn tenants(&self) -> Result<Vec<String>> {
        sqlx::query("SELECT id FROM tenants ORDER BY id")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| Ok(row.try_get("id")?))
            .collect()
    }

    /// A tenant's workflows: id, name, and the version that runs (the
    /// active one, or the latest when none is active).
    pub async fn workflows(&self, tenant: &str) -> Result<Vec<(String, String, i64)>> {
        sqlx::query(
            "SELECT id, name, COALESCE(active_version, latest_version) AS version FROM workflows \
             WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("id")?,
                row.try_get("name")?,
                row.try_get("version")?,
            ))
        })
        .collect()
    }

    /// The tenant's variables (`$vars`).
    pub async fn variables(&self, tenant: &str) -> Result<serde_json::Map<String, Value>> {
        sqlx::query("SELECT name, value FROM variables WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| Ok((row.try_get("name")?, Value::String(row.try_get("value")?))))
            .collect()
    }
}

fn execution_row(tenant: &str, row: &AnyRow) -> Result<ExecutionRow> {
    let parent_execution: Option<String> = row.try_get("parent_execution")?;
    let parent_seq: Option<i64> = row.try_get("parent_seq")?;
    Ok(ExecutionRow {
        tenant: tenant.to_owned(),
        id: row.try_get("id")?,
        workflow_id: row.try_get("workflow_id")?,
        version: row.try_get("version")?,
        status: ExecutionStatus::parse(&row.try_get::<String, _>("status")?),
        error: parse_opt(row.try_get("error")?)?,
        result: parse_opt(row.try_get("result")?)?,
        response: parse_opt(row.try_get("response")?)?,
        parent: parent_execution
            .zip(parent_seq)
            .map(|(execution_id, seq)| StepKey {
                tenant: tenant.to_owned(),
                execution_id,
                seq,
            }),
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// What a step's last attempt used, from its row.
pub(crate) fn usage(row: &AnyRow) -> Result<Usage> {
    Ok(Usage {
        duration_us: row.try_get("duration_us")?,
        fuel: row.try_get("fuel")?,
        peak_memory_bytes: row.try_get("peak_memory_bytes")?,
        egress_requests: row.try_get("egress_requests")?,
        egress_bytes: row.try_get("egress_bytes")?,
    })
}

fn step_row(row: &AnyRow) -> Result<StepRow> {
    Ok(StepRow {
        seq: row.try_get("seq")?,
        node_id: row.try_get("node_id")?,
        iteration: row.try_get("iteration")?,
        kind: StepKind::parse(&row.try_get::<String, _>("kind")?),
        status: StepStatus::parse(&row.try_get::<String, _>("status")?),
        attempt: row.try_get("attempt")?,
        idempotency_key: row.try_get("idempotency_key")?,
        due_at: row.try_get("due_at")?,
        lease_owner: row.try_get("lease_owner")?,
        error: parse_opt(row.try_get("error")?)?,
        usage: usage(row)?,
        done_order: row.try_get("done_order")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}
