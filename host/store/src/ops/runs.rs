//! Run control: a run started, failed (with its compensations and error
//! workflow), finished, resumed, cancelled, or replayed from a dead letter.

use serde_json::{Value, json};
use sqlx::Row;

use super::queue::{Insert, insert_step, wake};
use super::*;
use crate::types::*;
use crate::{Result, StoreError, new_id};

/// The parts of an execution row the transitions need.
pub(crate) struct Exec {
    pub(crate) status: ExecutionStatus,
    pub(crate) sequential: bool,
    pub(crate) parent: Option<StepKey>,
}

pub(crate) async fn load_exec(conn: &mut Conn, tenant: &str, id: &str) -> Result<Exec> {
    let row = sqlx::query(
        "SELECT status, sequential, parent_execution, parent_seq FROM executions \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("execution `{id}`")))?;
    let parent_execution: Option<String> = row.try_get("parent_execution")?;
    let parent_seq: Option<i64> = row.try_get("parent_seq")?;
    Ok(Exec {
        status: ExecutionStatus::parse(&row.try_get::<String, _>("status")?),
        sequential: row.try_get::<i64, _>("sequential")? != 0,
        parent: parent_execution
            .zip(parent_seq)
            .map(|(execution_id, seq)| StepKey {
                tenant: tenant.to_owned(),
                execution_id,
                seq,
            }),
    })
}

pub(crate) async fn start_execution(
    conn: &mut Conn,
    run: &NewExecution,
    now: Millis,
) -> Result<Started> {
    let inserted = sqlx::query(
        "INSERT INTO executions (tenant_id, id, workflow_id, version, status, sequential, \
         next_seq, parent_execution, parent_seq, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(&run.tenant)
    .bind(&run.id)
    .bind(&run.workflow_id)
    .bind(run.version)
    .bind(ExecutionStatus::Running.as_str())
    .bind(i64::from(run.sequential))
    .bind(run.parent.as_ref().map(|p| p.execution_id.clone()))
    .bind(run.parent.as_ref().map(|p| p.seq))
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Started::Existing);
    }
    insert_step(
        conn,
        Insert {
            tenant: &run.tenant,
            execution: &run.id,
            node_id: &run.trigger,
            iteration: 0,
            kind: StepKind::Node,
            status: StepStatus::Ready,
            due_at: Some(now),
            inputs_expected: 1,
            input: &json!({ "main": run.items }),
            now,
        },
    )
    .await?;
    Ok(Started::Created)
}

pub(crate) async fn fail_execution(
    conn: &mut Conn,
    key: &StepKey,
    error: &Value,
    compensations: &[(String, String)],
    error_run: Option<&NewExecution>,
    now: Millis,
) -> Result<()> {
    let (tenant, execution) = (&key.tenant, &key.execution_id);
    cancel_pending(conn, tenant, execution).await?;
    sqlx::query("DELETE FROM timers WHERE tenant_id = $1 AND execution_id = $2")
        .bind(tenant)
        .bind(execution)
        .execute(&mut *conn)
        .await?;
    let node_id: String = sqlx::query(
        "SELECT node_id FROM steps WHERE tenant_id = $1 AND execution_id = $2 AND seq = $3",
    )
    .bind(tenant)
    .bind(execution)
    .bind(key.seq)
    .fetch_one(&mut *conn)
    .await?
    .try_get("node_id")?;
    sqlx::query(
        "INSERT INTO dead_letters (tenant_id, id, execution_id, seq, node_id, error, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(new_id())
    .bind(execution)
    .bind(key.seq)
    .bind(&node_id)
    .bind(text(error))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // Compensations run for completed steps, the latest first.
    if !compensations.is_empty() {
        let done = sqlx::query(
            "SELECT s.node_id, s.iteration, p.output FROM steps s JOIN step_payloads p \
             ON p.tenant_id = s.tenant_id AND p.execution_id = s.execution_id AND p.seq = s.seq \
             WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.status = $3 AND s.kind = $4 \
             ORDER BY s.done_order DESC",
        )
        .bind(tenant)
        .bind(execution)
        .bind(StepStatus::Done.as_str())
        .bind(StepKind::Node.as_str())
        .fetch_all(&mut *conn)
        .await?;
        for row in done {
            let node: String = row.try_get("node_id")?;
            let Some((_, compensator)) = compensations.iter().find(|(n, _)| *n == node) else {
                continue;
            };
            let output = parse_opt(row.try_get("output")?)?.unwrap_or(Value::Null);
            let items = output.get("main").cloned().unwrap_or_else(|| json!([]));
            insert_step(
                conn,
                Insert {
                    tenant,
                    execution,
                    node_id: compensator,
                    iteration: row.try_get("iteration")?,
                    kind: StepKind::Compensation,
                    status: StepStatus::Queued,
                    due_at: Some(now),
                    inputs_expected: 1,
                    input: &json!({ "main": items }),
                    now,
                },
            )
            .await?;
        }
    }
    sqlx::query("UPDATE executions SET status = $1, error = $2 WHERE tenant_id = $3 AND id = $4")
        .bind(ExecutionStatus::Compensating.as_str())
        .bind(text(error))
        .bind(tenant)
        .bind(execution)
        .execute(&mut *conn)
        .await?;
    if let Some(run) = error_run {
        start_execution(conn, run, now).await?;
    }
    Ok(())
}

/// Cancels a run's steps that have not started (queued, collecting, ready
/// or waiting).
pub(crate) async fn cancel_pending(conn: &mut Conn, tenant: &str, execution: &str) -> Result<()> {
    sqlx::query(
        "UPDATE steps SET status = $1 WHERE tenant_id = $2 AND execution_id = $3 \
         AND status IN ($4, $5, $6, $7)",
    )
    .bind(StepStatus::Cancelled.as_str())
    .bind(tenant)
    .bind(execution)
    .bind(StepStatus::Queued.as_str())
    .bind(StepStatus::Collecting.as_str())
    .bind(StepStatus::Ready.as_str())
    .bind(StepStatus::Waiting.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn finish(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    status: ExecutionStatus,
    parent: Option<&StepKey>,
    now: Millis,
    applied: &mut Applied,
) -> Result<()> {
    let last = sqlx::query(
        "SELECT p.output FROM steps s JOIN step_payloads p \
         ON p.tenant_id = s.tenant_id AND p.execution_id = s.execution_id AND p.seq = s.seq \
         WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.status = $3 AND s.kind = $4 \
         ORDER BY s.done_order DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(execution)
    .bind(StepStatus::Done.as_str())
    .bind(StepKind::Node.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let result: Option<String> = match last {
        Some(row) => row.try_get("output")?,
        None => None,
    };
    sqlx::query(
        "UPDATE executions SET status = $1, result = $2, finished_at = $3 WHERE tenant_id = $4 AND id = $5",
    )
    .bind(status.as_str())
    .bind(&result)
    .bind(now)
    .bind(tenant)
    .bind(execution)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM timers WHERE tenant_id = $1 AND execution_id = $2")
        .bind(tenant)
        .bind(execution)
        .execute(&mut *conn)
        .await?;
    applied.finished.push((execution.to_owned(), status));
    if let Some(parent) = parent {
        let error: Option<String> =
            sqlx::query("SELECT error FROM executions WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(execution)
                .fetch_one(&mut *conn)
                .await?
                .try_get("error")?;
        let resume = json!({
            "execution": execution,
            "status": status.as_str(),
            "result": parse_opt(result)?,
            "error": parse_opt(error)?,
        });
        wake(conn, parent, &resume, now).await?;
        applied.ready += 1;
    }
    Ok(())
}

pub(crate) async fn resume(
    conn: &mut Conn,
    tenant: &str,
    token: &str,
    data: &Value,
    now: Millis,
) -> Result<StepKey> {
    let row =
        sqlx::query("SELECT execution_id, seq FROM timers WHERE token = $1 AND tenant_id = $2")
            .bind(token)
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(
                    "a waiting step with this resume token (it may have resumed already)".into(),
                )
            })?;
    let key = StepKey {
        tenant: tenant.to_owned(),
        execution_id: row.try_get("execution_id")?,
        seq: row.try_get("seq")?,
    };
    sqlx::query("DELETE FROM timers WHERE token = $1")
        .bind(token)
        .execute(&mut *conn)
        .await?;
    if !wake(conn, &key, &json!({ "data": data }), now).await? {
        return Err(StoreError::Conflict(format!(
            "step {} of execution `{}` is not waiting",
            key.seq, key.execution_id
        )));
    }
    Ok(key)
}

pub(crate) async fn cancel(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    now: Millis,
) -> Result<Applied> {
    let exec = load_exec(conn, tenant, execution).await?;
    let mut applied = Applied::default();
    if exec.status.is_final() {
        return Err(StoreError::Conflict(format!(
            "execution `{execution}` has already ended ({})",
            exec.status.as_str()
        )));
    }
    cancel_pending(conn, tenant, execution).await?;
    sqlx::query("UPDATE executions SET error = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(text(&json!({ "message": "cancelled" })))
        .bind(tenant)
        .bind(execution)
        .execute(&mut *conn)
        .await?;
    finish(
        conn,
        tenant,
        execution,
        ExecutionStatus::Cancelled,
        exec.parent.as_ref(),
        now,
        &mut applied,
    )
    .await?;
    applied.recorded = true;
    Ok(applied)
}

pub(crate) async fn replay(
    conn: &mut Conn,
    tenant: &str,
    id: &str,
    now: Millis,
) -> Result<StepKey> {
    let row = sqlx::query(
        "SELECT execution_id, seq FROM dead_letters WHERE tenant_id = $1 AND id = $2 AND replayed_at IS NULL",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("dead letter `{id}` (or it was replayed already)")))?;
    let key = StepKey {
        tenant: tenant.to_owned(),
        execution_id: row.try_get("execution_id")?,
        seq: row.try_get("seq")?,
    };
    sqlx::query("UPDATE dead_letters SET replayed_at = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(now)
        .bind(tenant)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE steps SET status = $1, due_at = $2, attempt = 0, error = NULL \
         WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
    )
    .bind(StepStatus::Ready.as_str())
    .bind(now)
    .bind(tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE executions SET status = $1, error = NULL, result = NULL, finished_at = NULL \
         WHERE tenant_id = $2 AND id = $3",
    )
    .bind(ExecutionStatus::Running.as_str())
    .bind(tenant)
    .bind(&key.execution_id)
    .execute(&mut *conn)
    .await?;
    Ok(key)
}
