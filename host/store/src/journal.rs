//! The run journal: a run that executes in the process that started it
//! (a synchronous webhook, a worker driving a run it leased) keeps its state
//! in memory and appends what changed at each durable point, as one write.
//!
//! An append carries the run's row and every step row that changed since
//! the last append, whole: rows are upserted, so the journal is the same
//! rows the step queue reads, and a run whose process dies is resumed from
//! them by any worker (its running step's lease lapses).

use std::collections::HashSet;

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::ops::{parse, parse_opt, text};
use crate::types::*;
use crate::{Result, Store, StoreError};

/// One step's row as the run in memory has it.
#[derive(Clone, Debug)]
pub struct JournalStep {
    /// Its number in the run.
    pub seq: i64,
    /// Its node.
    pub node_id: String,
    /// Loop iteration.
    pub iteration: i64,
    /// Node or compensation.
    pub kind: StepKind,
    /// Where it is.
    pub status: StepStatus,
    /// Attempts begun.
    pub attempt: i64,
    /// Stays the same across attempts.
    pub idempotency_key: String,
    /// When it is due (ready) or wakes (waiting).
    pub due_at: Option<Millis>,
    /// The lease holder while it runs.
    pub lease_owner: Option<String>,
    /// Until when the lease holds.
    pub lease_expires: Option<Millis>,
    /// Inputs it waits for (Merge).
    pub inputs_expected: i64,
    /// Its place among the run's completed steps.
    pub done_order: Option<i64>,
    /// Why its last attempt failed.
    pub error: Option<serde_json::Value>,
    /// What its last attempt used.
    pub usage: Usage,
    /// When it was made.
    pub created_at: Millis,
    /// When its last attempt began.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Its input items by input name.
    pub input: serde_json::Value,
    /// Its output items by port.
    pub output: Option<serde_json::Value>,
    /// Its node state.
    pub state: Option<serde_json::Value>,
    /// Its log lines.
    pub logs: Option<serde_json::Value>,
}

/// A run's row as the run in memory has it.
#[derive(Clone, Debug)]
pub struct JournalRun {
    /// The run's tenant.
    pub tenant: String,
    /// The run.
    pub id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// The workflow version it runs.
    pub version: i64,
    /// Where it is.
    pub status: ExecutionStatus,
    /// `n8n-v1` order: one branch at a time.
    pub sequential: bool,
    /// The next sequence number (for steps and completion order).
    pub next_seq: i64,
    /// Why it failed.
    pub error: Option<serde_json::Value>,
    /// The last completed node's output.
    pub result: Option<serde_json::Value>,
    /// A respond node's answer.
    pub response: Option<serde_json::Value>,
    /// When it started.
    pub created_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
}

/// What to append: the run's row, and the step rows that changed.
#[derive(Clone, Debug)]
pub struct Append {
    /// The run's row.
    pub run: JournalRun,
    /// Whether the run has no row yet (its first append).
    pub first: bool,
    /// The steps that changed since the last append.
    pub steps: Vec<JournalStep>,
    /// What those steps changed in their nodes' state.
    pub node_state: Vec<crate::NodeStateWrite>,
}

/// How an append went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Recorded.
    Recorded,
    /// The run is not this process's to write: it was cancelled (or ended)
    /// by someone else meanwhile, or, on its first append, a run with its id
    /// exists already. Nothing was written.
    Lost,
}

/// Rows per multi-row statement: 23 columns a step, well under SQLite's
/// 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 256;

impl Store {
    /// Appends a run's changes to its journal in the next group commit.
    pub async fn append(&self, append: Append) -> Result<Appended> {
        self.writer.append(append).await
    }

    /// Ends the steps `owner` holds in run `id`, once the run is no longer
    /// running (cancelled while they ran): they are cancelled, unleased.
    pub async fn release(&self, tenant: &str, id: &str, owner: &str) -> Result<u64> {
        let (tenant, id, owner) = (tenant.to_owned(), id.to_owned(), owner.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query(
                        "UPDATE steps SET status = $1, lease_owner = NULL, lease_expires = NULL \
                         WHERE tenant_id = $2 AND execution_id = $3 AND status = $4 \
                         AND lease_owner = $5 AND EXISTS (SELECT 1 FROM executions e \
                         WHERE e.tenant_id = $2 AND e.id = $3 AND e.status <> $6)",
                    )
                    .bind(StepStatus::Cancelled.as_str())
                    .bind(&tenant)
                    .bind(&id)
                    .bind(StepStatus::Running.as_str())
                    .bind(&owner)
                    .bind(ExecutionStatus::Running.as_str())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected())
                })
            })
            .await
    }

    /// A run's journal: its row and all its step rows, in sequence order,
    /// and whether it is a child run (whose end wakes its parent), for a
    /// worker that takes the run over.
    pub async fn journal(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<(JournalRun, Vec<JournalStep>, bool)> {
        let row = sqlx::query(
            "SELECT workflow_id, version, status, sequential, next_seq, error, result, response, \
             created_at, finished_at, parent_execution FROM executions \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("execution `{id}`")))?;
        let run = JournalRun {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
            workflow_id: row.try_get("workflow_id")?,
            version: row.try_get("version")?,
            status: ExecutionStatus::parse(&row.try_get::<String, _>("status")?),
            sequential: row.try_get::<i64, _>("sequential")? != 0,
            next_seq: row.try_get("next_seq")?,
            error: parse_opt(row.try_get("error")?)?,
            result: parse_opt(row.try_get("result")?)?,
            response: parse_opt(row.try_get("response")?)?,
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
        };
        let steps = sqlx::query(
            "SELECT s.seq, s.node_id, s.iteration, s.kind, s.status, s.attempt, s.idempotency_key, \
             s.due_at, s.lease_owner, s.lease_expires, s.inputs_expected, s.done_order, s.error, \
             s.duration_us, s.fuel, s.peak_memory_bytes, s.egress_requests, s.egress_bytes, \
             s.created_at, s.started_at, s.finished_at, p.input, p.output, p.state, p.logs \
             FROM steps s JOIN step_payloads p \
             ON p.tenant_id = s.tenant_id AND p.execution_id = s.execution_id AND p.seq = s.seq \
             WHERE s.tenant_id = $1 AND s.execution_id = $2 ORDER BY s.seq",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(JournalStep {
                seq: row.try_get("seq")?,
                node_id: row.try_get("node_id")?,
                iteration: row.try_get("iteration")?,
                kind: StepKind::parse(&row.try_get::<String, _>("kind")?),
                status: StepStatus::parse(&row.try_get::<String, _>("status")?),
                attempt: row.try_get("attempt")?,
                idempotency_key: row.try_get("idempotency_key")?,
                due_at: row.try_get("due_at")?,
                lease_owner: row.try_get("lease_owner")?,
                lease_expires: row.try_get("lease_expires")?,
                inputs_expected: row.try_get("inputs_expected")?,
                done_order: row.try_get("done_order")?,
                error: parse_opt(row.try_get("error")?)?,
                usage: crate::api::usage(row)?,
                created_at: row.try_get("created_at")?,
                started_at: row.try_get("started_at")?,
                finished_at: row.try_get("finished_at")?,
                input: parse(&row.try_get::<String, _>("input")?)?,
                output: parse_opt(row.try_get("output")?)?,
                state: parse_opt(row.try_get("state")?)?,
                logs: parse_opt(row.try_get("logs")?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let parent: Option<String> = row.try_get("parent_execution")?;
        Ok((run, steps, parent.is_some()))
    }
}

/// Writes the appends of several runs with a few multi-row statements: the
/// runs' rows (new ones inserted, others updated while still running), then
/// the step rows of the runs that were recorded.
pub(crate) async fn apply_all(
    conn: &mut AnyConnection,
    appends: &[&Append],
) -> Result<Vec<Appended>> {
    let mut recorded: HashSet<(String, String)> = HashSet::new();
    let (first, later): (Vec<&Append>, Vec<&Append>) = appends.iter().partition(|a| a.first);
    for chunk in first.chunks(ROWS_PER_STATEMENT) {
        recorded.extend(write_runs(conn, chunk, false).await?);
    }
    for chunk in later.chunks(ROWS_PER_STATEMENT) {
        recorded.extend(write_runs(conn, chunk, true).await?);
    }
    let steps: Vec<(&JournalRun, &JournalStep)> = appends
        .iter()
        .filter(|a| recorded.contains(&(a.run.tenant.clone(), a.run.id.clone())))
        .flat_map(|a| a.steps.iter().map(move |s| (&a.run, s)))
        .collect();
    for chunk in steps.chunks(ROWS_PER_STATEMENT) {
        upsert_steps(conn, chunk).await?;
        upsert_payloads(conn, chunk).await?;
    }
    // Most appends carry no node state: look those up in `recorded` not at all.
    for append in appends.iter().filter(|a| {
        !a.node_state.is_empty() && recorded.contains(&(a.run.tenant.clone(), a.run.id.clone()))
    }) {
        for write in &append.node_state {
            crate::node_state::apply(conn, &append.run.tenant, write, crate::now_millis()).await?;
        }
    }
    Ok(appends
        .iter()
        .map(|a| {
            if recorded.contains(&(a.run.tenant.clone(), a.run.id.clone())) {
                Appended::Recorded
            } else {
                Appended::Lost
            }
        })
        .collect())
}

/// Inserts the runs' rows (a run whose id exists is left alone), or with
/// `update`, updates those still running; returns the runs written.
async fn write_runs(
    conn: &mut AnyConnection,
    appends: &[&Append],
    update: bool,
) -> Result<Vec<(String, String)>> {
    const COLUMNS: usize = 12;
    let marks = Marks::of(conn);
    // Only a run still running takes the update: one cancelled meanwhile
    // keeps its end. The status is the last parameter, after the rows'.
    let conflict = if update {
        let mut sql = "ON CONFLICT (tenant_id, id) DO UPDATE SET status = excluded.status, \
             next_seq = excluded.next_seq, error = excluded.error, result = excluded.result, \
             response = excluded.response, finished_at = excluded.finished_at \
             WHERE executions.status = "
            .to_owned();
        marks.mark(&mut sql, appends.len() * COLUMNS + 1);
        sql
    } else {
        "ON CONFLICT DO NOTHING".to_owned()
    };
    let sql = format!(
        "INSERT INTO executions (tenant_id, id, workflow_id, version, status, sequential, \
         next_seq, error, result, response, created_at, finished_at) VALUES {} {conflict} \
         RETURNING tenant_id, id",
        placeholders(appends.len(), COLUMNS, marks)
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for append in appends {
        let run = &append.run;
        query = query
            .bind(&run.tenant)
            .bind(&run.id)
            .bind(&run.workflow_id)
            .bind(run.version)
            .bind(run.status.as_str())
            .bind(i64::from(run.sequential))
            .bind(run.next_seq)
            .bind(run.error.as_ref().map(text))
            .bind(run.result.as_ref().map(text))
            .bind(run.response.as_ref().map(text))
            .bind(run.created_at)
            .bind(run.finished_at);
    }
    if update {
        query = query.bind(ExecutionStatus::Running.as_str());
    }
    query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("tenant_id")?, row.try_get("id")?)))
        .collect()
}

/// How a statement's parameters are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marks {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …`, bound in order (SQLite). sqlx looks every numbered
    /// parameter's name up, and SQLite finds a name by scanning the list of
    /// names: quadratic in a multi-row statement's thousands of parameters.
    /// Anonymous ones have no name to look up.
    Positional,
}

impl Marks {
    fn of(conn: &AnyConnection) -> Marks {
        if conn.backend_name() == "SQLite" {
            Marks::Positional
        } else {
            Marks::Numbered
        }
    }

    /// Parameter number `n` (from 1).
    fn mark(self, sql: &mut String, n: usize) {
        match self {
            Marks::Numbered => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            Marks::Positional => sql.push('?'),
        }
    }
}

/// `($1, $2, …, $n), ($n+1, …)`: `rows` groups of `columns` placeholders.
fn placeholders(rows: usize, columns: usize, marks: Marks) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            marks.mark(&mut sql, row * columns + column + 1);
        }
        sql.push(')');
    }
    sql
}

async fn upsert_steps(
    conn: &mut AnyConnection,
    steps: &[(&JournalRun, &JournalStep)],
) -> Result<()> {
    const COLUMNS: usize = 23;
    let sql = format!(
        "INSERT INTO steps (tenant_id, execution_id, seq, node_id, iteration, kind, status, \
         attempt, idempotency_key, due_at, lease_owner, lease_expires, inputs_expected, \
         done_order, error, duration_us, fuel, peak_memory_bytes, egress_requests, egress_bytes, \
         created_at, started_at, finished_at) VALUES {} \
         ON CONFLICT (tenant_id, execution_id, seq) DO UPDATE SET status = excluded.status, \
         attempt = excluded.attempt, due_at = excluded.due_at, lease_owner = excluded.lease_owner, \
         lease_expires = excluded.lease_expires, done_order = excluded.done_order, \
         error = excluded.error, duration_us = excluded.duration_us, fuel = excluded.fuel, \
         peak_memory_bytes = excluded.peak_memory_bytes, \
         egress_requests = excluded.egress_requests, egress_bytes = excluded.egress_bytes, \
         started_at = excluded.started_at, finished_at = excluded.finished_at",
        placeholders(steps.len(), COLUMNS, Marks::of(conn))
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (run, step) in steps {
        query = query
            .bind(&run.tenant)
            .bind(&run.id)
            .bind(step.seq)
            .bind(&step.node_id)
            .bind(step.iteration)
            .bind(step.kind.as_str())
            .bind(step.status.as_str())
            .bind(step.attempt)
            .bind(&step.idempotency_key)
            .bind(step.due_at)
            .bind(step.lease_owner.clone())
            .bind(step.lease_expires)
            .bind(step.inputs_expected)
            .bind(step.done_order)
            .bind(step.error.as_ref().map(text))
            .bind(step.usage.duration_us)
            .bind(step.usage.fuel)
            .bind(step.usage.peak_memory_bytes)
            .bind(step.usage.egress_requests)
            .bind(step.usage.egress_bytes)
            .bind(step.created_at)
            .bind(step.started_at)
            .bind(step.finished_at);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

async fn upsert_payloads(
    conn: &mut AnyConnection,
    steps: &[(&JournalRun, &JournalStep)],
) -> Result<()> {
    const COLUMNS: usize = 8;
    let sql = format!(
        "INSERT INTO step_payloads (tenant_id, execution_id, seq, input, output, state, resume, logs) \
         VALUES {} ON CONFLICT (tenant_id, execution_id, seq) DO UPDATE SET input = excluded.input, \
         output = excluded.output, state = excluded.state, logs = excluded.logs",
        placeholders(steps.len(), COLUMNS, Marks::of(conn))
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (run, step) in steps {
        query = query
            .bind(&run.tenant)
            .bind(&run.id)
            .bind(step.seq)
            .bind(text(&step.input))
            .bind(step.output.as_ref().map(text))
            .bind(step.state.as_ref().map(text))
            .bind(None::<String>)
            .bind(step.logs.as_ref().map(text));
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Marks, placeholders};

    #[test]
    fn placeholders_number_every_row_in_turn() {
        assert_eq!(
            placeholders(2, 3, Marks::Numbered),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(placeholders(2, 2, Marks::Positional), "(?, ?), (?, ?)");
    }
}
