//! Per-tenant limits, each answered with 429 and a message that names the
//! limit and the setting that raises it:
//!
//! - a request rate at ingress (API calls and webhooks), counted in Redis
//!   when there is one, so every API replica shares one budget per tenant
//!   (a one-second window), else in this process (governor's GCRA);
//! - runs not yet ended, and steps per hour, counted in the store that every
//!   replica shares; they are checked when a run would start.
//!
//! Every limit is off unless set (`serve --tenant-...`).

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::StatusCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use n8n_work_store::Store;

use crate::{ApiError, ApiResult, SharedRedis};

/// What each tenant may use. `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantLimits {
    /// API calls and webhook deliveries per second.
    pub requests_per_second: Option<NonZeroU32>,
    /// Runs that have not ended.
    pub running_executions: Option<u64>,
    /// Steps made by the runs started in the last hour.
    pub steps_per_hour: Option<u64>,
}

/// One hour, in milliseconds.
const HOUR_MS: i64 = 60 * 60 * 1000;

/// Checks the limits; clones share the counts.
#[derive(Clone)]
pub(crate) struct Limiter {
    limits: TenantLimits,
    local: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    redis: Option<SharedRedis>,
}

impl Limiter {
    pub(crate) fn new(limits: TenantLimits) -> Limiter {
        Limiter {
            limits,
            local: limits
                .requests_per_second
                .map(|rate| Arc::new(RateLimiter::keyed(Quota::per_second(rate)))),
            redis: None,
        }
    }

    /// Counts requests in Redis, shared with the other replicas.
    pub(crate) fn share(&mut self, redis: SharedRedis) {
        self.redis = Some(redis);
    }

    /// Admits one request of `tenant`, or refuses it (429) when the tenant is
    /// over its request rate.
    pub(crate) async fn request(&self, tenant: &str) -> ApiResult<()> {
        let Some(rate) = self.limits.requests_per_second else {
            return Ok(());
        };
        let admitted = match self.shared_count(tenant).await {
            Some(count) => count <= u64::from(rate.get()),
            None => self
                .local
                .as_ref()
                .is_none_or(|local| local.check_key(&tenant.to_owned()).is_ok()),
        };
        if admitted {
            Ok(())
        } else {
            Err(over(
                format!(
                    "tenant `{tenant}` is over its request rate of {rate} per second (the `tenant-requests-per-second` setting); slow down, or ask the operator to raise it"
                ),
                1,
            ))
        }
    }

    /// This second's requests of `tenant` so far, this one included, as
    /// counted in Redis; `None` without Redis or while it is unreachable.
    async fn shared_count(&self, tenant: &str) -> Option<u64> {
        let redis = self.redis.as_ref()?;
        let second = n8n_work_store::now_millis() / 1000;
        let key = redis.key(&format!("rate:{tenant}:{second}"));
        let counted = async {
            let mut connection = redis.connection().await?;
            redis::pipe()
                .atomic()
                .incr(&key, 1)
                .expire(&key, 2)
                .ignore()
                .query_async::<(u64,)>(&mut connection)
                .await
        };
        match counted.await {
            Ok((count,)) => Some(count),
            Err(e) => {
                tracing::warn!(error = %e, "Redis is unreachable; request rates are counted in this process only");
                None
            }
        }
    }

    /// Admits a new run of `tenant`, or refuses it (429) when the tenant has
    /// as many runs open as it may, or has used its steps for the hour.
    pub(crate) async fn run(&self, store: &Store, tenant: &str) -> ApiResult<()> {
        if let Some(most) = self.limits.running_executions {
            let running = store.running_executions(tenant).await?;
            if running >= most {
                return Err(over(
                    format!(
                        "tenant `{tenant}` has {running} runs open, the most it may (the `tenant-running-executions` setting); wait for some to end, or ask the operator to raise it"
                    ),
                    1,
                ));
            }
        }
        if let Some(most) = self.limits.steps_per_hour {
            let now = n8n_work_store::now_millis();
            let used = store.steps_since(tenant, now - HOUR_MS).await?;
            if used >= most {
                return Err(over(
                    format!(
                        "tenant `{tenant}` has used {used} steps in the last hour, the most it may (the `tenant-steps-per-hour` setting); wait, or ask the operator to raise it"
                    ),
                    60,
                ));
            }
        }
        Ok(())
    }
}

/// A 429 that says when to come back.
fn over(message: String, retry_after_secs: u16) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "limit_exceeded", message)
        .retry_after(retry_after_secs)
}
