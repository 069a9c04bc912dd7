//! Per-tenant limits, each answered with 429 and a message that names the
//! limit and the setting that raises it:
//!
//! - a request rate at ingress (API calls and webhooks), counted in Redis
//!   when there is one, so every API replica shares one budget per tenant
//!   (a one-second window), else in this process (governor's GCRA);
//! - runs not yet ended, and steps per hour, counted in the store that every
//!   replica shares; they are checked when a run would start.
//!
//! Every limit is off unless set (`serve --tenant-...`). The platform
//! owner can set any of them for one tenant (`PUT /api/v1/limits`,
//! `n8n-work tenant limits`), above or below the server's setting; each
//! process reads a tenant's overrides again after a few seconds.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use n8n_work_store::{LimitOverrides, Store};

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

/// How long a process trusts the overrides it read.
const OVERRIDES_FOR: Duration = Duration::from_secs(5);

/// A tenant's limits and where each comes from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Effective {
    pub(crate) limits: TenantLimits,
    pub(crate) overrides: LimitOverrides,
}

impl Effective {
    /// Names where limit `setting` comes from, for a refusal.
    fn source(overridden: bool, setting: &str) -> String {
        if overridden {
            "this tenant's own limit, set by the platform owner".to_owned()
        } else {
            format!("the `{setting}` setting")
        }
    }
}

/// A tenant's request rate counted in this process, and the rate it counts to.
type LocalRate = (NonZeroU32, Arc<DefaultDirectRateLimiter>);

/// Checks the limits; clones share the counts.
#[derive(Clone)]
pub(crate) struct Limiter {
    defaults: TenantLimits,
    store: Store,
    overrides: Arc<Mutex<HashMap<String, (Instant, LimitOverrides)>>>,
    local: Arc<Mutex<HashMap<String, LocalRate>>>,
    redis: Option<SharedRedis>,
}

impl Limiter {
    pub(crate) fn new(defaults: TenantLimits, store: Store) -> Limiter {
        Limiter {
            defaults,
            store,
            overrides: Arc::default(),
            local: Arc::default(),
            redis: None,
        }
    }

    /// Counts requests in Redis, shared with the other replicas.
    pub(crate) fn share(&mut self, redis: SharedRedis) {
        self.redis = Some(redis);
    }

    /// The server's settings.
    pub(crate) fn defaults(&self) -> TenantLimits {
        self.defaults
    }

    /// Forgets what was read of `tenant`'s overrides, so they apply here now.
    pub(crate) fn forget(&self, tenant: &str) {
        if let Ok(mut cache) = self.overrides.lock() {
            cache.remove(tenant);
        }
    }

    /// `tenant`'s limits: its overrides over the server's settings.
    pub(crate) async fn of(&self, tenant: &str) -> Effective {
        let cached = self.overrides.lock().ok().and_then(|cache| {
            cache
                .get(tenant)
                .filter(|(at, _)| at.elapsed() < OVERRIDES_FOR)
                .map(|(_, o)| *o)
        });
        let overrides = match cached {
            Some(o) => o,
            None => {
                let read = self.store.limit_overrides(tenant).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, tenant, "cannot read the tenant's limits; using the server's");
                    LimitOverrides::default()
                });
                if let Ok(mut cache) = self.overrides.lock() {
                    cache.insert(tenant.to_owned(), (Instant::now(), read));
                }
                read
            }
        };
        let rate = overrides
            .requests_per_second
            .and_then(|n| NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)));
        Effective {
            limits: TenantLimits {
                requests_per_second: rate.or(self.defaults.requests_per_second),
                running_executions: overrides
                    .running_executions
                    .or(self.defaults.running_executions),
                steps_per_hour: overrides.steps_per_hour.or(self.defaults.steps_per_hour),
            },
            overrides,
        }
    }

    /// Admits one request of `tenant`, or refuses it (429) when the tenant is
    /// over its request rate.
    pub(crate) async fn request(&self, tenant: &str) -> ApiResult<()> {
        let effective = self.of(tenant).await;
        let Some(rate) = effective.limits.requests_per_second else {
            return Ok(());
        };
        let admitted = match self.shared_count(tenant).await {
            Some(count) => count <= u64::from(rate.get()),
            None => self.local_check(tenant, rate),
        };
        if admitted {
            Ok(())
        } else {
            let source = Effective::source(
                effective.overrides.requests_per_second.is_some(),
                "tenant-requests-per-second",
            );
            Err(over(
                format!(
                    "tenant `{tenant}` is over its request rate of {rate} per second ({source}); slow down, or ask the operator to raise it"
                ),
                1,
            ))
        }
    }

    /// Counts a request of `tenant` in this process (no Redis).
    fn local_check(&self, tenant: &str, rate: NonZeroU32) -> bool {
        let Ok(mut local) = self.local.lock() else {
            return true;
        };
        let limiter = match local.get(tenant) {
            Some((at, limiter)) if *at == rate => Arc::clone(limiter),
            _ => {
                let limiter = Arc::new(RateLimiter::direct(Quota::per_second(rate)));
                local.insert(tenant.to_owned(), (rate, Arc::clone(&limiter)));
                limiter
            }
        };
        drop(local);
        limiter.check().is_ok()
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
        let Effective { limits, overrides } = self.of(tenant).await;
        if let Some(most) = limits.running_executions {
            let source = Effective::source(
                overrides.running_executions.is_some(),
                "tenant-running-executions",
            );
            let running = store.running_executions(tenant).await?;
            if running >= most {
                return Err(over(
                    format!(
                        "tenant `{tenant}` has {running} runs open, the most it may ({source}); wait for some to end, or ask the operator to raise it"
                    ),
                    1,
                ));
            }
        }
        if let Some(most) = limits.steps_per_hour {
            let source =
                Effective::source(overrides.steps_per_hour.is_some(), "tenant-steps-per-hour");
            let now = n8n_work_store::now_millis();
            let used = store.steps_since(tenant, now - HOUR_MS).await?;
            if used >= most {
                return Err(over(
                    format!(
                        "tenant `{tenant}` has used {used} steps in the last hour, the most it may ({source}); wait, or ask the operator to raise it"
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

/// A tenant's limits as the API shows them.
async fn shown(state: &crate::AppState, tenant: &str) -> ApiResult<serde_json::Value> {
    let effective = state.limiter.of(tenant).await;
    let store = state.engine.store();
    let running = store.running_executions(tenant).await?;
    let steps = store
        .steps_since(tenant, n8n_work_store::now_millis() - HOUR_MS)
        .await?;
    let view = |l: TenantLimits| {
        serde_json::json!({
            "requestsPerSecond": l.requests_per_second.map(NonZeroU32::get),
            "runningExecutions": l.running_executions,
            "stepsPerHour": l.steps_per_hour,
        })
    };
    Ok(serde_json::json!({
        "tenant": tenant,
        "limits": view(effective.limits),
        "overrides": effective.overrides,
        "settings": view(state.limiter.defaults()),
        "usage": { "runningExecutions": running, "stepsLastHour": steps },
    }))
}

#[derive(serde::Deserialize)]
pub(crate) struct LimitsQuery {
    tenant: Option<String>,
}

/// `GET /limits?tenant=`: a tenant's limits (the caller's own; another
/// tenant's for the platform owner), where each comes from, and what it uses.
#[utoipa::path(get, path = "/api/v1/limits", tag = "access", params(("tenant" = Option<String>, Query, description = "Another tenant (the platform owner only)")), responses((status = 200, description = "`{tenant, limits, overrides, settings, usage}`", body = serde_json::Value)))]
pub(crate) async fn get_limits(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    extensions: axum::http::Extensions,
    axum::extract::Query(query): axum::extract::Query<LimitsQuery>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let caller = crate::caller(&extensions)?;
    let tenant = query.tenant.unwrap_or_else(|| caller.tenant.clone());
    if tenant != caller.tenant {
        let platform =
            n8n_work_auth::Resource::new(n8n_work_auth::PLATFORM_TENANT, "tenant", &tenant);
        if !state
            .may(&caller, n8n_work_auth::Action::TenantLimits, &platform)
            .await?
        {
            return Err(ApiError::not_found(format!("no tenant `{tenant}` here")));
        }
    }
    Ok(axum::Json(shown(&state, &tenant).await?))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetLimits {
    tenant: String,
    #[serde(flatten)]
    overrides: LimitOverrides,
}

/// `PUT /limits {tenant, requestsPerSecond?, runningExecutions?, stepsPerHour?}`:
/// replaces a tenant's own limits (the platform owner only); a limit left
/// out takes the server's setting.
#[utoipa::path(put, path = "/api/v1/limits", tag = "access", request_body(content = serde_json::Value, description = "`{tenant, requestsPerSecond?, runningExecutions?, stepsPerHour?}`"), responses((status = 200, description = "The tenant's limits, as `GET /limits` shows them", body = serde_json::Value), (status = 404, body = serde_json::Value)))]
pub(crate) async fn set_limits(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    extensions: axum::http::Extensions,
    body: Option<axum::Json<SetLimits>>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let caller = crate::caller(&extensions)?;
    let Some(axum::Json(body)) = body else {
        return Err(ApiError::bad_request(
            "send {\"tenant\": \"acme\", \"requestsPerSecond\": 50, \"runningExecutions\": 20, \"stepsPerHour\": 10000} as JSON; a limit left out takes the server's setting",
        ));
    };
    if body.overrides.requests_per_second == Some(0) {
        return Err(ApiError::bad_request(
            "`requestsPerSecond` must be at least 1; to stop a tenant's runs, set `runningExecutions` to 0",
        ));
    }
    let before = state
        .engine
        .store()
        .set_limit_overrides(&body.tenant, body.overrides, n8n_work_store::now_millis())
        .await?;
    state.limiter.forget(&body.tenant);
    state
        .record(
            &caller,
            n8n_work_auth::Action::TenantLimits,
            format!("tenant:{}", body.tenant),
            serde_json::to_value(before).ok().as_ref(),
            serde_json::to_value(body.overrides).ok().as_ref(),
        )
        .await;
    Ok(axum::Json(shown(&state, &body.tenant).await?))
}
