//! Who calls and whether they may: every `/api/v1` request is
//! authenticated (an API key, or the UI's session cookie), named as one
//! [`Action`] on one [`Resource`] by [`route_action`], and decided by the
//! Cedar policies of `host/auth`, the tenant's own included. A route that
//! names no action is refused, so a new route cannot slip past the check.
//!
//! Also here: tenants, keys, policies and the audit log's API, and
//! [`AppState::record`], which appends a change to the audit chain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Path, Query, RawPathParams, Request, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, RequestExt};
use n8n_work_auth::{Action, PLATFORM_TENANT, Resource, Role, TenantPolicies, scope_covers};
use n8n_work_store::audit::{AuditEntry, AuditKey, state_hash};
use n8n_work_store::{ApiKeyRow, NewApiKey, now_millis};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, key_hash, new_key, session};

/// The tenant, role and key a request acts for.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) tenant: String,
    pub(crate) role: Role,
    /// The key's id, or the session's key's id.
    pub(crate) key: String,
    scopes: Vec<String>,
    /// The client's address, for the audit log.
    pub(crate) source: String,
}

impl Caller {
    fn principal(&self) -> n8n_work_auth::Caller {
        n8n_work_auth::Caller::new(&self.tenant, self.role, &self.key)
    }

    /// Refuses `scopes` (for a key or a member this caller makes) that
    /// cover an action this caller's own scopes do not: a key may not make
    /// one wider than itself.
    pub(crate) fn may_grant(&self, scopes: &[String], doing: &str) -> ApiResult<()> {
        let wider = Action::ALL.iter().copied().find(|action| {
            scopes.iter().any(|s| scope_covers(s, *action))
                && !self.scopes.iter().any(|s| scope_covers(s, *action))
        });
        match wider {
            None => Ok(()),
            Some(action) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this key's scopes ({}) do not cover `{}`, so it may not {doing} scopes {}; stay within its scopes, or use a key that has them",
                    self.scopes.join(" "),
                    action.as_str(),
                    scopes.join(" "),
                ),
            )),
        }
    }
}

impl AppState {
    /// Whether `caller` may do `action` on `resource`: its key's scopes,
    /// then the default policies and the caller's tenant's own.
    pub(crate) async fn may(
        &self,
        caller: &Caller,
        action: Action,
        resource: &Resource,
    ) -> ApiResult<bool> {
        if !caller
            .scopes
            .iter()
            .any(|scope| scope_covers(scope, action))
        {
            return Ok(false);
        }
        let own = self.tenant_policies(&caller.tenant).await?;
        Ok(self
            .inner
            .policies
            .decide(&caller.principal(), action, resource, own.as_deref())
            .allowed())
    }
}

/// The caller that [`authorize`] let through.
pub(crate) fn caller(extensions: &Extensions) -> ApiResult<Caller> {
    extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "no API key"))
}

/// The action a route performs, and the kind of resource it acts on; `None`
/// for a route that no policy names (it is refused).
pub(crate) fn route_action(method: &Method, path: &str) -> Option<(Action, &'static str)> {
    use Action::*;
    let path = path.strip_prefix("/api/v1")?;
    Some(match (method.as_str(), path) {
        ("GET", "/workflows") | ("POST", "/workflows/validate") => (WorkflowRead, "workflow"),
        ("POST", "/workflows") | ("PUT", "/workflows/{id}") => (WorkflowWrite, "workflow"),
        ("GET", "/workflows/{id}")
        | ("GET", "/workflows/{id}/versions")
        | ("GET", "/workflows/{id}/versions/{version}") => (WorkflowRead, "workflow"),
        ("POST", "/workflows/{id}/activate") | ("POST", "/workflows/{id}/deactivate") => {
            (WorkflowActivate, "workflow")
        }
        ("POST", "/workflows/{id}/run")
        | ("POST", "/workflows/{id}/executions")
        | ("POST", "/workflows/{id}/nodes/{node}/run") => (WorkflowRun, "workflow"),
        ("GET", "/workflows/{id}/events") => (ExecutionRead, "workflow"),
        ("GET", "/nodes") | ("POST", "/expressions/preview") => (WorkflowRead, "node"),
        ("GET", "/credentials") => (CredentialRead, "credential"),
        ("POST", "/credentials")
        | ("PUT", "/credentials/{id}")
        | ("DELETE", "/credentials/{id}")
        | ("POST", "/credentials/{id}/oauth2/authorize") => (CredentialWrite, "credential"),
        ("GET", "/executions")
        | ("GET", "/executions/{id}")
        | ("GET", "/executions/{id}/steps/{seq}")
        | ("GET", "/executions/{id}/events") => (ExecutionRead, "execution"),
        ("POST", "/executions/{id}/cancel") => (ExecutionCancel, "execution"),
        ("POST", "/executions/{id}/retry") => (ExecutionRetry, "execution"),
        ("GET", "/dead-letters") => (ExecutionRead, "dead-letter"),
        ("POST", "/dead-letters/{id}/replay") => (ExecutionRetry, "dead-letter"),
        ("GET", "/variables") => (VariableRead, "variable"),
        ("PUT", "/variables/{name}") | ("DELETE", "/variables/{name}") => {
            (VariableWrite, "variable")
        }
        ("POST", "/tenants") => (TenantCreate, "tenant"),
        ("GET", "/keys") => (KeyRead, "key"),
        ("POST", "/keys") | ("DELETE", "/keys/{id}") => (KeyWrite, "key"),
        // A member is a key of its role that only its sign-in uses.
        ("GET", "/members") => (KeyRead, "member"),
        ("POST", "/members") | ("DELETE", "/members/{id}") => (KeyWrite, "member"),
        ("GET", "/policies") => (PolicyRead, "policy"),
        ("PUT", "/policies") => (PolicyWrite, "policy"),
        ("GET", "/audit") => (AuditRead, "audit"),
        ("GET", "/vault") | ("POST", "/vault/rotate") => (VaultRotate, "vault"),
        ("GET", "/limits") => (LimitRead, "limit"),
        ("PUT", "/limits") => (TenantLimits, "tenant"),
        _ => return None,
    })
}

/// The middleware on every `/api/v1` route but the session's: who calls,
/// then whether the policies let them do this route's action.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match allowed(&state, &mut request).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

async fn allowed(state: &AppState, request: &mut Request) -> ApiResult<Caller> {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
        .unwrap_or_default();
    let mut caller = caller_of(state, request.method(), request.headers()).await?;
    caller.source = source;
    state.limiter.request(&caller.tenant).await?;
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let Some((action, kind)) = route_action(request.method(), &path) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} {path} is not named by any policy, so nobody may call it",
                request.method()
            ),
        ));
    };
    if !caller
        .scopes
        .iter()
        .any(|scope| scope_covers(scope, action))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this key's scopes ({}) do not cover `{}`; make a key with that scope",
                caller.scopes.join(" "),
                action.as_str()
            ),
        ));
    }
    let params = request.extract_parts::<RawPathParams>().await.ok();
    let id = params
        .as_ref()
        .and_then(|p| p.iter().find(|(name, _)| *name == "id" || *name == "name"))
        .map(|(_, value)| value.to_owned())
        .unwrap_or_else(|| "*".to_owned());
    let resource = resource(state, &caller, action, kind, &id).await?;
    let own = state.tenant_policies(&caller.tenant).await?;
    let decision =
        state
            .inner
            .policies
            .decide(&caller.principal(), action, &resource, own.as_deref());
    if !decision.errors.is_empty() {
        tracing::warn!(errors = ?decision.errors, tenant = %caller.tenant, "a policy failed to evaluate; it was skipped");
    }
    if decision.allowed() {
        return Ok(caller);
    }
    let why = if decision.reasons.is_empty() {
        format!(
            "no policy permits it; the default policies give it to {} and above",
            action.default_role()
        )
    } else {
        format!("policy {} forbids it", decision.reasons.join(", "))
    };
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "a {} key may not `{}` here: {why}",
            caller.role,
            action.as_str()
        ),
    )
    .with_details(json!({ "action": action.as_str(), "role": caller.role.as_str() })))
}

/// The resource a request acts on, with the tags ABAC policies read: a
/// workflow's, or a run's workflow's.
async fn resource(
    state: &AppState,
    caller: &Caller,
    action: Action,
    kind: &str,
    id: &str,
) -> ApiResult<Resource> {
    if action.is_platform() {
        return Ok(Resource::new(PLATFORM_TENANT, kind, id));
    }
    let store = state.engine.store();
    let workflow = match kind {
        "workflow" if id != "*" => Some(id.to_owned()),
        "execution" if id != "*" => store.execution_workflow(&caller.tenant, id).await?,
        _ => None,
    };
    let tags = match workflow {
        Some(workflow) => store.workflow_tags(&caller.tenant, &workflow).await?,
        None => Vec::new(),
    };
    Ok(Resource::new(&caller.tenant, kind, id).with_tags(tags))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

pub(crate) fn from_key(key: ApiKeyRow) -> ApiResult<Caller> {
    let role = key.role.parse().map_err(|e: n8n_work_auth::AuthError| {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
    })?;
    Ok(Caller {
        tenant: key.tenant,
        role,
        key: key.id,
        scopes: key.scopes,
        source: String::new(),
    })
}

/// Who calls: an API key (`Authorization: Bearer`), or the UI's session
/// cookie, which must come with `X-Requested-With: n8n-work` on anything
/// but a read, so another site cannot make the browser send it.
pub(crate) async fn caller_of(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Caller> {
    let store = state.engine.store();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(key) = bearer {
        return match store.api_key(&key_hash(key), now_millis()).await? {
            Some(key) => from_key(key),
            None => Err(unauthorized("the API key is unknown, expired or revoked")),
        };
    }
    if let Some(token) = session::cookie(headers) {
        let Some(key) = store.session(&key_hash(&token), now_millis()).await? else {
            return Err(unauthorized(
                "the session expired, was signed out, or its key was revoked; sign in again",
            ));
        };
        let safe = matches!(*method, Method::GET | Method::HEAD);
        let marked = headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"n8n-work"));
        if !safe && !marked {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a request signed in by cookie must send `X-Requested-With: n8n-work`",
            ));
        }
        return from_key(key);
    }
    Err(unauthorized(
        "send an API key as `Authorization: Bearer <key>`; the first start printed one and saved it in <data dir>/cli.key",
    ))
}

/// How long another replica's policy change may take to be seen here.
const POLICY_CACHE: Duration = Duration::from_secs(5);

/// A tenant's own policies, parsed (none if it has none), and when.
type CachedPolicies = (Instant, Option<Arc<TenantPolicies>>);

/// Tenants' own policies, parsed, for a few seconds.
#[derive(Default)]
pub(crate) struct PolicyCache(Mutex<HashMap<String, CachedPolicies>>);

impl AppState {
    async fn tenant_policies(&self, tenant: &str) -> ApiResult<Option<Arc<TenantPolicies>>> {
        if let Some((at, cached)) = self
            .inner
            .policy_cache
            .0
            .lock()
            .expect("not poisoned")
            .get(tenant)
            && at.elapsed() < POLICY_CACHE
        {
            return Ok(cached.clone());
        }
        let text = self.engine.store().tenant_policies(tenant).await?;
        let parsed = match text {
            Some(text) => match self.inner.policies.tenant_policies(tenant, &text) {
                Ok(parsed) => Some(Arc::new(parsed)),
                Err(e) => {
                    // Stored policies were checked when set; a newer schema
                    // may refuse them. The defaults still hold.
                    tracing::error!(tenant, error = %e, "the tenant's policies no longer load; only the defaults apply");
                    None
                }
            },
            None => None,
        };
        self.inner
            .policy_cache
            .0
            .lock()
            .expect("not poisoned")
            .insert(tenant.to_owned(), (Instant::now(), parsed.clone()));
        Ok(parsed)
    }

    /// Appends a change to the audit log: who, what, on what, from where,
    /// and the hashes of the states before and after. A failure to record is
    /// logged, never hidden.
    pub(crate) async fn record(
        &self,
        caller: &Caller,
        action: Action,
        target: String,
        before: Option<&Value>,
        after: Option<&Value>,
    ) {
        let Some(trail) = &self.inner.audit else {
            return;
        };
        let entry = AuditEntry {
            seq: 0,
            at: now_millis(),
            tenant: caller.tenant.clone(),
            actor: caller.key.clone(),
            action: action.as_str().to_owned(),
            target,
            source: caller.source.clone(),
            before: before.map(state_hash),
            after: after.map(state_hash),
            mac: String::new(),
        };
        match self
            .engine
            .store()
            .append_audit(entry, trail.key.clone())
            .await
        {
            Ok(entry) => trail.checkpoint(&entry),
            Err(e) => {
                tracing::error!(error = %e, action = action.as_str(), "could not append to the audit log")
            }
        }
    }
}

/// The audit log's key and the file its head is checkpointed to.
pub(crate) struct AuditTrail {
    key: Arc<AuditKey>,
    head: PathBuf,
    last: Mutex<i64>,
}

impl AuditTrail {
    pub(crate) fn new(key: [u8; 32], head: PathBuf) -> AuditTrail {
        AuditTrail {
            key: Arc::new(AuditKey::new(key)),
            head,
            last: Mutex::new(0),
        }
    }

    /// Writes the head, whole (a new file renamed into place), if it moved on.
    fn checkpoint(&self, entry: &AuditEntry) {
        let mut last = self.last.lock().expect("not poisoned");
        if entry.seq <= *last {
            return;
        }
        let checkpoint = self.key.checkpoint(entry);
        let temp = self.head.with_extension("head.tmp");
        let written = std::fs::write(&temp, serde_json::to_vec(&checkpoint).unwrap_or_default())
            .and_then(|()| std::fs::rename(&temp, &self.head));
        match written {
            Ok(()) => *last = entry.seq,
            Err(e) => {
                tracing::error!(file = %self.head.display(), error = %e, "could not checkpoint the audit log's head")
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct NewTenant {
    name: String,
}

/// `POST /tenants {name}`: a tenant and its owner key, shown once.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "access", request_body(content = serde_json::Value, description = "`{name}`"), responses((status = 201, description = "`{id, name, ownerKey}`; the key is shown only now", body = serde_json::Value), (status = 409, body = serde_json::Value)))]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Option<Json<NewTenant>>,
) -> ApiResult<Response> {
    let caller = caller(&extensions)?;
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request("send {\"name\": \"Acme\"} as JSON"));
    };
    let store = state.engine.store();
    let id = store.create_tenant(&body.name, now_millis()).await?;
    state
        .record(
            &caller,
            Action::TenantCreate,
            format!("tenant:{id}"),
            None,
            Some(&json!({ "id": id, "name": body.name })),
        )
        .await;
    let (row, key) = issue_key(
        &state,
        &caller,
        &id,
        Role::Owner,
        "owner",
        vec!["*".into()],
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": body.name.trim(), "ownerKey": key_body(&row, &key) })),
    )
        .into_response())
}

/// Makes a key and records it in the audit log as `caller`'s change; the
/// row and the key itself (never stored).
async fn issue_key(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    role: Role,
    name: &str,
    scopes: Vec<String>,
    expires_at: Option<i64>,
) -> ApiResult<(ApiKeyRow, String)> {
    let key = new_key();
    let row = state
        .engine
        .store()
        .add_api_key(
            NewApiKey {
                tenant: tenant.to_owned(),
                name: name.to_owned(),
                prefix: key[..12].to_owned(),
                hash: key_hash(&key),
                role: role.as_str().to_owned(),
                scopes,
                expires_at,
            },
            now_millis(),
        )
        .await?;
    state
        .record(
            caller,
            Action::KeyWrite,
            format!("key:{}", row.id),
            None,
            Some(&key_state(&row)),
        )
        .await;
    Ok((row, key))
}

/// What the audit log hashes of a key: its metadata, never its secret.
fn key_state(row: &ApiKeyRow) -> Value {
    json!({ "id": row.id, "role": row.role, "scopes": row.scopes, "expiresAt": row.expires_at, "revokedAt": row.revoked_at })
}

fn key_body(row: &ApiKeyRow, key: &str) -> Value {
    let mut body = serde_json::to_value(row).unwrap_or_default();
    body["key"] = json!(key);
    body
}

/// `GET /keys`: the tenant's keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/keys", tag = "access", responses((status = 200, description = "`{items}`", body = serde_json::Value)))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let keys = state.engine.store().api_keys(&caller.tenant).await?;
    Ok(Json(json!({ "items": keys })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewKey {
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /keys {role, name, scopes, expiresInDays}`: a key, shown once; no
/// higher a role than the caller's.
#[utoipa::path(post, path = "/api/v1/keys", tag = "access", request_body(content = serde_json::Value, description = "`{role, name?, scopes?: [\"workflow.*\"], expiresInDays?}`"), responses((status = 201, description = "The key, with `key` shown only now", body = serde_json::Value), (status = 403, body = serde_json::Value)))]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Option<Json<NewKey>>,
) -> ApiResult<Response> {
    let caller = caller(&extensions)?;
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request(
            "send {\"role\": \"editor\", \"name\": \"ci\"} as JSON; optional: scopes, expiresInDays",
        ));
    };
    let role: Role = body
        .role
        .parse()
        .map_err(|e: n8n_work_auth::AuthError| ApiError::bad_request(e.to_string()))?;
    if role > caller.role {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "a {} key cannot make a {role} key; ask someone with that role",
                caller.role
            ),
        ));
    }
    // Without scopes, a key gets its maker's: never more than they have.
    let scopes = body.scopes.unwrap_or_else(|| caller.scopes.clone());
    if let Some(bad) = scopes
        .iter()
        .find(|scope| !Action::ALL.iter().any(|a| scope_covers(scope, *a)))
    {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "scope `{bad}` names no action; use `*`, a prefix like `workflow.*`, or one of: {}",
            names.join(", ")
        )));
    }
    caller.may_grant(&scopes, "make a key with")?;
    let expires_at = body
        .expires_in_days
        .map(|days| now_millis() + i64::from(days) * 86_400_000);
    let (row, key) = issue_key(
        &state,
        &caller,
        &caller.tenant,
        role,
        &body.name,
        scopes,
        expires_at,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(key_body(&row, &key))).into_response())
}

/// `DELETE /keys/{id}`: revokes a key, and the sessions made from it.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "access", params(("id" = String, Path)), responses((status = 200, description = "The key as it is now", body = serde_json::Value), (status = 404, body = serde_json::Value)))]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let keys = store.api_keys(&caller.tenant).await?;
    let Some(target) = keys.iter().find(|k| k.id == id) else {
        return Err(ApiError::not_found(format!("key `{id}` not found")));
    };
    if target
        .role
        .parse::<Role>()
        .is_ok_and(|role| role > caller.role)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {} key cannot revoke a {} key", caller.role, target.role),
        ));
    }
    let before = key_state(target);
    let mut row = store
        .revoke_api_key(&caller.tenant, &id, now_millis())
        .await?;
    row.revoked_at = row.revoked_at.or(Some(now_millis()));
    state
        .record(
            &caller,
            Action::KeyWrite,
            format!("key:{id}"),
            Some(&before),
            Some(&key_state(&row)),
        )
        .await;
    Ok(Json(serde_json::to_value(row).unwrap_or_default()))
}

/// `GET /policies`: the default policies and the tenant's own, as Cedar.
#[utoipa::path(get, path = "/api/v1/policies", tag = "access", responses((status = 200, description = "`{defaults, tenant}`", body = serde_json::Value)))]
pub(crate) async fn get_policies(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let own = state.engine.store().tenant_policies(&caller.tenant).await?;
    Ok(Json(
        json!({ "defaults": state.inner.policies.default_text(), "tenant": own }),
    ))
}

#[derive(serde::Deserialize)]
pub(crate) struct PolicyText {
    text: String,
}

/// `PUT /policies {text}`: replaces the tenant's own Cedar policies, after
/// checking them against the schema.
#[utoipa::path(put, path = "/api/v1/policies", tag = "access", request_body(content = serde_json::Value, description = "`{text}`: Cedar policies; empty removes them"), responses((status = 200, body = serde_json::Value), (status = 400, description = "The policy does not parse or fit the schema", body = serde_json::Value)))]
pub(crate) async fn set_policies(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Option<Json<PolicyText>>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request(
            "send {\"text\": \"forbid (...) when {...};\"} as JSON: Cedar policies",
        ));
    };
    if !body.text.trim().is_empty() {
        state
            .inner
            .policies
            .tenant_policies(&caller.tenant, &body.text)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let before = state
        .engine
        .store()
        .set_tenant_policies(&caller.tenant, &body.text, now_millis())
        .await?;
    state
        .inner
        .policy_cache
        .0
        .lock()
        .expect("not poisoned")
        .remove(&caller.tenant);
    state
        .record(
            &caller,
            Action::PolicyWrite,
            format!("policy:{}", caller.tenant),
            before.map(Value::String).as_ref(),
            Some(&Value::String(body.text.clone())),
        )
        .await;
    Ok(Json(json!({ "tenant": body.text })))
}

#[derive(serde::Deserialize)]
pub(crate) struct AuditPage {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /audit?after=&limit=`: the tenant's audit entries as JSON lines.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(("after" = Option<i64>, Query, description = "Entries after this place"), ("limit" = Option<i64>, Query)), responses((status = 200, description = "JSON lines: one entry each (seq, at, tenant, actor, action, target, source, before, after, mac)", content_type = "application/x-ndjson", body = String)))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    extensions: Extensions,
    Query(page): Query<AuditPage>,
) -> ApiResult<Response> {
    let caller = caller(&extensions)?;
    let limit = page.limit.unwrap_or(10_000).clamp(1, 100_000);
    let entries = state
        .engine
        .store()
        .audit_entries(Some(&caller.tenant), page.after, limit)
        .await?;
    let mut body = String::new();
    for entry in entries {
        body.push_str(&serde_json::to_string(&entry).unwrap_or_default());
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_names_an_action() {
        let doc = <crate::ApiDoc as utoipa::OpenApi>::openapi();
        for (path, item) in &doc.paths.paths {
            let methods = [
                (Method::GET, item.get.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::DELETE, item.delete.is_some()),
            ];
            for (method, present) in methods {
                // Signing in needs no key: it is how a browser gets a
                // session; an OAuth2 provider's callback carries its state.
                if !present
                    || path.starts_with("/api/v1/session")
                    || path == "/api/v1/oauth2/callback"
                {
                    continue;
                }
                assert!(
                    route_action(&method, path).is_some(),
                    "{method} {path} names no action"
                );
            }
        }
    }
}
