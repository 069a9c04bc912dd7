//! The marketplace's JSON routes, under `/v2/_marketplace/`. Repository
//! components cannot start with `_`, so these never collide with a
//! repository's routes.
//!
//! Who acts is taken from the `x-n8n-work-actor` header, and the tenant of
//! the caller's key from `x-n8n-work-tenant`; the platform's auth in front
//! of these routes sets both (and decides who may approve). Mounted on its
//! own, without that auth (loopback only), the marketplace has no callers
//! to tell apart and trusts what the request says.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{KeyRecord, MarketError, Marketplace, PolicyRecord, SearchQuery};

/// The header naming who acts (an admin for approvals).
pub const ACTOR_HEADER: &str = "x-n8n-work-actor";

/// The header naming the tenant of the caller's key. The auth in front of
/// the routes must set it, replacing whatever the client sent: the index's
/// verified badge and publisher claims are the caller's own tenant's.
pub const TENANT_HEADER: &str = "x-n8n-work-tenant";

impl IntoResponse for MarketError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            MarketError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            MarketError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            MarketError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            MarketError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            MarketError::Refused(_) => (StatusCode::FORBIDDEN, "refused"),
            MarketError::Tampered { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "tampered"),
            MarketError::Storage(e) => {
                tracing::error!(error = %e, "marketplace storage failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "storage")
            }
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response()
    }
}

type Result<T> = std::result::Result<T, MarketError>;

fn actor(headers: &HeaderMap) -> String {
    headers
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("anonymous")
        .to_owned()
}

/// The tenant of the caller's key, as the auth in front of the routes says.
fn caller_tenant(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The tenant whose trusted keys decide the verified badge: the caller's
/// own. A request naming another (`?tenant=`) is refused rather than
/// answered with that tenant's trust, which is its own business.
fn viewing_tenant(headers: &HeaderMap, asked: Option<String>) -> Result<Option<String>> {
    let Some(own) = caller_tenant(headers) else {
        return Ok(asked);
    };
    match asked {
        Some(asked) if asked != own => Err(MarketError::Forbidden(format!(
            "`tenant={asked}`: the index shows what your own tenant `{own}` trusts; leave `tenant` out, or ask with a key of tenant `{asked}`"
        ))),
        _ => Ok(Some(own.to_owned())),
    }
}

/// The marketplace's routes. Merge them into the app beside
/// [`crate::router`] (`Router::merge`).
pub fn marketplace_router(marketplace: Marketplace) -> Router {
    Router::new()
        .route("/v2/_marketplace/search", get(search))
        .route("/v2/_marketplace/plugin", get(info))
        .route("/v2/_marketplace/publishers", post(add_publisher))
        .route(
            "/v2/_marketplace/tenants/{tenant}/policy",
            get(get_policy).put(put_policy),
        )
        .route(
            "/v2/_marketplace/tenants/{tenant}/requests",
            get(requests).post(request_install),
        )
        .route(
            "/v2/_marketplace/tenants/{tenant}/requests/{id}/{decision}",
            post(decide),
        )
        .route(
            "/v2/_marketplace/tenants/{tenant}/installed",
            get(installed).delete(remove),
        )
        .route("/v2/_marketplace/tenants/{tenant}/audit", get(audit))
        .with_state(marketplace)
}

async fn search(
    State(m): State<Marketplace>,
    headers: HeaderMap,
    Query(mut q): Query<SearchQuery>,
) -> Result<Response> {
    q.tenant = viewing_tenant(&headers, q.tenant.take())?;
    Ok(Json(json!({"plugins": m.search(&q).await?})).into_response())
}

#[derive(Deserialize)]
struct InfoQuery {
    repository: String,
    tenant: Option<String>,
}

async fn info(
    State(m): State<Marketplace>,
    headers: HeaderMap,
    Query(q): Query<InfoQuery>,
) -> Result<Response> {
    let tenant = viewing_tenant(&headers, q.tenant)?;
    Ok(Json(m.info(&q.repository, tenant.as_deref()).await?).into_response())
}

async fn add_publisher(
    State(m): State<Marketplace>,
    headers: HeaderMap,
    Json(publisher): Json<KeyRecord>,
) -> Result<Response> {
    let Some(tenant) = caller_tenant(&headers) else {
        return Err(MarketError::BadRequest(format!(
            "a publisher name is claimed for a tenant: send `{TENANT_HEADER}` (the platform sets it from your key)"
        )));
    };
    let key_id = m.add_publisher(tenant, publisher).await?;
    Ok(Json(json!({"keyId": key_id})).into_response())
}

async fn get_policy(State(m): State<Marketplace>, Path(tenant): Path<String>) -> Result<Response> {
    Ok(Json(m.policy(&tenant).await?).into_response())
}

async fn put_policy(
    State(m): State<Marketplace>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Json(policy): Json<PolicyRecord>,
) -> Result<Response> {
    m.set_policy(&tenant, &actor(&headers), policy).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn requests(State(m): State<Marketplace>, Path(tenant): Path<String>) -> Result<Response> {
    Ok(Json(json!({"requests": m.requests(&tenant).await?})).into_response())
}

#[derive(Deserialize)]
struct InstallBody {
    reference: String,
}

async fn request_install(
    State(m): State<Marketplace>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Json(body): Json<InstallBody>,
) -> Result<Response> {
    let outcome = m
        .request_install(&tenant, &body.reference, &actor(&headers))
        .await?;
    let status = if outcome.status == "pending" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)).into_response())
}

#[derive(Deserialize)]
struct DecisionBody {
    #[serde(default)]
    reason: String,
    /// On approval: the egress origins approved instead of those asked for.
    #[serde(default)]
    egress: Option<std::collections::BTreeSet<String>>,
}

async fn decide(
    State(m): State<Marketplace>,
    Path((tenant, id, decision)): Path<(String, u64, String)>,
    headers: HeaderMap,
    Json(body): Json<DecisionBody>,
) -> Result<Response> {
    let admin = actor(&headers);
    let request = match decision.as_str() {
        "approve" => {
            m.approve(&tenant, id, &admin, &body.reason, body.egress)
                .await?
        }
        "reject" => m.reject(&tenant, id, &admin, &body.reason).await?,
        other => {
            return Err(MarketError::NotFound(format!(
                "`{other}` is not a decision; use `approve` or `reject`"
            )));
        }
    };
    Ok(Json(request).into_response())
}

async fn installed(State(m): State<Marketplace>, Path(tenant): Path<String>) -> Result<Response> {
    Ok(Json(json!({"installed": m.installed(&tenant).await?})).into_response())
}

#[derive(Deserialize)]
struct RemoveQuery {
    repository: String,
}

async fn remove(
    State(m): State<Marketplace>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RemoveQuery>,
) -> Result<Response> {
    Ok(Json(m.remove(&tenant, &q.repository, &actor(&headers)).await?).into_response())
}

async fn audit(State(m): State<Marketplace>, Path(tenant): Path<String>) -> Result<Response> {
    Ok(Json(json!({"audit": m.audit(&tenant).await?})).into_response())
}
