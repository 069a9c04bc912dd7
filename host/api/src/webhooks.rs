//! Webhook triggers at `/webhook/{path}`, and resuming parked runs at
//! `/resume/{token}` and `/webhook-waiting/{execution}/{token}`.
//!
//! A path belongs to the workflow that first activated it, whichever tenant
//! it is in (the store's `webhook_routes` decides). Before a body is read, a
//! request must name an active route, declare no more than `max_body_bytes`,
//! carry the trigger's signature headers with a fresh timestamp, and find a
//! place among its tenant's share (`per_tenant`) and the server's
//! `max_in_flight` (429 past either), so one tenant's flood leaves the
//! others' places. The body must then arrive within `body_timeout` (408)
//! and fit the server's budget of buffered bytes (503); it is parsed by its
//! declared content type only, and authenticated by the trigger's `auth`
//! param before any run starts. Every answer is sandboxed (CSP `sandbox`,
//! `nosniff`) and carries no cookie, since it is served on the UI's origin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use n8n_work_engine::EngineError;
use n8n_work_model::{ControlKind, Workflow};
use n8n_work_runtime::Item;
use n8n_work_store::{ExecutionStatus, StoreError, WebhookRoute};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, ApiResult, AppState, SharedRedis};

/// How much webhooks may take in.
#[derive(Clone, Copy, Debug)]
pub struct WebhookLimits {
    /// The largest body accepted (413 above).
    pub max_body_bytes: usize,
    /// Webhook requests admitted at once, over every tenant (429 above).
    pub max_in_flight: usize,
    /// Webhook requests one tenant may have admitted at once (429 above), so
    /// a flood on one tenant's webhooks leaves the others' places; `None`
    /// shares `max_in_flight` among the tenants with webhooks, up to four
    /// (all of it for one tenant, half each for two, a quarter from four).
    pub max_in_flight_per_tenant: Option<usize>,
    /// Bytes of webhook bodies held in memory at once, over every request
    /// (503 above).
    pub max_buffered_bytes: usize,
    /// How long a body may take to arrive, all of it (408 after).
    pub body_timeout: Duration,
}

impl WebhookLimits {
    /// Requests one tenant may have admitted at once while `tenants` tenants
    /// have active webhooks.
    pub fn per_tenant(&self, tenants: usize) -> usize {
        let total = self.max_in_flight.max(1);
        self.max_in_flight_per_tenant
            .unwrap_or(total / tenants.clamp(1, 4))
            .clamp(1, total)
    }
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            max_body_bytes: 16 * 1024 * 1024,
            max_in_flight: 4096,
            max_in_flight_per_tenant: None,
            max_buffered_bytes: 256 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// How far a signed timestamp may be from now.
const TOLERANCE_SECS: i64 = 5 * 60;

/// A webhook route: the workflow version it starts and how.
#[derive(Clone, Debug)]
struct Hook {
    tenant: String,
    workflow_id: String,
    version: i64,
    /// The webhook node the run starts at.
    node_id: String,
    /// Answer 202 at once rather than with the run's outcome.
    on_received: bool,
    auth: Result<Option<Auth>, String>,
    /// The node's params that shape the answer: `responseData`
    /// (`firstEntryJson`, `allEntries`, `noData`), `responseCode`,
    /// `responseHeaders`, and with `onReceived`, `responseBody`.
    params: Value,
}

/// How a trigger checks who sends.
#[derive(Clone, Debug)]
enum Auth {
    /// Standard Webhooks: `v1,` HMAC-SHA256 with a `whsec_` secret, or
    /// `v1a,` ed25519 with a `whpk_` public key.
    StandardWebhooks { secret: Secret },
    /// GitHub's `X-Hub-Signature-256: sha256=<hex>`.
    GitHub { secret: Secret },
    /// Stripe's `Stripe-Signature: t=...,v1=<hex>`.
    Stripe { secret: Secret },
    /// A shared token in a header.
    Header { name: String, token: Secret },
}

/// A secret: written in the params, or the name of a tenant variable.
#[derive(Clone, Debug)]
enum Secret {
    Literal(String),
    Variable(String),
}

impl Auth {
    fn from_params(params: &Value) -> Result<Option<Auth>, String> {
        let Some(auth) = params.get("auth") else {
            return Ok(None);
        };
        let secret = |field: &str| -> Result<Secret, String> {
            match (auth.get(field), auth.get(format!("{field}Var"))) {
                (Some(Value::String(s)), None) => Ok(Secret::Literal(s.clone())),
                (None, Some(Value::String(v))) => Ok(Secret::Variable(v.clone())),
                _ => Err(format!(
                    "auth.{field}: give the {field} as a string, or `{field}Var` naming a tenant variable that holds it"
                )),
            }
        };
        match auth.get("type").and_then(Value::as_str) {
            Some("standard-webhooks") => Ok(Some(Auth::StandardWebhooks {
                secret: secret("secret")?,
            })),
            Some("github") => Ok(Some(Auth::GitHub {
                secret: secret("secret")?,
            })),
            Some("stripe") => Ok(Some(Auth::Stripe {
                secret: secret("secret")?,
            })),
            Some("header") => Ok(Some(Auth::Header {
                name: auth
                    .get("header")
                    .and_then(Value::as_str)
                    .ok_or("auth.header: name the header that carries the token")?
                    .to_owned(),
                token: secret("token")?,
            })),
            other => Err(format!(
                "auth.type {}: use `standard-webhooks`, `github`, `stripe` or `header`",
                other.map_or("missing".to_owned(), |t| format!("`{t}`"))
            )),
        }
    }
}

/// Webhook routes, admission, and the replay cache.
#[derive(Clone)]
pub(crate) struct Hooks {
    routes: Arc<RwLock<HashMap<(String, String), Hook>>>,
    limits: WebhookLimits,
    in_flight: Arc<Semaphore>,
    /// Requests admitted per tenant.
    tenants_in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// Tenants with active webhooks, which share `max_in_flight`.
    tenants_with_hooks: Arc<std::sync::atomic::AtomicUsize>,
    /// Bytes of bodies being read or parsed, over every request.
    buffered: Arc<Semaphore>,
    /// Standard Webhooks message ids seen, with when they stop mattering.
    seen: Arc<Mutex<HashMap<String, i64>>>,
    /// Shared with the other replicas when there is Redis.
    pub(crate) redis: Option<SharedRedis>,
    /// Requests with a resume token nobody holds, over the whole server.
    resume_misses: Arc<governor::DefaultDirectRateLimiter>,
}

/// Unknown resume tokens this server answers 404 a minute (in a burst of as
/// many); more are answered 429.
pub(crate) const RESUME_MISSES_PER_MINUTE: u32 = 60;

impl Hooks {
    pub(crate) fn new(limits: WebhookLimits) -> Hooks {
        Hooks {
            routes: Arc::new(RwLock::new(HashMap::new())),
            limits,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            tenants_in_flight: Arc::new(Mutex::new(HashMap::new())),
            tenants_with_hooks: Arc::new(std::sync::atomic::AtomicUsize::new(1)),
            buffered: Arc::new(Semaphore::new(
                limits.max_buffered_bytes.clamp(1, Semaphore::MAX_PERMITS),
            )),
            seen: Arc::new(Mutex::new(HashMap::new())),
            redis: None,
            resume_misses: Arc::new(governor::RateLimiter::direct(governor::Quota::per_minute(
                std::num::NonZeroU32::new(RESUME_MISSES_PER_MINUTE).expect("not zero"),
            ))),
        }
    }

    /// The answer to a resume token nobody holds: 404, or 429 once this
    /// server has answered [`RESUME_MISSES_PER_MINUTE`] of them in a burst,
    /// so guessing tokens is slow. Tokens that exist always resume.
    fn resume_miss(&self) -> ApiError {
        if self.resume_misses.check().is_err() {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "limit_exceeded",
                format!(
                    "too many requests with unknown resume tokens (more than {RESUME_MISSES_PER_MINUTE} a minute); check the resume URL and try again in a minute"
                ),
            )
            .retry_after(60);
        }
        ApiError::not_found("no run waits on this resume token (it may have resumed already)")
    }

    /// A place for a request of `tenant`: one of its own, then one of the
    /// server's; 429 when either is full.
    /// How many webhook requests, and the runs they started that are at
    /// work, hold a place in `max_in_flight` now.
    pub(crate) fn admitted(&self) -> usize {
        self.limits
            .max_in_flight
            .max(1)
            .saturating_sub(self.in_flight.available_permits())
    }

    fn admit(&self, tenant: &str) -> Result<Admission, ApiError> {
        let per_tenant = self.limits.per_tenant(
            self.tenants_with_hooks
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let own = {
            let Ok(mut counts) = self.tenants_in_flight.lock() else {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "webhook admission failed; see the server log",
                ));
            };
            let count = counts.entry(tenant.to_owned()).or_insert(0);
            if *count >= per_tenant {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "busy",
                    format!(
                        "this tenant has {per_tenant} webhook requests open, the most one tenant may (--webhook-in-flight-per-tenant); try again shortly"
                    ),
                )
                .retry_after(1));
            }
            *count += 1;
            TenantPlace {
                tenant: tenant.to_owned(),
                counts: self.tenants_in_flight.clone(),
            }
        };
        let Ok(server) = self.in_flight.clone().try_acquire_owned() else {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
                format!(
                    "{} webhook requests are open, the most this server admits; try again shortly",
                    self.limits.max_in_flight
                ),
            )
            .retry_after(1));
        };
        Ok(Admission {
            _tenant: own,
            _server: server,
        })
    }

    /// Reads a body: at most `max_body_bytes`, all of it within
    /// `body_timeout`, each chunk holding its size of the server's budget of
    /// buffered bytes (given back when the returned permit drops).
    async fn read_body(
        &self,
        body: Body,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), ApiError> {
        let limit = self.limits.max_body_bytes;
        let read = async {
            let mut chunks = body.into_data_stream();
            let mut buffer = Vec::new();
            let mut held: Option<OwnedSemaphorePermit> = None;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::bad_request(format!("the body could not be read: {e}"))
                })?;
                if buffer.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                let size = u32::try_from(chunk.len()).map_err(|_| too_large(limit))?;
                let Ok(permit) = self.buffered.clone().try_acquire_many_owned(size) else {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        format!(
                            "the server holds {} bytes of webhook bodies, the most it buffers; try again shortly",
                            self.limits.max_buffered_bytes
                        ),
                    )
                    .retry_after(1));
                };
                match &mut held {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                }
                buffer.extend_from_slice(&chunk);
            }
            Ok((Bytes::from(buffer), held))
        };
        let timeout = self.limits.body_timeout;
        tokio::time::timeout(timeout, read).await.map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {}s; send it at once (the server's --webhook-body-timeout-secs)",
                    timeout.as_secs()
                ),
            )
        })?
    }

    /// Whether message `id` is new; it is remembered past the tolerance
    /// window, in Redis when there is one (so a replay to another replica
    /// is caught), else in this process.
    async fn first_sight(&self, tenant: &str, id: &str, now: i64) -> bool {
        let ttl = 2 * TOLERANCE_SECS;
        if let Some(redis) = &self.redis {
            let shared = async {
                let mut connection = redis.connection().await?;
                redis::cmd("SET")
                    .arg(redis.key(&format!("webhook-id:{tenant}:{id}")))
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl)
                    .query_async::<Option<String>>(&mut connection)
                    .await
            };
            match shared.await {
                Ok(set) => return set.is_some(),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis is unreachable; webhook ids are checked in this process only")
                }
            }
        }
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        seen.retain(|_, until| *until > now);
        seen.insert(format!("{tenant}:{id}"), now + ttl).is_none()
    }
}

impl AppState {
    /// Shares the webhook replay cache and the tenants' request rates
    /// through Redis, under keys starting `prefix:`, and reads the webhook
    /// routes again when another replica changes activations (as the
    /// engine hears through Redis). Call within a Tokio runtime.
    pub fn with_redis(mut self, client: redis::Client, prefix: &str) -> AppState {
        let shared = SharedRedis {
            client,
            connection: Arc::new(OnceCell::new()),
            prefix: Arc::from(prefix),
        };
        self.limiter.share(shared.clone());
        self.hooks.redis = Some(shared);
        let state = self.clone();
        let mut activations = self.engine.activations();
        tokio::spawn(async move {
            loop {
                match activations.recv().await {
                    Ok(origin) if origin == state.engine.owner() => continue,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
                if let Err(e) = state.reload_hooks().await {
                    tracing::warn!(error = %e, "could not read the webhook routes after another replica changed activations");
                }
            }
        });
        self
    }
}

/// The routes a workflow's webhook nodes listen on, with the node of each.
pub(crate) fn webhook_routes(workflow: &Workflow) -> Vec<(WebhookRoute, &n8n_work_model::Node)> {
    workflow
        .nodes
        .iter()
        .filter(|node| node.node_type.control() == Some(ControlKind::Webhook))
        .map(|node| {
            let param = |key: &str| node.params.get(key).and_then(Value::as_str);
            let route = WebhookRoute {
                method: param("method").unwrap_or("POST").to_ascii_uppercase(),
                path: param("path")
                    .unwrap_or(&node.id)
                    .trim_matches('/')
                    .to_owned(),
            };
            (route, node)
        })
        .collect()
}

impl AppState {
    /// Reads the routes again: each claimed route goes to the workflow that
    /// holds it, if that workflow is active and listens there. An active
    /// workflow's route that nobody holds (activated before routes were
    /// claimed) is claimed now, first come first served, in a fixed order.
    pub(crate) async fn reload_hooks(&self) -> Result<(), ApiError> {
        let store = self.engine.store();
        let mut holders: HashMap<WebhookRoute, (String, String)> = store
            .webhook_claims()
            .await?
            .into_iter()
            .map(|claim| (claim.route, (claim.tenant, claim.workflow_id)))
            .collect();
        let mut active = store.active_workflows().await?;
        active.sort();
        let mut routes = HashMap::new();
        for (tenant, id, version) in active {
            let stored = store.workflow_version(&tenant, &id, version).await?;
            let Ok(workflow) = Workflow::from_value(stored.definition) else {
                continue;
            };
            for (route, node) in webhook_routes(&workflow) {
                let held = match holders.get(&route) {
                    Some((t, w)) => *t == tenant && *w == id,
                    None => match store
                        .claim_webhook_routes(
                            &tenant,
                            &id,
                            std::slice::from_ref(&route),
                            n8n_work_store::now_millis(),
                        )
                        .await
                    {
                        Ok(_) => {
                            holders.insert(route.clone(), (tenant.clone(), id.clone()));
                            true
                        }
                        Err(StoreError::Conflict(_)) => false,
                        Err(e) => return Err(e.into()),
                    },
                };
                if !held {
                    tracing::warn!(%tenant, workflow = %id, %route, "an active workflow's webhook is held by another workflow and is not served");
                    continue;
                }
                let param = |key: &str| node.params.get(key).and_then(Value::as_str);
                routes.insert(
                    (route.method, route.path),
                    Hook {
                        tenant: tenant.clone(),
                        workflow_id: id.clone(),
                        version,
                        node_id: node.id.clone(),
                        on_received: param("respond") == Some("onReceived"),
                        auth: Auth::from_params(&node.params),
                        params: node.params.clone(),
                    },
                );
            }
        }
        let tenants: std::collections::HashSet<&str> =
            routes.values().map(|hook| hook.tenant.as_str()).collect();
        self.hooks
            .tenants_with_hooks
            .store(tenants.len().max(1), std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut current) = self.hooks.routes.write() {
            *current = routes;
        }
        Ok(())
    }
}

pub(crate) fn routes(_state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhook/{*path}", any(webhook))
        .route("/resume/{token}", post(resume))
        .route("/webhook-waiting/{execution}/{token}", any(resume_waiting))
        .layer(axum::middleware::map_response(sandboxed))
}

/// The webhook paths on the UI's listener when the webhooks are served
/// apart at `url`: 404, naming where they are.
pub(crate) fn served_at(url: &str) -> axum::Router<AppState> {
    let message: std::sync::Arc<str> = format!(
        "webhooks are served apart from the UI, at {url}: send this request to {url} and the same path"
    )
    .into();
    let elsewhere = move || {
        let message = message.clone();
        async move { ApiError::not_found(message.to_string()) }
    };
    axum::Router::new()
        .route("/webhook/{*path}", any(elsewhere.clone()))
        .route("/resume/{token}", any(elsewhere.clone()))
        .route("/webhook-waiting/{execution}/{token}", any(elsewhere))
}

/// What every webhook answer is served under: a page it sends runs in an
/// opaque origin (no `allow-same-origin`), so its scripts cannot read the
/// UI's cookies or call its API as whoever opened it; forms, scripts,
/// popups and downloads keep working, as with n8n's fix for the same hole.
const WEBHOOK_CSP: &str =
    "sandbox allow-downloads allow-forms allow-modals allow-popups allow-scripts";

/// Headers a workflow may not send: cookies (the UI's session lives on this
/// origin), the security headers the server sets, and hop-by-hop headers,
/// which belong to the connection, not the answer. Names are lower-case.
const REFUSED_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "clear-site-data",
    "content-security-policy",
    "content-security-policy-report-only",
    "x-content-type-options",
    "strict-transport-security",
    "x-frame-options",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "cross-origin-resource-policy",
    "permissions-policy",
    "service-worker-allowed",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Whether a workflow may send header `name` in its answer.
fn allowed_header(name: &header::HeaderName) -> bool {
    !REFUSED_HEADERS.contains(&name.as_str())
}

/// Every webhook answer, the server's errors included: no cookie, sandboxed,
/// and never sniffed into another type.
async fn sandboxed(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.remove(header::SET_COOKIE);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(WEBHOOK_CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

fn fresh(timestamp: &str, now: i64) -> Result<(), ApiError> {
    let t: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| unauthorized("the signature timestamp is not a number of seconds"))?;
    // Any i64 may be sent: the distance is taken without overflow.
    if now.abs_diff(t) > TOLERANCE_SECS.unsigned_abs() {
        return Err(unauthorized(format!(
            "the signature timestamp is {}s from the server's clock (more than {TOLERANCE_SECS}s): a stale or replayed request",
            i128::from(now) - i128::from(t)
        )));
    }
    Ok(())
}

/// Checks a request against a trigger's `auth`; every comparison of a
/// signature or token is constant-time. Returns the message id to check
/// for replays (Standard Webhooks).
fn check(
    auth: &Auth,
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Option<String>, ApiError> {
    match auth {
        Auth::StandardWebhooks { .. } => {
            let (Some(id), Some(timestamp), Some(signatures)) = (
                header_str(headers, "webhook-id"),
                header_str(headers, "webhook-timestamp"),
                header_str(headers, "webhook-signature"),
            ) else {
                return Err(unauthorized(
                    "Standard Webhooks: send webhook-id, webhook-timestamp and webhook-signature",
                ));
            };
            fresh(timestamp, now)?;
            let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
            let b64 = base64::engine::general_purpose::STANDARD;
            let valid = if let Some(key) = secret.strip_prefix("whpk_") {
                let key: [u8; 32] = b64
                    .decode(key)
                    .ok()
                    .and_then(|k| k.try_into().ok())
                    .ok_or_else(|| config("auth.secret: a `whpk_` key is 32 bytes in base64"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| {
                    config("auth.secret: the `whpk_` key is not an ed25519 public key")
                })?;
                let message = signed.concat();
                signatures
                    .split(' ')
                    .filter_map(|s| s.strip_prefix("v1a,"))
                    .any(|s| {
                        b64.decode(s)
                            .ok()
                            .and_then(|sig| ed25519_dalek::Signature::from_slice(&sig).ok())
                            .is_some_and(|sig| key.verify_strict(&message, &sig).is_ok())
                    })
            } else {
                let key = b64
                    .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
                    .map_err(|_| {
                        config("auth.secret: a `whsec_` secret is base64 after the prefix")
                    })?;
                signatures
                    .split(' ')
                    .filter_map(|s| s.strip_prefix("v1,"))
                    .any(|s| {
                        b64.decode(s)
                            .is_ok_and(|sig| hmac_sha256(&key, &signed).verify_slice(&sig).is_ok())
                    })
            };
            if !valid {
                return Err(unauthorized(
                    "Standard Webhooks: no signature in webhook-signature matches the body",
                ));
            }
            Ok(Some(id.to_owned()))
        }
        Auth::GitHub { .. } => {
            let signature = header_str(headers, "x-hub-signature-256")
                .and_then(|s| s.strip_prefix("sha256="))
                .ok_or_else(|| unauthorized("GitHub: send X-Hub-Signature-256: sha256=<hex>"))?;
            let sig = hex::decode(signature)
                .map_err(|_| unauthorized("GitHub: X-Hub-Signature-256 is not hex"))?;
            hmac_sha256(secret.as_bytes(), &[body])
                .verify_slice(&sig)
                .map(|()| None)
                .map_err(|_| unauthorized("GitHub: X-Hub-Signature-256 does not match the body"))
        }
        Auth::Stripe { .. } => {
            let header = header_str(headers, "stripe-signature")
                .ok_or_else(|| unauthorized("Stripe: send Stripe-Signature: t=...,v1=..."))?;
            let mut timestamp = None;
            let mut signatures = Vec::new();
            for part in header.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => timestamp = Some(t),
                    Some(("v1", s)) => signatures.push(s),
                    _ => {}
                }
            }
            let timestamp =
                timestamp.ok_or_else(|| unauthorized("Stripe: Stripe-Signature has no t="))?;
            fresh(timestamp, now)?;
            let valid = signatures.iter().any(|s| {
                hex::decode(s).is_ok_and(|sig| {
                    hmac_sha256(secret.as_bytes(), &[timestamp.as_bytes(), b".", body])
                        .verify_slice(&sig)
                        .is_ok()
                })
            });
            if valid {
                Ok(None)
            } else {
                Err(unauthorized(
                    "Stripe: no v1 signature in Stripe-Signature matches the body",
                ))
            }
        }
        Auth::Header { name, .. } => {
            let sent = header_str(headers, name)
                .ok_or_else(|| unauthorized(format!("send the token in the {name} header")))?;
            use subtle::ConstantTimeEq;
            if bool::from(sent.as_bytes().ct_eq(secret.as_bytes())) {
                Ok(None)
            } else {
                Err(unauthorized(format!(
                    "the token in the {name} header is wrong"
                )))
            }
        }
    }
}

fn config(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "webhook_misconfigured",
        message,
    )
}

/// The request body as the run's `body`, by declared content type only.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str())
        .unwrap_or("application/octet-stream")
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence == "application/json" || essence.ends_with("+json") {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the body is declared JSON but does not parse: {e}"))
        })
    } else if essence == "application/x-www-form-urlencoded" {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::bad_request(format!("the form body does not parse: {e}")))?;
        let mut form = serde_json::Map::new();
        for (key, value) in pairs {
            form.insert(key, Value::String(value));
        }
        Ok(Value::Object(form))
    } else if essence.starts_with("text/") || essence == "application/xml" {
        String::from_utf8(body.to_vec())
            .map(Value::String)
            .map_err(|_| {
                ApiError::bad_request(
                    "the text body is not UTF-8; declare it application/octet-stream",
                )
            })
    } else {
        Ok(json!({
            "mimeType": essence,
            "size": body.len(),
            "base64": base64::engine::general_purpose::STANDARD.encode(body),
        }))
    }
}

/// A request's places in its tenant's and the server's admission limits,
/// held until its run ends.
struct Admission {
    _tenant: TenantPlace,
    _server: OwnedSemaphorePermit,
}

/// One of a tenant's admitted requests; given back when dropped.
struct TenantPlace {
    tenant: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for TenantPlace {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock()
            && let Some(count) = counts.get_mut(&self.tenant)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.tenant);
            }
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body is larger than {limit} bytes, the most this server accepts"),
    )
}

/// The trigger's secret: as written, or from the tenant's variables.
async fn secret_of(state: &AppState, tenant: &str, auth: &Auth) -> ApiResult<String> {
    let secret = match auth {
        Auth::StandardWebhooks { secret }
        | Auth::GitHub { secret }
        | Auth::Stripe { secret }
        | Auth::Header { token: secret, .. } => secret,
    };
    match secret {
        Secret::Literal(s) => Ok(s.clone()),
        Secret::Variable(name) => state
            .engine
            .store()
            .variables(tenant)
            .await?
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| config(format!("auth: tenant variable `{name}` is not set; set it with PUT /api/v1/variables/{name}"))),
    }
}

/// What of a trigger's `auth` can be checked before reading the body: all
/// of a header token; for signatures, that their headers are there and
/// the timestamp is fresh. A request that fails here costs no body read.
fn check_headers(auth: &Auth, secret: &str, headers: &HeaderMap, now: i64) -> Result<(), ApiError> {
    match auth {
        Auth::Header { .. } => check(auth, secret, headers, b"", now).map(|_| ()),
        Auth::StandardWebhooks { .. } => match (
            header_str(headers, "webhook-id"),
            header_str(headers, "webhook-timestamp"),
            header_str(headers, "webhook-signature"),
        ) {
            (Some(_), Some(timestamp), Some(_)) => fresh(timestamp, now),
            _ => Err(unauthorized(
                "Standard Webhooks: send webhook-id, webhook-timestamp and webhook-signature",
            )),
        },
        Auth::GitHub { .. } => header_str(headers, "x-hub-signature-256")
            .filter(|s| s.starts_with("sha256="))
            .map(|_| ())
            .ok_or_else(|| unauthorized("GitHub: send X-Hub-Signature-256: sha256=<hex>")),
        Auth::Stripe { .. } => {
            let header = header_str(headers, "stripe-signature")
                .ok_or_else(|| unauthorized("Stripe: send Stripe-Signature: t=...,v1=..."))?;
            let timestamp = header
                .split(',')
                .find_map(|part| part.trim().strip_prefix("t="))
                .ok_or_else(|| unauthorized("Stripe: Stripe-Signature has no t="))?;
            fresh(timestamp, now)
        }
    }
}

/// The body's declared length, refused at once when over `limit`.
fn declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

async fn webhook(
    State(state): State<AppState>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let key = (
        method.as_str().to_owned(),
        path.trim_matches('/').to_owned(),
    );
    let hook = state
        .hooks
        .routes
        .read()
        .ok()
        .and_then(|h| h.get(&key).cloned());
    let Some(hook) = hook else {
        return Err(ApiError::not_found(format!(
            "no active workflow listens for {} /webhook/{}; activate one with a webhook node of that path and method",
            key.0, key.1
        )));
    };
    state.limiter.request(&hook.tenant).await?;
    // All that can be refused before the body is read, is: an unknown
    // route, a declared length over the limit, a missing or stale
    // signature header, a full tenant.
    declared_length(&headers, state.hooks.limits.max_body_bytes)?;
    let auth = match &hook.auth {
        Ok(None) => None,
        Ok(Some(auth)) => {
            let secret = secret_of(&state, &hook.tenant, auth).await?;
            check_headers(auth, &secret, &headers, n8n_work_store::now_millis() / 1000)?;
            Some((auth, secret))
        }
        Err(message) => return Err(config(message.clone())),
    };
    let admission = state.hooks.admit(&hook.tenant)?;
    let (body, buffered) = state.hooks.read_body(body).await?;
    match auth {
        None => {}
        Some((auth, secret)) => {
            let now = n8n_work_store::now_millis() / 1000;
            if let Some(id) = check(auth, &secret, &headers, &body, now)?
                && !state.hooks.first_sight(&hook.tenant, &id, now).await
            {
                return Err(unauthorized(format!(
                    "Standard Webhooks: message `{id}` was delivered already (a replay)"
                )));
            }
        }
    }
    let parsed = parse_body(&headers, &body)?;
    drop((body, buffered));
    let visible: serde_json::Map<String, Value> = headers
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION && *name != header::COOKIE)
        .map(|(name, value)| {
            (
                name.to_string(),
                Value::String(value.to_str().unwrap_or_default().to_owned()),
            )
        })
        .collect();
    let item = json!({ "body": parsed, "headers": visible, "query": query, "params": {}, "method": method.as_str() });
    let items = Item::list_from_value(item).map_err(ApiError::bad_request)?;
    let store = state.engine.store();
    state.limiter.run(store, &hook.tenant).await?;
    if hook.on_received {
        let id = state
            .engine
            .start_trigger(
                &hook.tenant,
                &hook.workflow_id,
                hook.version,
                &hook.node_id,
                items,
            )
            .await?;
        hold_until_settled(&state, &hook.tenant, &id, admission);
        let body = hook
            .params
            .get("responseBody")
            .cloned()
            .unwrap_or_else(|| json!({ "executionId": id }));
        return Ok(shaped(&hook.params, StatusCode::ACCEPTED, Some(body)));
    }
    // A synchronous run executes here, in a task of its own that this
    // request awaits: a client that hangs up drops the request's task, and
    // the run goes on rather than idling under this process's lease until
    // it lapses. Its answer goes out once its journal is committed.
    let engine = state.engine.clone();
    let (tenant, workflow_id, node_id, version) = (
        hook.tenant.clone(),
        hook.workflow_id.clone(),
        hook.node_id.clone(),
        hook.version,
    );
    let row = tokio::spawn(async move {
        engine
            .run_here(&tenant, &workflow_id, version, &node_id, items)
            .await
    })
    .await
    .map_err(|e| {
        EngineError::Internal(format!("the task running a webhook's run stopped: {e}"))
    })??;
    drop(admission);
    answer(&hook.params, &row)
}

/// A response with the trigger's `responseCode` (else `status`) and
/// `responseHeaders`; a string body goes as text, anything else as JSON.
fn shaped(params: &Value, status: StatusCode, body: Option<Value>) -> Response {
    let status = params
        .get("responseCode")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(status);
    with_headers(
        match body {
            None => status.into_response(),
            Some(Value::String(text)) => (status, text).into_response(),
            Some(body) => (status, Json(body)).into_response(),
        },
        params.get("responseHeaders"),
    )
}

/// `reply` with a workflow's headers, but for those it may not send
/// (dropped here: an expression may make them at run time, after
/// validation has looked).
fn with_headers(mut reply: Response, headers: Option<&Value>) -> Response {
    if let Some(extra) = headers.and_then(Value::as_object) {
        for (name, value) in extra {
            let (Ok(name), Some(Ok(value))) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(header::HeaderValue::from_str),
            ) else {
                continue;
            };
            if allowed_header(&name) {
                reply.headers_mut().insert(name, value);
            } else {
                tracing::debug!(header = %name, "a webhook answer's header was dropped: workflows may not send it");
            }
        }
    }
    reply
}

/// Keeps the admission place until run `id` ends or parks: a run parked
/// on a Wait does no work until it is woken, and the tenant's limit on open
/// runs, not this one, bounds how many may wait.
fn hold_until_settled(state: &AppState, tenant: &str, id: &str, admission: Admission) {
    let (engine, tenant, id) = (state.engine.clone(), tenant.to_owned(), id.to_owned());
    tokio::spawn(async move {
        let _ = engine.settle(&tenant, &id).await;
        drop(admission);
    });
}

/// The webhook's answer from the ended run: a respond node's response, or
/// the last node's items as the trigger's `responseData` asks (n8n's "last
/// node": the first entry by default, all entries, or no data).
fn answer(params: &Value, row: &n8n_work_store::ExecutionRow) -> ApiResult<Response> {
    // A respond node's answer goes out as soon as it is given, the run
    // going on (parked on a Wait, say) as in n8n.
    let answered = row.status == ExecutionStatus::Running && row.response.is_some();
    if row.status != ExecutionStatus::Succeeded && !answered {
        let message = row
            .error
            .as_ref()
            .and_then(|e| e["message"].as_str())
            .unwrap_or("the run did not succeed")
            .to_owned();
        return Err(
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "run_failed", message)
                .with_details(json!({ "executionId": row.id, "status": row.status.as_str() })),
        );
    }
    if let Some(response) = &row.response {
        let status = response["status"]
            .as_u64()
            .and_then(|s| StatusCode::from_u16(s as u16).ok())
            .unwrap_or(StatusCode::OK);
        let reply = match &response["body"] {
            Value::String(text) => (status, text.clone()).into_response(),
            body => (status, Json(body.clone())).into_response(),
        };
        return Ok(with_headers(reply, response.get("headers")));
    }
    let output = row.output();
    let body = match params.get("responseData").and_then(Value::as_str) {
        Some("allEntries") => Some(Value::Array(output)),
        Some("noData") => None,
        _ => Some(output.into_iter().next().unwrap_or_else(|| json!({}))),
    };
    Ok(shaped(params, StatusCode::OK, body))
}

/// Wakes a Wait node parked with `resume: call`: the token is the secret,
/// as in n8n's resume URL.
async fn resume(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let data = parse_body(&headers, &body)?;
    // One read finds the token's tenant; only a token that exists costs a write.
    let tenant = state.engine.store().tenant_of_resume_token(&token).await?;
    if let Some(tenant) = tenant {
        match state.engine.resume(&tenant, &token, data).await {
            Ok(step) => {
                return Ok((
                    StatusCode::ACCEPTED,
                    Json(json!({ "executionId": step.execution_id })),
                ));
            }
            // Resumed by another request between the read and the write.
            Err(EngineError::Store(StoreError::NotFound(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(state.hooks.resume_miss())
}

/// n8n's `/webhook-waiting/{execution}/{token}` form of the resume URL.
async fn resume_waiting(
    state: State<AppState>,
    Path((_execution, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    resume(state, Path(token), headers, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn bodies_parse_by_declared_type_only() {
        let json_body = br#"{"a":1}"#;
        assert_eq!(
            parse_body(
                &headers(&[("content-type", "application/json; charset=utf-8")]),
                json_body
            )
            .unwrap(),
            json!({ "a": 1 })
        );
        // JSON text declared as plain text stays text.
        assert_eq!(
            parse_body(&headers(&[("content-type", "text/plain")]), json_body).unwrap(),
            json!(r#"{"a":1}"#)
        );
        assert_eq!(
            parse_body(
                &headers(&[("content-type", "application/x-www-form-urlencoded")]),
                b"a=1&b=x+y"
            )
            .unwrap(),
            json!({ "a": "1", "b": "x y" })
        );
        let binary =
            parse_body(&headers(&[("content-type", "image/png")]), &[0, 159, 146]).unwrap();
        assert_eq!(binary["size"], 3);
        assert_eq!(binary["base64"], "AJ+S");
        let err =
            parse_body(&headers(&[("content-type", "application/json")]), b"{nope").unwrap_err();
        assert!(err.message.contains("declared JSON"));
    }

    #[test]
    fn github_signatures_are_checked() {
        let auth = Auth::GitHub {
            secret: Secret::Literal("s3cret".into()),
        };
        let body = b"{\"zen\":\"ok\"}";
        let good = hex::encode(hmac_sha256(b"s3cret", &[body]).finalize().into_bytes());
        let sig = format!("sha256={good}");
        assert!(
            check(
                &auth,
                "s3cret",
                &headers(&[("x-hub-signature-256", &sig)]),
                body,
                0
            )
            .is_ok()
        );
        let err = check(
            &auth,
            "s3cret",
            &headers(&[("x-hub-signature-256", &sig)]),
            b"{}",
            0,
        )
        .unwrap_err();
        assert!(err.message.contains("does not match"), "{}", err.message);
    }

    #[test]
    fn stale_stripe_timestamps_are_refused() {
        let auth = Auth::Stripe {
            secret: Secret::Literal("whsec".into()),
        };
        let body = b"{}";
        let sign = |t: i64| {
            let mac = hmac_sha256(b"whsec", &[t.to_string().as_bytes(), b".", body]);
            format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
        };
        let now = 1_700_000_000;
        assert!(
            check(
                &auth,
                "whsec",
                &headers(&[("stripe-signature", &sign(now - 10))]),
                body,
                now
            )
            .is_ok()
        );
        let err = check(
            &auth,
            "whsec",
            &headers(&[("stripe-signature", &sign(now - 600))]),
            body,
            now,
        )
        .unwrap_err();
        assert!(err.message.contains("stale"), "{}", err.message);
    }

    #[test]
    fn standard_webhooks_ed25519_and_header_tokens_are_checked() {
        use ed25519_dalek::Signer;
        let b64 = base64::engine::general_purpose::STANDARD;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let public = format!("whpk_{}", b64.encode(signing.verifying_key().to_bytes()));
        let auth = Auth::StandardWebhooks {
            secret: Secret::Literal(public.clone()),
        };
        let now = 1_700_000_000;
        let body = b"{\"a\":1}";
        let sign = |key: &ed25519_dalek::SigningKey| {
            let message = [b"msg_1.1700000000.".as_slice(), body].concat();
            format!("v1a,{}", b64.encode(key.sign(&message).to_bytes()))
        };
        let request = |signature: &str| {
            headers(&[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", signature),
            ])
        };
        let id = check(&auth, &public, &request(&sign(&signing)), body, now).unwrap();
        assert_eq!(
            id.as_deref(),
            Some("msg_1"),
            "the id goes to the replay check"
        );
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        let err = check(&auth, &public, &request(&sign(&other)), body, now).unwrap_err();
        assert!(err.message.contains("no signature"), "{}", err.message);

        let header = Auth::Header {
            name: "x-token".into(),
            token: Secret::Literal("t0ken".into()),
        };
        assert!(
            check(
                &header,
                "t0ken",
                &headers(&[("x-token", "t0ken")]),
                b"",
                now
            )
            .is_ok()
        );
        let err = check(
            &header,
            "t0ken",
            &headers(&[("x-token", "t0kem")]),
            b"",
            now,
        )
        .unwrap_err();
        assert!(err.message.contains("is wrong"), "{}", err.message);
        let err = check(&header, "t0ken", &headers(&[]), b"", now).unwrap_err();
        assert!(err.message.contains("send the token"), "{}", err.message);
    }

    #[tokio::test]
    async fn answers_drop_cookies_and_security_headers_and_are_sandboxed() {
        let reply = with_headers(
            (StatusCode::OK, "<script>alert(1)</script>").into_response(),
            Some(&json!({
                "Set-Cookie": "n8n_work_session=planted",
                "content-security-policy": "default-src *",
                "Transfer-Encoding": "chunked",
                "Content-Type": "text/html",
                "X-Trace": "1",
            })),
        );
        let reply = sandboxed(reply).await;
        let headers = reply.headers();
        assert!(headers.get(header::SET_COOKIE).is_none());
        assert!(headers.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], WEBHOOK_CSP);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html");
        assert_eq!(headers["x-trace"], "1");
        assert!(!WEBHOOK_CSP.contains("allow-same-origin"));
    }

    #[test]
    fn one_tenants_flood_leaves_the_others_places() {
        let hooks = Hooks::new(WebhookLimits {
            max_in_flight: 8,
            ..WebhookLimits::default()
        });
        let alone: Vec<_> = (0..8).map(|_| hooks.admit("acme").unwrap()).collect();
        assert!(hooks.admit("acme").is_err(), "the server's places are 8");
        drop(alone);
        // Four tenants with webhooks: a quarter each.
        hooks
            .tenants_with_hooks
            .store(4, std::sync::atomic::Ordering::Relaxed);
        let held: Vec<_> = (0..2).map(|_| hooks.admit("acme").unwrap()).collect();
        let err = hooks.admit("acme").err().unwrap();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(err.message.contains("this tenant"), "{}", err.message);
        assert!(hooks.admit("globex").is_ok());
        drop(held);
        assert!(hooks.admit("acme").is_ok());
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_gets_408() {
        let hooks = Hooks::new(WebhookLimits {
            body_timeout: Duration::from_millis(20),
            ..WebhookLimits::default()
        });
        let never = Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let err = hooks.read_body(never).await.err().unwrap();
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
        assert!(
            err.message.contains("--webhook-body-timeout-secs"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn bodies_share_the_servers_budget_of_buffered_bytes() {
        let hooks = Hooks::new(WebhookLimits {
            max_buffered_bytes: 10,
            ..WebhookLimits::default()
        });
        let (body, held) = hooks.read_body(Body::from("123456")).await.unwrap();
        assert_eq!(&body[..], b"123456");
        let err = hooks.read_body(Body::from("abcdef")).await.err().unwrap();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(hooks.read_body(Body::from("abcdef")).await.is_ok());
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let err = declared_length(&headers(&[("content-length", "1025")]), 1024).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(declared_length(&headers(&[("content-length", "1024")]), 1024).is_ok());
        assert!(declared_length(&headers(&[]), 1024).is_ok());
    }

    #[test]
    fn missing_signature_headers_are_refused_before_the_body() {
        let github = Auth::GitHub {
            secret: Secret::Literal("s".into()),
        };
        assert!(check_headers(&github, "s", &headers(&[]), 0).is_err());
        assert!(
            check_headers(
                &github,
                "s",
                &headers(&[("x-hub-signature-256", "sha256=00")]),
                0
            )
            .is_ok()
        );
        let stripe = Auth::Stripe {
            secret: Secret::Literal("s".into()),
        };
        let err = check_headers(
            &stripe,
            "s",
            &headers(&[("stripe-signature", "t=1,v1=00")]),
            10_000,
        )
        .unwrap_err();
        assert!(err.message.contains("stale"), "{}", err.message);
        let token = Auth::Header {
            name: "x-token".into(),
            token: Secret::Literal("t0ken".into()),
        };
        assert!(check_headers(&token, "t0ken", &headers(&[("x-token", "nope")]), 0).is_err());
    }

    #[test]
    fn auth_params_name_the_fix() {
        let err = Auth::from_params(&json!({ "auth": { "type": "basic" } })).unwrap_err();
        assert!(err.contains("auth.type `basic`"));
        let err = Auth::from_params(&json!({ "auth": { "type": "github" } })).unwrap_err();
        assert!(err.contains("auth.secret"));
        assert!(Auth::from_params(&json!({})).unwrap().is_none());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const NOW: i64 = 1_700_000_000;

        fn content_type() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("application/json".to_owned()),
                Just("application/vnd.api+json; charset=utf-8".to_owned()),
                Just("application/x-www-form-urlencoded".to_owned()),
                Just("text/plain".to_owned()),
                Just("application/xml".to_owned()),
                "[ -~]{0,40}",
            ]
        }

        /// Header values a client can send: visible ASCII and spaces.
        fn header_value() -> impl Strategy<Value = String> {
            "[ -~]{0,120}"
        }

        fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
            hex::encode(hmac_sha256(key, parts).finalize().into_bytes())
        }

        fn with(pairs: &[(&'static str, String)]) -> HeaderMap {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                if let Ok(value) = value.parse() {
                    map.insert(*name, value);
                }
            }
            map
        }

        fn schemes(secret: &str) -> Vec<Auth> {
            let s = || Secret::Literal(secret.to_owned());
            vec![
                Auth::GitHub { secret: s() },
                Auth::Stripe { secret: s() },
                Auth::StandardWebhooks { secret: s() },
                Auth::Header {
                    name: "x-token".into(),
                    token: s(),
                },
            ]
        }

        proptest! {
            /// Any body under any declared type parses or is refused with
            /// 400; nothing panics.
            #[test]
            fn any_body_parses_or_is_refused(kind in content_type(), body in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..512)) {
                let headers = with(&[("content-type", kind)]);
                match parse_body(&headers, &body) {
                    Ok(_) => {}
                    Err(e) => prop_assert_eq!(e.status, StatusCode::BAD_REQUEST),
                }
            }

            /// Any signature headers a sender makes up, with any body, are
            /// refused (401) by every scheme; nothing panics, whatever the
            /// timestamp says.
            #[test]
            fn made_up_signatures_are_refused(
                body in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..256),
                values in proptest::collection::vec(header_value(), 6),
                stamp in prop_oneof![Just(NOW.to_string()), Just(i64::MIN.to_string()), proptest::arbitrary::any::<i64>().prop_map(|t| t.to_string()), "[ -~]{0,24}"],
            ) {
                let headers = with(&[
                    ("x-hub-signature-256", format!("sha256={}", values[0])),
                    ("stripe-signature", format!("t={stamp},v1={}", values[1])),
                    ("webhook-id", values[2].clone()),
                    ("webhook-timestamp", stamp),
                    ("webhook-signature", format!("v1,{} {}", values[3], values[4])),
                    ("x-token", values[5].clone()),
                ]);
                for auth in schemes("whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=") {
                    let early = check_headers(&auth, "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=", &headers, NOW);
                    let full = check(&auth, "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=", &headers, &body, NOW);
                    prop_assert!(full.is_err(), "{auth:?} accepted {headers:?}");
                    for e in [early.err(), full.err()].into_iter().flatten() {
                        prop_assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{}", e.message);
                    }
                }
            }

            /// A signature made with the secret over one body is accepted
            /// for that body, and refused for any other.
            #[test]
            fn a_signature_holds_for_its_body_only(
                body in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..256),
                other in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..256),
                age in -300_i64..=300,
            ) {
                let secret = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=";
                let key = base64::engine::general_purpose::STANDARD.decode("c2VjcmV0LWtleS1mb3ItdGVzdHM=").unwrap();
                let t = (NOW - age).to_string();
                let signed = |body: &[u8]| with(&[
                    ("x-hub-signature-256", format!("sha256={}", hmac_hex(secret.as_bytes(), &[body]))),
                    ("stripe-signature", format!("t={t},v1={}", hmac_hex(secret.as_bytes(), &[t.as_bytes(), b".", body]))),
                    ("webhook-id", "msg_1".to_owned()),
                    ("webhook-timestamp", t.clone()),
                    ("webhook-signature", format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(
                        hmac_sha256(&key, &[b"msg_1.", t.as_bytes(), b".", body]).finalize().into_bytes()))),
                ]);
                for auth in schemes(secret).into_iter().filter(|a| !matches!(a, Auth::Header { .. })) {
                    prop_assert!(check_headers(&auth, secret, &signed(&body), NOW).is_ok());
                    prop_assert!(check(&auth, secret, &signed(&body), &body, NOW).is_ok(), "{auth:?}");
                    if other != body {
                        prop_assert!(check(&auth, secret, &signed(&body), &other, NOW).is_err(), "{auth:?}");
                    }
                }
            }
        }
    }
}
