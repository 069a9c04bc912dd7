//! The server: the REST API under `/api/v1` (API keys from the start) and
//! webhook triggers under `/webhook/{path}`, over the engine and the store.
//!
//! Stage in the data flow (ARCHITECTURE.md): the entry point. Requests
//! become engine calls (`deploy`, `start`, `cancel`); nothing here touches
//! rows directly except through the store's tenant-scoped functions.
//! Errors leave in one JSON shape, `{"error": {"code", "message",
//! "details"}}`, built in one place ([`ApiError`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use n8n_work_engine::Engine;
use n8n_work_model::{ControlKind, Workflow};
use n8n_work_runtime::Item;
use n8n_work_store::{ExecutionStatus, StoreError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod ui;

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
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

impl From<n8n_work_engine::EngineError> for ApiError {
    fn from(e: n8n_work_engine::EngineError) -> ApiError {
        match e {
            n8n_work_engine::EngineError::Invalid(errors) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_workflow",
                message: format!("the workflow has {} problem(s)", errors.len()),
                details: Value::Array(
                    errors
                        .iter()
                        .map(|e| json!({ "path": e.path, "line": e.location.map(|l| l.line), "column": e.location.map(|l| l.column), "message": e.message }))
                        .collect(),
                ),
            },
            n8n_work_engine::EngineError::Store(e) => e.into(),
            n8n_work_engine::EngineError::Request(message) => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A webhook route: the workflow version it starts.
#[derive(Clone, Debug)]
struct Hook {
    tenant: String,
    workflow_id: String,
    version: i64,
    /// Answer 202 at once rather than with the last node's items.
    on_received: bool,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    engine: Engine,
    hooks: Arc<RwLock<HashMap<(String, String), Hook>>>,
}

/// The tenant a request acts for, from its API key.
#[derive(Clone, Debug)]
struct Caller {
    tenant: String,
}

/// The SHA-256 of a key, as stored.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key: `nwk_` and 32 random bytes in hex.
pub fn new_key() -> String {
    format!(
        "nwk_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl AppState {
    /// State over `engine`, with webhook routes read from the active workflows.
    pub async fn new(engine: Engine) -> Result<AppState, ApiError> {
        let state = AppState {
            engine,
            hooks: Arc::new(RwLock::new(HashMap::new())),
        };
        state.reload_hooks().await?;
        Ok(state)
    }

    async fn reload_hooks(&self) -> Result<(), ApiError> {
        let store = self.engine.store();
        let mut hooks = HashMap::new();
        for (tenant, id, version) in store.active_workflows().await? {
            let stored = store.workflow_version(&tenant, &id, version).await?;
            let Ok(workflow) = Workflow::from_json(&stored.definition.to_string()) else {
                continue;
            };
            for node in &workflow.nodes {
                if node.node_type.control() != Some(ControlKind::Webhook) {
                    continue;
                }
                let path = node
                    .params
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or(&node.id);
                let method = node
                    .params
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("POST");
                let on_received =
                    node.params.get("respond").and_then(Value::as_str) == Some("onReceived");
                hooks.insert(
                    (
                        method.to_ascii_uppercase(),
                        path.trim_matches('/').to_owned(),
                    ),
                    Hook {
                        tenant: tenant.clone(),
                        workflow_id: id.clone(),
                        version,
                        on_received,
                    },
                );
            }
        }
        if let Ok(mut current) = self.hooks.write() {
            *current = hooks;
        }
        Ok(())
    }
}

/// The routes: `/api/v1/...` behind API keys, `/webhook/...`, `/healthz`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/workflows", post(create_workflow).get(list_workflows))
        .route("/workflows/{id}/activate", post(activate))
        .route("/workflows/{id}/executions", post(run_workflow))
        .route("/executions", get(list_executions))
        .route("/executions/{id}", get(get_execution))
        .route("/dead-letters", get(dead_letters))
        .route("/dead-letters/{id}/replay", post(replay))
        .route("/variables", get(variables))
        .route(
            "/variables/{name}",
            axum::routing::put(set_variable).delete(delete_variable),
        )
        .route("/executions/{id}/cancel", post(cancel))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such API route; see /api/v1/workflows and /api/v1/executions/{id}",
            )
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .nest("/api/v1", api)
        .route("/webhook/{*path}", any(webhook))
        .route("/resume/{token}", post(resume))
        .route("/healthz", get(|| async { "ok" }))
        .merge(ui::routes())
        .with_state(state)
}

async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned);
    let Some(key) = key else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an API key as `Authorization: Bearer <key>`; the first start printed one and saved it in <data dir>/cli.key",
        )
        .into_response();
    };
    match state.engine.store().api_key(&key_hash(&key)).await {
        Ok(Some((tenant, _role))) => {
            request.extensions_mut().insert(Caller { tenant });
            next.run(request).await
        }
        Ok(None) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is unknown or revoked",
        )
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn caller(request_parts: &axum::http::Extensions) -> ApiResult<Caller> {
    request_parts
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "no API key"))
}

/// Reads a workflow from JSON or (any other content type) YAML.
fn parse_workflow(headers: &HeaderMap, body: &[u8]) -> ApiResult<Workflow> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the workflow must be UTF-8 text",
        )
    })?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let parsed = if json {
        Workflow::from_json(text)
    } else {
        Workflow::from_yaml(text)
    };
    parsed.map_err(|e| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_workflow",
        message: e.to_string(),
        details: json!([{ "path": e.path, "line": e.location.map(|l| l.line), "column": e.location.map(|l| l.column) }]),
    })
}

async fn create_workflow(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    let workflow = parse_workflow(&headers, &body)?;
    let version = state.engine.deploy(&caller.tenant, &workflow).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "id": version.workflow_id, "name": version.name, "version": version.version }),
        ),
    ))
}

async fn list_workflows(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let workflows = state.engine.store().workflows(&caller.tenant).await?;
    Ok(Json(json!({
        "items": workflows.into_iter().map(|(id, name, version)| json!({ "id": id, "name": name, "version": version })).collect::<Vec<_>>()
    })))
}

#[derive(serde::Deserialize, Default)]
struct ActivateBody {
    version: Option<i64>,
}

async fn activate(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(id): Path<String>,
    body: Option<Json<ActivateBody>>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let version = state
        .engine
        .store()
        .activate(
            &caller.tenant,
            &id,
            body.version,
            n8n_work_store::now_millis(),
        )
        .await?;
    state.reload_hooks().await?;
    Ok(Json(json!({ "id": id, "activeVersion": version })))
}

async fn run_workflow(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let (_, _, version) = store
        .workflows(&caller.tenant)
        .await?
        .into_iter()
        .find(|(w, _, _)| *w == id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("workflow `{id}` not found"),
            )
        })?;
    let version = store.workflow_version(&caller.tenant, &id, version).await?;
    let items =
        Item::list_from_value(body.map(|Json(v)| v).unwrap_or_else(|| json!({}))).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the body: {e}"),
            )
        })?;
    let execution = state
        .engine
        .start(&caller.tenant, &version, items, None)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "executionId": execution })),
    ))
}

async fn get_execution(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let execution = store.execution(&caller.tenant, &id).await?;
    let steps = store.steps(&caller.tenant, &id).await?;
    // Where to resume steps parked until called.
    let mut resume = serde_json::Map::new();
    for step in steps
        .iter()
        .filter(|s| s.status == n8n_work_store::StepStatus::Waiting)
    {
        let key = n8n_work_store::StepKey {
            tenant: caller.tenant.clone(),
            execution_id: id.clone(),
            seq: step.seq,
        };
        if let Some(token) = store.resume_token(&key).await? {
            resume.insert(
                step.node_id.clone(),
                Value::String(format!("/resume/{token}")),
            );
        }
    }
    Ok(Json(
        json!({ "execution": execution, "steps": steps, "resumeUrls": resume }),
    ))
}

async fn cancel(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    state.engine.cancel(&caller.tenant, &id).await?;
    Ok(Json(json!({ "id": id, "status": "cancelled" })))
}

async fn webhook(
    State(state): State<AppState>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let key = (
        method.as_str().to_owned(),
        path.trim_matches('/').to_owned(),
    );
    let hook = state.hooks.read().ok().and_then(|h| h.get(&key).cloned());
    let Some(hook) = hook else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no active workflow listens for {} /webhook/{}; activate one with a webhook node of that path and method",
                key.0, key.1
            ),
        ));
    };
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION && *name != header::COOKIE)
        .map(|(name, value)| {
            (
                name.to_string(),
                Value::String(value.to_str().unwrap_or_default().to_owned()),
            )
        })
        .collect();
    let item = json!({ "body": body, "headers": headers, "query": query, "params": {} });
    let items = Item::list_from_value(item)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?;
    let store = state.engine.store();
    let version = store
        .workflow_version(&hook.tenant, &hook.workflow_id, hook.version)
        .await?;
    let id = state
        .engine
        .start(&hook.tenant, &version, items, None)
        .await?;
    if hook.on_received {
        return Ok((StatusCode::ACCEPTED, Json(json!({ "executionId": id }))).into_response());
    }
    let row = state.engine.wait(&hook.tenant, &id).await?;
    if row.status != ExecutionStatus::Succeeded {
        let message = row
            .error
            .as_ref()
            .and_then(|e| e["message"].as_str())
            .unwrap_or("the run did not succeed")
            .to_owned();
        return Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "run_failed",
            message,
            details: json!({ "executionId": id, "status": row.status.as_str() }),
        });
    }
    if let Some(response) = row.response {
        let status = response["status"]
            .as_u64()
            .and_then(|s| StatusCode::from_u16(s as u16).ok())
            .unwrap_or(StatusCode::OK);
        let mut reply = (status, Json(response["body"].clone())).into_response();
        if let Some(extra) = response["headers"].as_object() {
            for (name, value) in extra {
                if let (Ok(name), Some(Ok(value))) = (
                    header::HeaderName::from_bytes(name.as_bytes()),
                    value.as_str().map(header::HeaderValue::from_str),
                ) {
                    reply.headers_mut().insert(name, value);
                }
            }
        }
        return Ok(reply);
    }
    // As n8n's "last node, first entry JSON".
    let first = row
        .result
        .as_ref()
        .and_then(|r| r.get("main"))
        .and_then(|items| items.get(0))
        .map(|item| item["json"].clone())
        .unwrap_or_else(|| json!({}));
    Ok((StatusCode::OK, Json(first)).into_response())
}

#[derive(serde::Deserialize)]
struct ExecutionFilter {
    workflow: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn list_executions(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Query(filter): Query<ExecutionFilter>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let rows = state
        .engine
        .store()
        .list_executions(
            &caller.tenant,
            filter.workflow.as_deref(),
            filter.status.as_deref(),
            filter.cursor.as_deref(),
            limit,
        )
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(json!({ "items": rows, "nextCursor": next })))
}

async fn dead_letters(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let letters = state.engine.store().dead_letters(&caller.tenant).await?;
    Ok(Json(json!({ "items": letters })))
}

async fn replay(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    let step = state.engine.replay(&caller.tenant, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "executionId": step.execution_id, "step": step.seq })),
    ))
}

async fn variables(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    Ok(Json(Value::Object(
        state.engine.store().variables(&caller.tenant).await?,
    )))
}

#[derive(serde::Deserialize)]
struct VariableBody {
    value: String,
}

async fn set_variable(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(name): Path<String>,
    Json(body): Json<VariableBody>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "variable name `{name}`: use letters, digits and `_`, so expressions can read it as $vars.{name}"
            ),
        ));
    }
    state
        .engine
        .store()
        .set_variable(
            &caller.tenant,
            &name,
            &body.value,
            n8n_work_store::now_millis(),
        )
        .await?;
    Ok(Json(json!({ "name": name, "value": body.value })))
}

async fn delete_variable(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = caller(&extensions)?;
    if state
        .engine
        .store()
        .delete_variable(&caller.tenant, &name)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("variable `{name}` not found"),
        ))
    }
}

/// Wakes a Wait node parked with `resume: call`: the token is the secret,
/// as in n8n's resume URL.
async fn resume(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let data: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the body is not JSON: {e}"),
            )
        })?
    };
    let tenants = state.engine.store().tenants().await?;
    for tenant in tenants {
        match state.engine.resume(&tenant, &token, data.clone()).await {
            Ok(step) => {
                return Ok((
                    StatusCode::ACCEPTED,
                    Json(json!({ "executionId": step.execution_id })),
                ));
            }
            Err(n8n_work_engine::EngineError::Store(StoreError::NotFound(_))) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no run waits on this resume token (it may have resumed already)",
    ))
}
