//! The step queue: steps made, claimed under a lease, completed with
//! their outcome, and what a completion makes ready next.

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Row};

use super::runs::{fail_execution, finish, load_exec, start_execution};
use super::*;
use crate::types::*;
use crate::{Backend, Result};

/// Reserves `n` sequence numbers in a run and returns the first.
pub(crate) async fn alloc_seq(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    n: i64,
) -> Result<i64> {
    let next: i64 = sqlx::query(
        "UPDATE executions SET next_seq = next_seq + $1 WHERE tenant_id = $2 AND id = $3 \
         RETURNING next_seq",
    )
    .bind(n)
    .bind(tenant)
    .bind(execution)
    .fetch_one(&mut *conn)
    .await?
    .try_get("next_seq")?;
    Ok(next - n)
}

pub(crate) struct Insert<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) execution: &'a str,
    pub(crate) node_id: &'a str,
    pub(crate) iteration: i64,
    pub(crate) kind: StepKind,
    pub(crate) status: StepStatus,
    pub(crate) due_at: Option<Millis>,
    pub(crate) inputs_expected: i64,
    pub(crate) input: &'a Value,
    pub(crate) now: Millis,
}

pub(crate) async fn insert_step(conn: &mut Conn, step: Insert<'_>) -> Result<i64> {
    let seq = alloc_seq(conn, step.tenant, step.execution, 1).await?;
    // run / node / iteration, plus how many times the node was reached
    // before in the same iteration (a node fed by two branches runs twice).
    let earlier: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM steps WHERE tenant_id = $1 AND execution_id = $2 \
         AND node_id = $3 AND iteration = $4 AND kind = $5",
    )
    .bind(step.tenant)
    .bind(step.execution)
    .bind(step.node_id)
    .bind(step.iteration)
    .bind(step.kind.as_str())
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    let mut key = format!("{}/{}/{}", step.execution, step.node_id, step.iteration);
    if step.kind == StepKind::Compensation {
        key.push_str("/compensate");
    }
    if earlier > 0 {
        key.push_str(&format!("#{earlier}"));
    }
    sqlx::query(
        "INSERT INTO steps (tenant_id, execution_id, seq, node_id, iteration, kind, status, \
         attempt, idempotency_key, due_at, inputs_expected, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11)",
    )
    .bind(step.tenant)
    .bind(step.execution)
    .bind(seq)
    .bind(step.node_id)
    .bind(step.iteration)
    .bind(step.kind.as_str())
    .bind(step.status.as_str())
    .bind(&key)
    .bind(step.due_at)
    .bind(step.inputs_expected)
    .bind(step.now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO step_payloads (tenant_id, execution_id, seq, input) VALUES ($1, $2, $3, $4)",
    )
    .bind(step.tenant)
    .bind(step.execution)
    .bind(seq)
    .bind(text(step.input))
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

/// Which due steps a claim takes: any, or those of one run.
pub(crate) enum Scope<'a> {
    Any,
    Execution(&'a str, &'a str),
}

pub(crate) async fn claim(
    conn: &mut Conn,
    backend: Backend,
    scope: Scope<'_>,
    owner: &str,
    limit: i64,
    now: Millis,
    lease_until: Millis,
) -> Result<Vec<Claimed>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let (filter, tenant, execution) = match scope {
        Scope::Any => ("", "", ""),
        Scope::Execution(tenant, execution) => (
            " AND tenant_id = $5 AND execution_id = $6",
            tenant,
            execution,
        ),
    };
    let query = format!(
        "SELECT tenant_id, execution_id, seq, status FROM steps \
         WHERE status IN ($3, $4) AND due_at <= $1{filter} ORDER BY due_at, seq LIMIT $2{lock}"
    );
    let mut query = sqlx::query(AssertSqlSafe(query))
        .bind(now)
        .bind(limit)
        .bind(StepStatus::Ready.as_str())
        .bind(StepStatus::Waiting.as_str());
    if !filter.is_empty() {
        query = query.bind(tenant).bind(execution);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let key = StepKey {
            tenant: row.try_get("tenant_id")?,
            execution_id: row.try_get("execution_id")?,
            seq: row.try_get("seq")?,
        };
        let was_waiting =
            StepStatus::parse(&row.try_get::<String, _>("status")?) == StepStatus::Waiting;
        let step = sqlx::query(
            "UPDATE steps SET status = $1, attempt = attempt + $2, lease_owner = $3, \
             lease_expires = $4, started_at = $5 \
             WHERE tenant_id = $6 AND execution_id = $7 AND seq = $8 \
             RETURNING node_id, iteration, kind, attempt, idempotency_key",
        )
        .bind(StepStatus::Running.as_str())
        .bind(if was_waiting { 0_i64 } else { 1 })
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(&key.tenant)
        .bind(&key.execution_id)
        .bind(key.seq)
        .fetch_one(&mut *conn)
        .await?;
        let data = sqlx::query(
            "SELECT p.input, p.state, p.resume, e.workflow_id, e.version, e.created_at \
             FROM step_payloads p JOIN executions e \
             ON e.tenant_id = p.tenant_id AND e.id = p.execution_id \
             WHERE p.tenant_id = $1 AND p.execution_id = $2 AND p.seq = $3",
        )
        .bind(&key.tenant)
        .bind(&key.execution_id)
        .bind(key.seq)
        .fetch_one(&mut *conn)
        .await?;
        claimed.push(Claimed {
            workflow_id: data.try_get("workflow_id")?,
            run_started_at: data.try_get("created_at")?,
            version: data.try_get("version")?,
            node_id: step.try_get("node_id")?,
            iteration: step.try_get("iteration")?,
            kind: StepKind::parse(&step.try_get::<String, _>("kind")?),
            attempt: step.try_get("attempt")?,
            idempotency_key: step.try_get("idempotency_key")?,
            input: parse(&data.try_get::<String, _>("input")?)?,
            state: parse_opt(data.try_get("state")?)?,
            resume: parse_opt(data.try_get("resume")?)?,
            was_waiting,
            key,
        });
    }
    Ok(claimed)
}

pub(crate) async fn set_status(conn: &mut Conn, key: &StepKey, status: StepStatus) -> Result<()> {
    sqlx::query(
        "UPDATE steps SET status = $1 WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4",
    )
    .bind(status.as_str())
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn set_payload(
    conn: &mut Conn,
    key: &StepKey,
    column: &str,
    value: Option<&Value>,
) -> Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE step_payloads SET {column} = $1 WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4"
    )))
    .bind(value.map(text))
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn complete(
    conn: &mut Conn,
    backend: Backend,
    done: Completion,
    now: Millis,
) -> Result<Applied> {
    let key = &done.key;
    let held = sqlx::query(
        "SELECT kind FROM steps WHERE tenant_id = $1 AND execution_id = $2 AND seq = $3 \
         AND status = $4 AND lease_owner = $5",
    )
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .bind(StepStatus::Running.as_str())
    .bind(&done.owner)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(held) = held else {
        // The lease passed to another worker, or the step was cancelled.
        return Ok(Applied::default());
    };
    let kind = StepKind::parse(&held.try_get::<String, _>("kind")?);
    let exec = load_exec(conn, &key.tenant, &key.execution_id).await?;
    let live = exec.status == ExecutionStatus::Running || kind == StepKind::Compensation;
    let u = done.usage;
    sqlx::query(
        "UPDATE steps SET lease_owner = NULL, lease_expires = NULL, finished_at = $1, \
         duration_us = $2, fuel = $3, peak_memory_bytes = $4, egress_requests = $5, egress_bytes = $6 \
         WHERE tenant_id = $7 AND execution_id = $8 AND seq = $9",
    )
    .bind(now)
    .bind(u.duration_us)
    .bind(u.fuel)
    .bind(u.peak_memory_bytes)
    .bind(u.egress_requests)
    .bind(u.egress_bytes)
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .execute(&mut *conn)
    .await?;
    if !done.logs.is_empty() {
        set_payload(conn, key, "logs", Some(&Value::Array(done.logs))).await?;
    }
    let mut applied = Applied {
        recorded: true,
        ..Applied::default()
    };
    match done.outcome {
        Outcome::Done {
            outputs,
            successors,
            response,
            state,
            node_state,
        } => {
            if let Some(write) = &node_state {
                crate::node_state::apply(conn, &key.tenant, write, now).await?;
            }
            let order = alloc_seq(conn, &key.tenant, &key.execution_id, 1).await?;
            sqlx::query(
                "UPDATE steps SET status = $1, done_order = $2, error = NULL \
                 WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
            )
            .bind(StepStatus::Done.as_str())
            .bind(order)
            .bind(&key.tenant)
            .bind(&key.execution_id)
            .bind(key.seq)
            .execute(&mut *conn)
            .await?;
            set_payload(conn, key, "output", Some(&outputs)).await?;
            if state.is_some() {
                set_payload(conn, key, "state", state.as_ref()).await?;
            }
            if live && kind == StepKind::Node {
                if let Some(response) = response {
                    sqlx::query(
                        "UPDATE executions SET response = $1 WHERE tenant_id = $2 AND id = $3",
                    )
                    .bind(text(&response))
                    .bind(&key.tenant)
                    .bind(&key.execution_id)
                    .execute(&mut *conn)
                    .await?;
                }
                for next in &successors {
                    add_successor(conn, key, exec.sequential, next, now).await?;
                }
            }
        }
        Outcome::Park {
            due_at,
            token,
            state,
            child,
            node_state,
        } if live => {
            if let Some(write) = &node_state {
                crate::node_state::apply(conn, &key.tenant, write, now).await?;
            }
            sqlx::query(
                "UPDATE steps SET status = $1, due_at = $2 \
                 WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
            )
            .bind(StepStatus::Waiting.as_str())
            .bind(due_at)
            .bind(&key.tenant)
            .bind(&key.execution_id)
            .bind(key.seq)
            .execute(&mut *conn)
            .await?;
            set_payload(conn, key, "state", state.as_ref()).await?;
            set_payload(conn, key, "resume", None).await?;
            if let Some(token) = token {
                sqlx::query(
                    "INSERT INTO timers (token, tenant_id, execution_id, seq, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token)
                .bind(&key.tenant)
                .bind(&key.execution_id)
                .bind(key.seq)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            if let Some(child) = child {
                start_execution(conn, &child, now).await?;
            }
        }
        Outcome::Retry { due_at, error } if live => {
            sqlx::query(
                "UPDATE steps SET status = $1, due_at = $2, error = $3 \
                 WHERE tenant_id = $4 AND execution_id = $5 AND seq = $6",
            )
            .bind(StepStatus::Ready.as_str())
            .bind(due_at)
            .bind(text(&error))
            .bind(&key.tenant)
            .bind(&key.execution_id)
            .bind(key.seq)
            .execute(&mut *conn)
            .await?;
        }
        Outcome::Fail {
            error,
            compensations,
            error_run,
        } => {
            sqlx::query(
                "UPDATE steps SET status = $1, error = $2 \
                 WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
            )
            .bind(StepStatus::Failed.as_str())
            .bind(text(&error))
            .bind(&key.tenant)
            .bind(&key.execution_id)
            .bind(key.seq)
            .execute(&mut *conn)
            .await?;
            if exec.status == ExecutionStatus::Running && kind == StepKind::Node {
                fail_execution(conn, key, &error, &compensations, error_run.as_ref(), now).await?;
            }
        }
        // Parked, retried or cancelled while the run is over: the step ends
        // with it.
        Outcome::Park { .. } | Outcome::Retry { .. } | Outcome::Cancelled => {
            set_status(conn, key, StepStatus::Cancelled).await?;
        }
    }
    settle(conn, &key.tenant, &key.execution_id, now, &mut applied).await?;
    // What this transition made ready in the run goes straight to the same
    // worker, without another transaction to claim it.
    if let Some((limit, lease_until)) = done.claim {
        applied.claimed = claim(
            conn,
            backend,
            Scope::Execution(&key.tenant, &key.execution_id),
            &done.owner,
            limit as i64,
            now,
            lease_until,
        )
        .await?;
    }
    Ok(applied)
}

pub(crate) async fn add_successor(
    conn: &mut Conn,
    from: &StepKey,
    sequential: bool,
    next: &NewStep,
    now: Millis,
) -> Result<()> {
    let waiting_status = if sequential {
        StepStatus::Queued
    } else {
        StepStatus::Ready
    };
    if next.inputs_expected > 1 {
        let open = sqlx::query(
            "SELECT s.seq, p.input FROM steps s JOIN step_payloads p \
             ON p.tenant_id = s.tenant_id AND p.execution_id = s.execution_id AND p.seq = s.seq \
             WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.node_id = $3 \
             AND s.iteration = $4 AND s.status = $5",
        )
        .bind(&from.tenant)
        .bind(&from.execution_id)
        .bind(&next.node_id)
        .bind(next.iteration)
        .bind(StepStatus::Collecting.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(open) = open {
            let key = StepKey {
                tenant: from.tenant.clone(),
                execution_id: from.execution_id.clone(),
                seq: open.try_get("seq")?,
            };
            let mut input = parse(&open.try_get::<String, _>("input")?)?;
            append_items(&mut input, &next.input_name, &next.items);
            set_payload(conn, &key, "input", Some(&input)).await?;
            if input.as_object().map_or(0, |m| m.len()) >= next.inputs_expected as usize {
                sqlx::query(
                    "UPDATE steps SET status = $1, due_at = $2 \
                     WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
                )
                .bind(waiting_status.as_str())
                .bind(now)
                .bind(&key.tenant)
                .bind(&key.execution_id)
                .bind(key.seq)
                .execute(&mut *conn)
                .await?;
            }
            return Ok(());
        }
    }
    let mut input = json!({});
    append_items(&mut input, &next.input_name, &next.items);
    let status = if next.inputs_expected > 1 {
        StepStatus::Collecting
    } else {
        waiting_status
    };
    insert_step(
        conn,
        Insert {
            tenant: &from.tenant,
            execution: &from.execution_id,
            node_id: &next.node_id,
            iteration: next.iteration,
            kind: StepKind::Node,
            status,
            due_at: Some(now),
            inputs_expected: i64::from(next.inputs_expected),
            input: &input,
            now,
        },
    )
    .await?;
    Ok(())
}

/// Adds `items` to a step's input `name` (Merge collects its inputs so).
pub fn append_items(input: &mut Value, name: &str, items: &Value) {
    let Some(map) = input.as_object_mut() else {
        return;
    };
    let slot = map.entry(name).or_insert_with(|| json!([]));
    if let (Some(slot), Some(items)) = (slot.as_array_mut(), items.as_array()) {
        slot.extend(items.iter().cloned());
    }
}

/// How many of a run's steps are in one of `statuses` (and of `kind`).
pub(crate) async fn count(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    statuses: &[StepStatus],
    kind: Option<StepKind>,
) -> Result<i64> {
    let kind_filter = match kind {
        Some(_) => format!(" AND kind = ${}", 3 + statuses.len()),
        None => String::new(),
    };
    let sql = format!(
        "SELECT COUNT(*) AS n FROM steps WHERE tenant_id = $1 AND execution_id = $2 \
         AND status IN ({}){kind_filter}",
        placeholders(3, statuses.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(tenant).bind(execution);
    for status in statuses {
        query = query.bind(status.as_str());
    }
    if let Some(kind) = kind {
        query = query.bind(kind.as_str());
    }
    Ok(query.fetch_one(&mut *conn).await?.try_get("n")?)
}

/// Promotes the step of `status` with the highest (`newest`) or lowest seq to ready.
pub(crate) async fn promote_one(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    newest: bool,
    now: Millis,
) -> Result<bool> {
    let order = if newest { "DESC" } else { "ASC" };
    let next = sqlx::query(AssertSqlSafe(format!(
        "SELECT seq FROM steps WHERE tenant_id = $1 AND execution_id = $2 AND status = $3 \
         ORDER BY seq {order} LIMIT 1"
    )))
    .bind(tenant)
    .bind(execution)
    .bind(StepStatus::Queued.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(next) = next else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE steps SET status = $1, due_at = $2 WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
    )
    .bind(StepStatus::Ready.as_str())
    .bind(now)
    .bind(tenant)
    .bind(execution)
    .bind(next.try_get::<i64, _>("seq")?)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// After a transition: lets the next queued step go, releases Merges that
/// nothing can feed any more, and ends the run when nothing is left.
pub(crate) async fn settle(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    now: Millis,
    applied: &mut Applied,
) -> Result<()> {
    let exec = load_exec(conn, tenant, execution).await?;
    match exec.status {
        ExecutionStatus::Running => {
            let busy = count(
                conn,
                tenant,
                execution,
                &[StepStatus::Ready, StepStatus::Running, StepStatus::Waiting],
                None,
            )
            .await?;
            if busy > 0 {
                applied.ready += 1;
                return Ok(());
            }
            if promote_one(conn, tenant, execution, true, now).await? {
                applied.ready += 1;
                return Ok(());
            }
            // Merges still missing an input get what arrived.
            let released = sqlx::query(
                "UPDATE steps SET status = $1, due_at = $2 WHERE tenant_id = $3 AND execution_id = $4 \
                 AND status = $5",
            )
            .bind(if exec.sequential {
                StepStatus::Queued.as_str()
            } else {
                StepStatus::Ready.as_str()
            })
            .bind(now)
            .bind(tenant)
            .bind(execution)
            .bind(StepStatus::Collecting.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if released > 0 {
                if exec.sequential {
                    promote_one(conn, tenant, execution, true, now).await?;
                }
                applied.ready += 1;
                return Ok(());
            }
            finish(
                conn,
                tenant,
                execution,
                ExecutionStatus::Succeeded,
                exec.parent.as_ref(),
                now,
                applied,
            )
            .await
        }
        ExecutionStatus::Compensating => {
            let busy = count(
                conn,
                tenant,
                execution,
                &[StepStatus::Ready, StepStatus::Running],
                Some(StepKind::Compensation),
            )
            .await?;
            if busy > 0 || promote_one(conn, tenant, execution, false, now).await? {
                applied.ready += 1;
                return Ok(());
            }
            finish(
                conn,
                tenant,
                execution,
                ExecutionStatus::Failed,
                exec.parent.as_ref(),
                now,
                applied,
            )
            .await
        }
        _ => Ok(()),
    }
}

/// Makes a waiting step ready with `resume` as its wake-up data.
pub(crate) async fn wake(
    conn: &mut Conn,
    key: &StepKey,
    resume: &Value,
    now: Millis,
) -> Result<bool> {
    let woken = sqlx::query(
        "UPDATE steps SET status = $1, due_at = $2 WHERE tenant_id = $3 AND execution_id = $4 \
         AND seq = $5 AND status = $6",
    )
    .bind(StepStatus::Ready.as_str())
    .bind(now)
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .bind(StepStatus::Waiting.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if woken > 0 {
        set_payload(conn, key, "resume", Some(resume)).await?;
    }
    Ok(woken > 0)
}
