//! The server: the REST API under `/api/v1` (API keys from the start, or
//! the browser's session cookie), live run events over SSE, and webhook
//! triggers under `/webhook/{path}`, over the engine and the store.
//!
//! Stage in the data flow (docs/architecture.md): the entry point. Requests
//! become engine calls (`deploy`, `start`, `cancel`); nothing here touches
//! rows directly except through the store's tenant-scoped functions.
//! Errors leave in one JSON shape, `{"error": {"code", "message",
//! "details"}}`, built in one place ([`ApiError`]).

mod access;
mod credentials;
mod events;
mod executions;
mod limits;
mod members;
mod metrics;
mod nodes;
mod oidc;
mod registry;
mod session;
mod ui;
mod webhooks;
mod workflows;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use n8n_work_engine::{Engine, EngineError};
use n8n_work_store::StoreError;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use credentials::VAULT_CHANNEL;
pub use limits::TenantLimits;
pub use oidc::{OidcSettings, OidcSettingsError};
pub use registry::guard_marketplace;
pub use webhooks::WebhookLimits;

use access::caller;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
    /// Seconds to send with `Retry-After` (small, so errors stay small).
    retry_after: Option<std::num::NonZeroU16>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// Tells the client to come back after `secs` seconds.
    fn retry_after(mut self, secs: u16) -> ApiError {
        self.retry_after = std::num::NonZeroU16::new(secs.max(1));
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs.get()));
        }
        response
    }
}

/// How long a client should wait before retrying while the database is
/// unreachable.
const UNAVAILABLE_RETRY_AFTER_SECS: u16 = 5;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "the database is unreachable; answering 503");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unreachable, so the request may not have taken effect; send it again after Retry-After seconds",
                )
                .retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
            }
            StoreError::NotFound(_) => ApiError::not_found(e.to_string()),
            StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the store failed; see the server log",
                )
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Invalid(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_workflow",
                format!("the workflow has {} problem(s)", errors.len()),
            )
            .with_details(workflows::problems(&errors)),
            EngineError::Store(e) => e.into(),
            EngineError::NotFound(message) => ApiError::not_found(message),
            EngineError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            EngineError::BadRequest(message) => ApiError::bad_request(message),
            EngineError::Expression(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "expression", message)
            }
            EngineError::Corrupt(message) => {
                tracing::error!(%message, "stored data unreadable");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "stored data could not be read; see the server log",
                )
            }
            EngineError::Internal(message) => {
                tracing::error!(%message, "the engine failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the run could not be driven here; see the server log",
                )
            }
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    engine: Engine,
    hooks: webhooks::Hooks,
    metrics: std::sync::Arc<metrics::Metrics>,
    vault: Option<std::sync::Arc<n8n_work_vault::Vault>>,
    inner: std::sync::Arc<Access>,
    limiter: limits::Limiter,
    /// The file the master key came from, which a rotation replaces.
    master_key_file: Option<std::sync::Arc<std::path::Path>>,
    /// Single sign-on for the UI, when configured.
    oidc: Option<std::sync::Arc<oidc::Oidc>>,
    /// The URL browsers reach this server at, when configured.
    public_url: Option<std::sync::Arc<str>>,
    /// Where senders reach the webhooks, when they are served apart from
    /// the API and the UI ([`webhook_router`]).
    webhook_url: Option<std::sync::Arc<str>>,
}

/// The Redis a deployment's processes share: the client, one connection
/// made on first use, and the prefix of every key, so deployments sharing a
/// Redis stay apart.
#[derive(Clone)]
pub(crate) struct SharedRedis {
    client: redis::Client,
    connection: std::sync::Arc<tokio::sync::OnceCell<redis::aio::ConnectionManager>>,
    prefix: std::sync::Arc<str>,
}

impl SharedRedis {
    /// The connection, made on first use.
    pub(crate) async fn connection(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        Ok(self
            .connection
            .get_or_try_init(|| self.client.get_connection_manager())
            .await?
            .clone())
    }

    /// The key `name` under this deployment's prefix.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
}

/// What deciding and recording access needs.
struct Access {
    policies: n8n_work_auth::Policies,
    policy_cache: access::PolicyCache,
    audit: Option<access::AuditTrail>,
}

/// The SHA-256 of a key, as stored.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key: `nwk_` and 32 random bytes in hex.
pub fn new_key() -> String {
    format!("nwk_{}", random_hex())
}

/// 32 random bytes, in hex.
fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl AppState {
    /// State over `engine`, with webhook routes read from the active
    /// workflows.
    pub async fn new(engine: Engine, limits: WebhookLimits) -> Result<AppState, ApiError> {
        let limiter = limits::Limiter::new(TenantLimits::default(), engine.store().clone());
        let state = AppState {
            metrics: metrics::Metrics::new(&engine),
            engine,
            hooks: webhooks::Hooks::new(limits),
            limiter,
            vault: None,
            master_key_file: None,
            oidc: None,
            public_url: None,
            webhook_url: None,
            inner: std::sync::Arc::new(Access {
                policies: n8n_work_auth::Policies::new(),
                policy_cache: access::PolicyCache::default(),
                audit: None,
            }),
        };
        state.reload_hooks().await?;
        Ok(state)
    }

    /// Holds each tenant to `limits`.
    pub fn with_tenant_limits(mut self, limits: TenantLimits) -> AppState {
        self.limiter = limits::Limiter::new(limits, self.engine.store().clone());
        if let Some(redis) = self.hooks.redis.clone() {
            self.limiter.share(redis);
        }
        self
    }

    /// Serves credentials from `vault`, whose master key came from
    /// `key_file` (which `POST /vault/rotate` then replaces), if from a file.
    pub fn with_vault(
        mut self,
        vault: std::sync::Arc<n8n_work_vault::Vault>,
        key_file: Option<&std::path::Path>,
    ) -> AppState {
        self.vault = Some(vault);
        self.master_key_file = key_file.map(std::sync::Arc::from);
        self
    }

    /// Records changes in the audit log, chained with HMACs under `key` (32
    /// bytes kept outside the database), its head checkpointed to `head_file`.
    pub fn with_audit(mut self, key: [u8; 32], head_file: std::path::PathBuf) -> AppState {
        self.inner = std::sync::Arc::new(Access {
            policies: self.inner.policies.clone(),
            policy_cache: access::PolicyCache::default(),
            audit: Some(access::AuditTrail::new(key, head_file)),
        });
        self
    }

    /// Sends OAuth2 providers back under `url` (not the address a request
    /// came to).
    pub fn with_public_url(mut self, url: Option<String>) -> AppState {
        self.public_url = url.map(std::sync::Arc::from);
        self
    }

    /// Serves the webhooks apart, at `url` (their own origin, on the
    /// listener [`webhook_router`] serves): [`router`] then answers their
    /// paths with 404 naming `url`, and resume URLs are given under it.
    pub fn with_webhooks_at(mut self, url: &str) -> AppState {
        self.webhook_url = Some(std::sync::Arc::from(url.trim_end_matches('/')));
        self
    }

    /// Signs people in to the UI with an OpenID Connect provider, as the
    /// members `POST /members` adds; the redirect URL to register with the
    /// provider comes back.
    pub fn with_oidc(
        mut self,
        settings: OidcSettings,
    ) -> Result<(AppState, String), OidcSettingsError> {
        let oidc = oidc::Oidc::new(settings)?;
        let redirect = oidc.redirect_url().to_owned();
        self.oidc = Some(std::sync::Arc::new(oidc));
        Ok((self, redirect))
    }

    /// Reads webhook routes again and tells the schedule loop; called when
    /// activations change.
    async fn activations_changed(&self) -> ApiResult<()> {
        self.engine.schedules_changed();
        self.reload_hooks().await
    }
}

/// The routes a worker answers: `/healthz`, `/readyz`, `/metrics`.
pub fn operations_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::render))
        .with_state(state)
}

/// The routes a webhook listener apart from the API and the UI answers
/// ([`AppState::with_webhooks_at`]): `/webhook/...`, `/resume/...`,
/// `/webhook-waiting/...` and `/healthz`. Nothing on its origin is the
/// UI's, so no webhook answer can act as a person signed in to the UI.
pub fn webhook_router(state: AppState) -> Router {
    Router::new()
        .merge(webhooks::routes(&state))
        .route("/healthz", get(|| async { "ok" }))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .fallback(|| async {
            ApiError::not_found(
                "this address serves webhooks only (/webhook/..., /resume/...); the API and the UI are on the server's --listen address",
            )
        })
        .with_state(state)
}

/// The routes: `/api/v1/...` behind API keys or a session, `/webhook/...`,
/// `/resume/...` (unless they are served apart), `/healthz`, `/readyz`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/workflows", post(workflows::create).get(workflows::list))
        .route("/workflows/validate", post(workflows::validate))
        .route(
            "/workflows/{id}",
            get(workflows::get_one).put(workflows::update),
        )
        .route("/workflows/{id}/versions", get(workflows::versions))
        .route(
            "/workflows/{id}/versions/{version}",
            get(workflows::version),
        )
        .route("/workflows/{id}/activate", post(workflows::activate))
        .route("/workflows/{id}/deactivate", post(workflows::deactivate))
        .route("/workflows/{id}/run", post(workflows::run))
        .route("/workflows/{id}/executions", post(workflows::run))
        .route(
            "/workflows/{id}/nodes/{node}/run",
            post(workflows::run_node),
        )
        .route("/workflows/{id}/events", get(events::workflow_events))
        .route("/nodes", get(nodes::list))
        .route(
            "/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/credentials/{id}",
            put(credentials::update).delete(credentials::delete),
        )
        .route(
            "/credentials/{id}/oauth2/authorize",
            post(credentials::authorize_oauth2),
        )
        .route("/expressions/preview", post(workflows::preview))
        .route("/executions", get(executions::list))
        .route("/executions/{id}", get(executions::get_one))
        .route("/executions/{id}/steps/{seq}", get(executions::step))
        .route("/executions/{id}/events", get(events::execution_events))
        .route("/executions/{id}/cancel", post(executions::cancel))
        .route("/executions/{id}/retry", post(executions::retry))
        .route("/dead-letters", get(executions::dead_letters))
        .route("/dead-letters/{id}/replay", post(executions::replay))
        .route("/variables", get(executions::variables))
        .route(
            "/variables/{name}",
            put(executions::set_variable).delete(executions::delete_variable),
        )
        .route("/tenants", post(access::create_tenant))
        .route("/keys", get(access::list_keys).post(access::create_key))
        .route("/keys/{id}", delete(access::revoke_key))
        .route("/members", get(members::list).post(members::add))
        .route("/members/{id}", delete(members::remove))
        .route(
            "/policies",
            get(access::get_policies).put(access::set_policies),
        )
        .route("/audit", get(access::audit))
        .route("/vault", get(credentials::vault_status))
        .route("/vault/rotate", post(credentials::rotate))
        .route("/limits", get(limits::get_limits).put(limits::set_limits))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .route("/openapi.json", get(openapi))
        // The provider sends the person back here; the one-time state decides.
        .route("/oauth2/callback", get(credentials::oauth2_callback))
        // Signing in needs no session; it makes one.
        .route(
            "/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .route("/session/providers", get(oidc::providers))
        .route("/session/oidc", get(oidc::start))
        .route("/session/oidc/callback", get(oidc::callback))
        .fallback(|| async {
            ApiError::not_found(
                "no such API route; see /api/v1/workflows and /api/v1/executions/{id}",
            )
        });
    let hooks = match &state.webhook_url {
        None => webhooks::routes(&state),
        Some(url) => webhooks::served_at(url),
    };
    Router::new()
        .nest("/api/v1", api)
        .merge(hooks)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::render))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .merge(ui::routes())
        .with_state(state)
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "n8n-work", description = "Workflows, runs and live events. Send an API key as `Authorization: Bearer <key>`, or sign in for a session cookie."),
    paths(
        workflows::create, workflows::list, workflows::get_one, workflows::update,
        workflows::validate, workflows::versions, workflows::version, workflows::activate,
        workflows::deactivate, workflows::run, workflows::run_node, workflows::preview,
        nodes::list, executions::list, executions::get_one, executions::step,
        executions::cancel, executions::retry, executions::dead_letters, executions::replay,
        executions::variables, executions::set_variable, executions::delete_variable,
        events::execution_events, events::workflow_events,
        session::sign_in, session::current, session::sign_out,
        oidc::providers, oidc::start, oidc::callback,
        credentials::list, credentials::create, credentials::update, credentials::delete,
        credentials::vault_status, credentials::rotate,
        credentials::authorize_oauth2, credentials::oauth2_callback,
        limits::get_limits, limits::set_limits,
        access::create_tenant, access::list_keys, access::create_key, access::revoke_key,
        members::list, members::add, members::remove,
        access::get_policies, access::set_policies, access::audit,
    ),
    modifiers(&BearerKey),
    security(("api_key" = []))
)]
struct ApiDoc;

struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`.
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

/// Ready when the store answers with its schema in place.
async fn ready(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.engine.store().tenants().await?;
    Ok("ready")
}
