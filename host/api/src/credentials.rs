//! Credentials: create, update, delete, and list with the workflows that
//! use each. Values go into the vault encrypted and never come back out
//! through the API; only the engine reads them, for the steps granted them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use n8n_work_auth::Action;
use n8n_work_vault::{CredentialChange, Vault, VaultError};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, caller};

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> ApiError {
        match e {
            VaultError::Store(e) => e.into(),
            VaultError::NotAnObject(_) => ApiError::bad_request(e.to_string()),
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
    for summary in store.workflow_summaries(tenant).await? {
        let latest = store
            .workflow_version(tenant, &summary.id, summary.latest_version)
            .await?;
        let names: Vec<String> = latest.definition["nodes"]
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
