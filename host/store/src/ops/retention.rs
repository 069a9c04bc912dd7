//! Retention: finished runs past their workflow's age or count limits
//! are deleted.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;
use crate::Result;
use crate::types::*;

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
             AND status IN ($4, $5, $6) AND finished_at < $3",
        )
        .bind(tenant)
        .bind(workflow_id)
        .bind(now - age)
        .bind(ExecutionStatus::Succeeded.as_str())
        .bind(ExecutionStatus::Failed.as_str())
        .bind(ExecutionStatus::Cancelled.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if let Some(keep) = max_count {
        let ids = sqlx::query(
            "SELECT id FROM executions WHERE tenant_id = $1 AND workflow_id = $2 \
             AND status IN ($4, $5, $6) ORDER BY created_at DESC, id DESC \
             LIMIT -1 OFFSET $3",
        );
        let ids = if conn.backend_name() == "PostgreSQL" {
            sqlx::query(
                "SELECT id FROM executions WHERE tenant_id = $1 AND workflow_id = $2 \
                 AND status IN ($4, $5, $6) ORDER BY created_at DESC, id DESC \
                 OFFSET $3",
            )
        } else {
            ids
        };
        let ids: Vec<String> = ids
            .bind(tenant)
            .bind(workflow_id)
            .bind(keep)
            .bind(ExecutionStatus::Succeeded.as_str())
            .bind(ExecutionStatus::Failed.as_str())
            .bind(ExecutionStatus::Cancelled.as_str())
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
