//! The transitions, each run inside the writer's transaction, and the reads.

use serde_json::{Value, json};
use sqlx::any::AnyRow;
// Dynamic SQL here is built from constants only (statuses, kinds, column
// names, ORDER BY direction); values are always bound.
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::types::*;
use crate::{Backend, Result, StoreError, new_id};

type Conn = AnyConnection;

pub(crate) fn text(value: &Value) -> String {
    value.to_string()
}

pub(crate) fn parse_opt(text: Option<String>) -> Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(StoreError::from)
}

pub(crate) fn parse(text: &str) -> Result<Value> {
    Ok(serde_json::from_str(text)?)
}

/// The parts of an execution row the transitions need.
struct Exec {
    status: ExecutionStatus,
    sequential: bool,
    parent: Option<StepKey>,
}

async fn load_exec(conn: &mut Conn, tenant: &str, id: &str) -> Result<Exec> {
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

/// Reserves `n` sequence numbers in a run and returns the first.
async fn alloc_seq(conn: &mut Conn, tenant: &str, execution: &str, n: i64) -> Result<i64> {
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

struct Insert<'a> {
    tenant: &'a str,
    execution: &'a str,
    node_id: &'a str,
    iteration: i64,
    kind: StepKind,
    status: StepStatus,
    due_at: Option<Millis>,
    inputs_expected: i64,
    input: &'a Value,
    now: Millis,
}

async fn insert_step(conn: &mut Conn, step: Insert<'_>) -> Result<i64> {
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

pub(crate) async fn start_execution(
    conn: &mut Conn,
    run: &NewExecution,
    now: Millis,
) -> Result<Started> {
    let inserted = sqlx::query(
        "INSERT INTO executions (tenant_id, id, workflow_id, version, status, sequential, \
         next_seq, parent_execution, parent_seq, created_at) \
         VALUES ($1, $2, $3, $4, 'running', $5, 1, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(&run.tenant)
    .bind(&run.id)
    .bind(&run.workflow_id)
    .bind(run.version)
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
            " AND tenant_id = $3 AND execution_id = $4",
            tenant,
            execution,
        ),
    };
    let query = format!(
        "SELECT tenant_id, execution_id, seq, status FROM steps \
         WHERE status IN ('ready', 'waiting') AND due_at <= $1{filter} ORDER BY due_at, seq LIMIT $2{lock}"
    );
    let mut query = sqlx::query(AssertSqlSafe(query)).bind(now).bind(limit);
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
        let was_waiting = row.try_get::<String, _>("status")? == "waiting";
        let step = sqlx::query(
            "UPDATE steps SET status = 'running', attempt = attempt + $1, lease_owner = $2, \
             lease_expires = $3, started_at = $4 \
             WHERE tenant_id = $5 AND execution_id = $6 AND seq = $7 \
             RETURNING node_id, iteration, kind, attempt, idempotency_key",
        )
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

async fn set_status(conn: &mut Conn, key: &StepKey, status: StepStatus) -> Result<()> {
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

async fn set_payload(
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
         AND status = 'running' AND lease_owner = $4",
    )
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
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
        } => {
            let order = alloc_seq(conn, &key.tenant, &key.execution_id, 1).await?;
            sqlx::query(
                "UPDATE steps SET status = 'done', done_order = $1, error = NULL \
                 WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4",
            )
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
        } if live => {
            sqlx::query(
                "UPDATE steps SET status = 'waiting', due_at = $1 \
                 WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4",
            )
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
                "UPDATE steps SET status = 'ready', due_at = $1, error = $2 \
                 WHERE tenant_id = $3 AND execution_id = $4 AND seq = $5",
            )
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
                "UPDATE steps SET status = 'failed', error = $1 \
                 WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4",
            )
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

async fn add_successor(
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
             AND s.iteration = $4 AND s.status = 'collecting'",
        )
        .bind(&from.tenant)
        .bind(&from.execution_id)
        .bind(&next.node_id)
        .bind(next.iteration)
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

async fn fail_execution(
    conn: &mut Conn,
    key: &StepKey,
    error: &Value,
    compensations: &[(String, String)],
    error_run: Option<&NewExecution>,
    now: Millis,
) -> Result<()> {
    let (tenant, execution) = (&key.tenant, &key.execution_id);
    sqlx::query(
        "UPDATE steps SET status = 'cancelled' WHERE tenant_id = $1 AND execution_id = $2 \
         AND status IN ('queued', 'collecting', 'ready', 'waiting')",
    )
    .bind(tenant)
    .bind(execution)
    .execute(&mut *conn)
    .await?;
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
             WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.status = 'done' AND s.kind = 'node' \
             ORDER BY s.done_order DESC",
        )
        .bind(tenant)
        .bind(execution)
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
    sqlx::query(
        "UPDATE executions SET status = 'compensating', error = $1 WHERE tenant_id = $2 AND id = $3",
    )
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

async fn count(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    statuses: &str,
    kind: Option<StepKind>,
) -> Result<i64> {
    let kind_filter = kind.map_or(String::new(), |k| format!(" AND kind = '{}'", k.as_str()));
    Ok(sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM steps WHERE tenant_id = $1 AND execution_id = $2 \
         AND status IN ({statuses}){kind_filter}"
    )))
    .bind(tenant)
    .bind(execution)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?)
}

/// Promotes the step of `status` with the highest (`newest`) or lowest seq to ready.
async fn promote_one(
    conn: &mut Conn,
    tenant: &str,
    execution: &str,
    newest: bool,
    now: Millis,
) -> Result<bool> {
    let order = if newest { "DESC" } else { "ASC" };
    let next = sqlx::query(AssertSqlSafe(format!(
        "SELECT seq FROM steps WHERE tenant_id = $1 AND execution_id = $2 AND status = 'queued' \
         ORDER BY seq {order} LIMIT 1"
    )))
    .bind(tenant)
    .bind(execution)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(next) = next else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE steps SET status = 'ready', due_at = $1 WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4",
    )
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
async fn settle(
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
                "'ready', 'running', 'waiting'",
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
                 AND status = 'collecting'",
            )
            .bind(if exec.sequential { "queued" } else { "ready" })
            .bind(now)
            .bind(tenant)
            .bind(execution)
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
                "'ready', 'running'",
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

async fn finish(
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
         WHERE s.tenant_id = $1 AND s.execution_id = $2 AND s.status = 'done' AND s.kind = 'node' \
         ORDER BY s.done_order DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(execution)
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

/// Makes a waiting step ready with `resume` as its wake-up data.
async fn wake(conn: &mut Conn, key: &StepKey, resume: &Value, now: Millis) -> Result<bool> {
    let woken = sqlx::query(
        "UPDATE steps SET status = 'ready', due_at = $1 WHERE tenant_id = $2 AND execution_id = $3 \
         AND seq = $4 AND status = 'waiting'",
    )
    .bind(now)
    .bind(&key.tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if woken > 0 {
        set_payload(conn, key, "resume", Some(resume)).await?;
    }
    Ok(woken > 0)
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
    sqlx::query(
        "UPDATE steps SET status = 'cancelled' WHERE tenant_id = $1 AND execution_id = $2 \
         AND status IN ('queued', 'collecting', 'ready', 'waiting')",
    )
    .bind(tenant)
    .bind(execution)
    .execute(&mut *conn)
    .await?;
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
        "UPDATE steps SET status = 'ready', due_at = $1, attempt = 0, error = NULL \
         WHERE tenant_id = $2 AND execution_id = $3 AND seq = $4",
    )
    .bind(now)
    .bind(tenant)
    .bind(&key.execution_id)
    .bind(key.seq)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE executions SET status = 'running', error = NULL, result = NULL, finished_at = NULL \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(&key.execution_id)
    .execute(&mut *conn)
    .await?;
    Ok(key)
}

pub(crate) async fn put_workflow(
    conn: &mut Conn,
    tenant: &str,
    id: Option<&str>,
    name: &str,
    definition: &Value,
    now: Millis,
) -> Result<WorkflowVersion> {
    let existing = match id {
        Some(id) => {
            let found = sqlx::query(
                "SELECT id, latest_version FROM workflows WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if found.is_none() {
                return Err(StoreError::NotFound(format!("workflow `{id}`")));
            }
            let clash = sqlx::query(
                "SELECT id FROM workflows WHERE tenant_id = $1 AND name = $2 AND id <> $3",
            )
            .bind(tenant)
            .bind(name)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if clash.is_some() {
                return Err(StoreError::Conflict(format!(
                    "another workflow is named `{name}`; pick another name"
                )));
            }
            found
        }
        None => {
            sqlx::query(
                "SELECT id, latest_version FROM workflows WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    let (id, version) = match existing {
        Some(row) => {
            let id: String = row.try_get("id")?;
            let latest: i64 = row.try_get("latest_version")?;
            let current: String = sqlx::query(
                "SELECT definition FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2 AND version = $3",
            )
            .bind(tenant)
            .bind(&id)
            .bind(latest)
            .fetch_one(&mut *conn)
            .await?
            .try_get("definition")?;
            if parse(&current)? == *definition {
                return Ok(WorkflowVersion {
                    workflow_id: id,
                    name: name.to_owned(),
                    version: latest,
                    definition: definition.clone(),
                });
            }
            sqlx::query("UPDATE workflows SET latest_version = $1, name = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5")
                .bind(latest + 1)
                .bind(name)
                .bind(now)
                .bind(tenant)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            (id, latest + 1)
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO workflows (tenant_id, id, name, latest_version, created_at, updated_at) \
                 VALUES ($1, $2, $3, 1, $4, $4)",
            )
            .bind(tenant)
            .bind(&id)
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            (id, 1)
        }
    };
    sqlx::query(
        "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(&id)
    .bind(version)
    .bind(text(definition))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(WorkflowVersion {
        workflow_id: id,
        name: name.to_owned(),
        version,
        definition: definition.clone(),
    })
}

pub(crate) async fn prune(
    conn: &mut Conn,
    tenant: &str,
    workflow_id: &str,
    max_age_ms: Option<i64>,
    max_count: Option<i64>,
    now: Millis,
) -> Result<u64> {
    let mut pruned = 0;
    if let Some(age) = max_age_ms {
        pruned += sqlx::query(
            "DELETE FROM executions WHERE tenant_id = $1 AND workflow_id = $2 \
             AND status IN ('succeeded', 'failed', 'cancelled') AND finished_at < $3",
        )
        .bind(tenant)
        .bind(workflow_id)
        .bind(now - age)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if let Some(keep) = max_count {
        let ids = sqlx::query(
            "SELECT id FROM executions WHERE tenant_id = $1 AND workflow_id = $2 \
             AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY created_at DESC, id DESC \
             LIMIT -1 OFFSET $3",
        );
        let ids = if conn.backend_name() == "PostgreSQL" {
            sqlx::query(
                "SELECT id FROM executions WHERE tenant_id = $1 AND workflow_id = $2 \
                 AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY created_at DESC, id DESC \
                 OFFSET $3",
            )
        } else {
            ids
        };
        let ids: Vec<String> = ids
            .bind(tenant)
            .bind(workflow_id)
            .bind(keep)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row: &AnyRow| row.try_get("id"))
            .collect::<Result<_, _>>()?;
        for id in ids {
            pruned += sqlx::query("DELETE FROM executions WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(&id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
    }
    Ok(pruned)
}
