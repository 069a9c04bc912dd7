//! Credentials: create, update, delete, and list with the workflows that
//! use each. Values go into the vault encrypted and never come back out
//! through the API; only the engine reads them, for the steps granted them.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use n8n_work_auth::Action;
use n8n_work_vault::{CredentialChange, Vault, VaultError};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, caller};

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> ApiError {
        match e {
            VaultError::Store(e) => e.into(),
            VaultError::NotAnObject(_) | VaultError::OAuth2 { .. } => {
                ApiError::bad_request(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "vault error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "vault",
                    other.to_string(),
                )
            }
        }
    }
}

fn vault(state: &AppState) -> ApiResult<&Vault> {
    state.vault.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_vault",
            "this server runs without a credential vault",
        )
    })
}

/// The workflows (latest versions) whose nodes name `credential`.
async fn users(state: &AppState, tenant: &str) -> ApiResult<Vec<(String, String, Vec<String>)>> {
    let store = state.engine.store();
    let mut users = Vec::new();
    let definitions = store.latest_definitions(tenant).await?;
    for summary in store.workflow_summaries(tenant).await? {
        let definition = definitions.get(&summary.id).unwrap_or(&Value::Null);
        let names: Vec<String> = definition["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["credentials"].as_object())
            .flat_map(|c| c.values().filter_map(Value::as_str).map(str::to_owned))
            .collect();
        users.push((summary.id, summary.name, names));
    }
    Ok(users)
}

#[utoipa::path(get, path = "/api/v1/credentials", tag = "credentials", responses((status = 200, description = "`{items: [{id, name, type, created_at, updated_at, usedBy}]}`; never values", body = serde_json::Value)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let credentials = vault(&state)?.list(&caller.tenant).await?;
    let users = users(&state, &caller.tenant).await?;
    let items: Vec<Value> = credentials
        .into_iter()
        .map(|c| {
            let used_by: Vec<Value> = users
                .iter()
                .filter(|(_, _, names)| names.contains(&c.name))
                .map(|(id, name, _)| json!({ "id": id, "name": name }))
                .collect();
            let mut item = serde_json::to_value(&c).unwrap_or_default();
            item["usedBy"] = Value::Array(used_by);
            item
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(serde::Deserialize)]
pub(crate) struct NewCredential {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: Value,
}

#[utoipa::path(post, path = "/api/v1/credentials", tag = "credentials", request_body(content = serde_json::Value, description = "`{name, type, value: {fields}}`"), responses((status = 201, body = serde_json::Value), (status = 409, description = "The name is taken", body = serde_json::Value)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    extensions: Extensions,
    Json(body): Json<NewCredential>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "name: give the credential a name; workflows refer to it by that name",
        ));
    }
    let created = vault(&state)?
        .create(&caller.tenant, body.name.trim(), &body.kind, &body.value)
        .await?;
    let after = serde_json::to_value(&created).unwrap_or_default();
    state
        .record(
            &caller,
            Action::CredentialWrite,
            format!("credential:{}", created.id),
            None,
            Some(&after),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(created).unwrap_or_default()),
    ))
}

#[derive(serde::Deserialize)]
pub(crate) struct ChangedCredential {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    value: Option<Value>,
}

#[utoipa::path(put, path = "/api/v1/credentials/{id}", tag = "credentials", params(("id" = String, Path)), request_body(content = serde_json::Value, description = "`{name?, type?, value?}`"), responses((status = 200, body = serde_json::Value), (status = 404, body = serde_json::Value)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
    Json(body): Json<ChangedCredential>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let change = CredentialChange {
        name: body.name,
        kind: body.kind,
        value: body.value,
    };
    let before = summary_of(&state, &caller.tenant, &id).await?;
    let updated = vault(&state)?.update(&caller.tenant, &id, change).await?;
    // Metadata only: a hash of a secret value could be guessed offline.
    let after = serde_json::to_value(&updated).unwrap_or_default();
    state
        .record(
            &caller,
            Action::CredentialWrite,
            format!("credential:{id}"),
            before.as_ref(),
            Some(&after),
        )
        .await;
    Ok(Json(after))
}

#[utoipa::path(delete, path = "/api/v1/credentials/{id}", tag = "credentials", params(("id" = String, Path)), responses((status = 204), (status = 404, body = serde_json::Value)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = caller(&extensions)?;
    let before = summary_of(&state, &caller.tenant, &id).await?;
    vault(&state)?.delete(&caller.tenant, &id).await?;
    state
        .record(
            &caller,
            Action::CredentialWrite,
            format!("credential:{id}"),
            before.as_ref(),
            None,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A credential's metadata (never its value), as the audit log hashes it.
async fn summary_of(state: &AppState, tenant: &str, id: &str) -> ApiResult<Option<Value>> {
    Ok(vault(state)?
        .list(tenant)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| serde_json::to_value(c).unwrap_or_default()))
}

/// `GET /vault`: the id of the master key in use, and whether this server
/// can rotate it (it came from a key file).
#[utoipa::path(get, path = "/api/v1/vault", tag = "credentials", responses((status = 200, description = "`{masterKeyId, rotatable}` (the platform owner only)", body = serde_json::Value)))]
pub(crate) async fn vault_status(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let vault = vault(&state)?;
    Ok(Json(json!({
        "masterKeyId": vault.master_key_id(),
        "rotatable": state.master_key_file.is_some(),
    })))
}

/// The Redis channel (under the deployment's prefix) a rotation is
/// announced on, with the new master key's id.
pub const VAULT_CHANNEL: &str = "vault";

/// `POST /vault/rotate {"from": ID}`: wraps every tenant's data key under
/// a new master key, written to the key file, while runs go on. `from`
/// names the key in use, so a rotation repeated by mistake does nothing.
#[utoipa::path(post, path = "/api/v1/vault/rotate", tag = "credentials", request_body(content = serde_json::Value, description = "`{from}`: the master key id in use (`GET /api/v1/vault`)"), responses((status = 200, description = "`{masterKeyId, rewrapped}`", body = serde_json::Value), (status = 409, description = "`from` is not the key in use, or the key is not in a file", body = serde_json::Value)))]
pub(crate) async fn rotate(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let vault = vault(&state)?;
    let from = body
        .and_then(|Json(body)| body.get("from")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            ApiError::bad_request(
                "send {\"from\": ID} naming the master key in use (GET /api/v1/vault shows it), so that a rotation sent twice happens once",
            )
        })?;
    let current = vault.master_key_id();
    if from != current {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("the master key in use is `{current}`, not `{from}`: it was rotated already"),
        ));
    }
    let Some(file) = state.master_key_file.as_deref() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "master_key_not_in_a_file",
            "the master key comes from N8N_WORK_MASTER_KEY, where this server cannot write a new one; keep it in a file (N8N_WORK_MASTER_KEY_FILE) to rotate it here",
        ));
    };
    let rotation = vault.rotate_key_file(file).await?;
    // Every other process hears of it at once (and checks the store before
    // it wraps a data key, in case it missed this).
    if let Some(redis) = &state.hooks.redis {
        let published = match redis.connection().await {
            Ok(mut connection) => {
                redis::cmd("PUBLISH")
                    .arg(redis.key(VAULT_CHANNEL))
                    .arg(&rotation.master_key_id)
                    .query_async::<()>(&mut connection)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = published {
            tracing::warn!(error = %e, "the rotation could not be announced on Redis; other processes follow it at their next data key");
        }
    }
    state
        .record(
            &caller,
            Action::VaultRotate,
            "vault:master-key".to_owned(),
            Some(&json!({ "masterKeyId": current })),
            Some(&json!({ "masterKeyId": rotation.master_key_id })),
        )
        .await;
    Ok(Json(json!({
        "masterKeyId": rotation.master_key_id,
        "rewrapped": rotation.rewrapped,
    })))
}

/// `POST /credentials/{id}/oauth2/authorize`: where to send the person who
/// authorizes an OAuth2 credential (authorization code with PKCE). The
/// provider sends them back to `/api/v1/oauth2/callback` under
/// `--public-url` (else the address this request came to), or to the
/// credential's `redirectUrl`.
#[utoipa::path(post, path = "/api/v1/credentials/{id}/oauth2/authorize", tag = "credentials", params(("id" = String, Path)), responses((status = 200, description = "`{url}`: the provider's authorization page", body = serde_json::Value), (status = 400, description = "Not an authorization-code OAuth2 credential", body = serde_json::Value)))]
pub(crate) async fn authorize_oauth2(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let base = match &state.public_url {
        Some(url) => url.to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .ok_or_else(|| ApiError::bad_request("the request has no Host header to send the provider back to; set --public-url, or the credential's `redirectUrl`"))?;
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .filter(|p| *p == "https")
                .unwrap_or("http");
            format!("{scheme}://{host}")
        }
    };
    let callback = format!("{base}/api/v1/oauth2/callback");
    let url = vault(&state)?
        .oauth2_authorize(&caller.tenant, &id, &callback)
        .await?;
    Ok(Json(json!({ "url": url })))
}

#[derive(serde::Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth2/callback?code&state`: the provider sends the person back
/// here; the code is exchanged and the tokens stored in the credential.
/// The one-time `state` is the only authority this route needs.
#[utoipa::path(get, path = "/api/v1/oauth2/callback", tag = "credentials", security(()), params(("code" = Option<String>, Query), ("state" = Option<String>, Query)), responses((status = 200, description = "A page saying the credential is authorized", content_type = "text/html", body = String), (status = 400, description = "A page saying why not", content_type = "text/html", body = String)))]
pub(crate) async fn oauth2_callback(
    State(state): State<AppState>,
    Query(query): Query<Callback>,
) -> Response {
    let page = |status: StatusCode, title: &str, text: String| {
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        (
            status,
            Html(format!(
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{0}</title><main><h1>{0}</h1><p>{1}</p><p><a href=\"/credentials\">Back to credentials</a></p></main></html>",
                escape(title),
                escape(&text)
            )),
        )
            .into_response()
    };
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return page(
            StatusCode::BAD_REQUEST,
            "Not authorized",
            format!("The provider refused: {error} {detail}. Start again from the credential."),
        );
    }
    let (Some(code), Some(oauth_state)) = (query.code, query.state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not authorized",
            "The provider sent no code and state back; start again from the credential.".into(),
        );
    };
    let Ok(vault) = vault(&state) else {
        return page(
            StatusCode::NOT_IMPLEMENTED,
            "Not authorized",
            "This server runs without a credential vault.".into(),
        );
    };
    match vault.oauth2_callback(&code, &oauth_state).await {
        Ok((_, name)) => page(
            StatusCode::OK,
            "Authorized",
            format!(
                "Credential {name} is authorized; its steps now get access tokens, refreshed by the server."
            ),
        ),
        Err(e) => page(StatusCode::BAD_REQUEST, "Not authorized", e.to_string()),
    }
}
