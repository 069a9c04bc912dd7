//! What a tenant uses now, for its limits: runs not yet ended, and the
//! steps made by its recent runs. Both are read from the rows every replica
//! shares, so a limit holds across API processes.

use sqlx::Row;

use crate::types::Millis;
use crate::{Result, Store};

impl Store {
    /// How many of `tenant`'s runs have not ended (running or compensating).
    pub async fn running_executions(&self, tenant: &str) -> Result<u64> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM executions \
             WHERE tenant_id = $1 AND status IN ('running', 'compensating')",
        )
        .bind(tenant)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// How many steps the runs of `tenant` that started at or after `since`
    /// have made so far. A run's steps count in the period it started in.
    pub async fn steps_since(&self, tenant: &str, since: Millis) -> Result<u64> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM executions e JOIN steps s \
             ON s.tenant_id = e.tenant_id AND s.execution_id = e.id \
             WHERE e.tenant_id = $1 AND e.created_at >= $2",
        )
        .bind(tenant)
        .bind(since)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
