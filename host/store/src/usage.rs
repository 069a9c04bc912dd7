//! What a tenant uses now, for its limits: runs not yet ended, and the
//! steps made by its recent runs. Both are read from the rows every replica
//! shares, so a limit holds across API processes.

use sqlx::Row;

use crate::types::{ExecutionStatus, Millis};
use crate::{Result, Store};

impl Store {
    /// How many of `tenant`'s runs have not ended (running or compensating).
    pub async fn running_executions(&self, tenant: &str) -> Result<u64> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM executions \
             WHERE tenant_id = $1 AND status IN ($2, $3)",
        )
        .bind(tenant)
        .bind(ExecutionStatus::Running.as_str())
        .bind(ExecutionStatus::Compensating.as_str())
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

/// A tenant's own limits, where the platform owner set them; `None` takes
/// the server's setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitOverrides {
    /// API calls and webhook deliveries per second.
    pub requests_per_second: Option<u64>,
    /// Runs that have not ended.
    pub running_executions: Option<u64>,
    /// Steps made by the runs started in the last hour.
    pub steps_per_hour: Option<u64>,
}

/// Reads a tenant's overrides.
const SELECT_OVERRIDES: &str = "SELECT requests_per_second, running_executions, steps_per_hour \
     FROM tenant_limits WHERE tenant_id = $1";

/// The overrides in `row`; none without one.
fn overrides_of(row: Option<sqlx::any::AnyRow>) -> Result<LimitOverrides> {
    let Some(row) = row else {
        return Ok(LimitOverrides::default());
    };
    let read = |column: &str| -> Result<Option<u64>> {
        Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(|n| n.max(0) as u64))
    };
    Ok(LimitOverrides {
        requests_per_second: read("requests_per_second")?,
        running_executions: read("running_executions")?,
        steps_per_hour: read("steps_per_hour")?,
    })
}

impl Store {
    /// The overrides set for `tenant`, if any.
    pub async fn limit_overrides(&self, tenant: &str) -> Result<LimitOverrides> {
        let row = sqlx::query(SELECT_OVERRIDES)
            .bind(tenant)
            .fetch_optional(self.pool())
            .await?;
        overrides_of(row)
    }

    /// Replaces `tenant`'s overrides (all `None` removes them); the ones
    /// before. The tenant must exist.
    pub async fn set_limit_overrides(
        &self,
        tenant: &str,
        overrides: LimitOverrides,
        now: Millis,
    ) -> Result<LimitOverrides> {
        let tenant = tenant.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let exists = sqlx::query("SELECT id FROM tenants WHERE id = $1")
                        .bind(&tenant)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if exists.is_none() {
                        return Err(crate::StoreError::NotFound(format!("tenant `{tenant}`")));
                    }
                    let before = overrides_of(
                        sqlx::query(SELECT_OVERRIDES)
                            .bind(&tenant)
                            .fetch_optional(&mut *conn)
                            .await?,
                    )?;
                    sqlx::query("DELETE FROM tenant_limits WHERE tenant_id = $1")
                        .bind(&tenant)
                        .execute(&mut *conn)
                        .await?;
                    if overrides != LimitOverrides::default() {
                        let db = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
                        sqlx::query(
                            "INSERT INTO tenant_limits (tenant_id, requests_per_second, \
                             running_executions, steps_per_hour, updated_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&tenant)
                        .bind(db(overrides.requests_per_second))
                        .bind(db(overrides.running_executions))
                        .bind(db(overrides.steps_per_hour))
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(before)
                })
            })
            .await
    }
}
