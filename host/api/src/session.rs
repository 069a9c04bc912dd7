//! Browser sign-in: the owner key (or any API key) is exchanged for an
//! HttpOnly session cookie, since a browser's EventSource cannot send an
//! `Authorization` header and keys do not belong in page scripts. Single
//! sign-on (`crate::oidc`) opens the same sessions, for a member's key.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use n8n_work_store::ApiKeyRow;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, key_hash, random_hex};

/// The cookie's name.
const COOKIE: &str = "n8n_work_session";

/// How long a session lasts.
const SESSION_MS: i64 = 12 * 60 * 60 * 1000;

/// The session token in a request's cookies.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// The cookie `wanted` in a request's cookies.
pub(crate) fn named_cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_owned())
}

/// Makes a session acting as `key` and returns the `Set-Cookie` value that
/// carries it (`Secure` when browsers reach the server over https).
pub(crate) async fn open(state: &AppState, key: &ApiKeyRow, secure: bool) -> ApiResult<String> {
    let now = n8n_work_store::now_millis();
    let token = random_hex();
    state
        .engine
        .store()
        .add_session(&key_hash(&token), key, now, now + SESSION_MS)
        .await?;
    Ok(format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_MS / 1000,
        if secure { "; Secure" } else { "" }
    ))
}

#[derive(serde::Deserialize)]
pub(crate) struct SignIn {
    key: String,
}

/// `POST /api/v1/session {"key"}`: a session for the key's tenant and role.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", security(()), request_body(content = serde_json::Value, description = "`{key}`"), responses((status = 200, description = "Sets the HttpOnly session cookie", body = serde_json::Value), (status = 401, body = serde_json::Value)))]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    body: Option<Json<SignIn>>,
) -> ApiResult<Response> {
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request(
            "send {\"key\": \"nwk_...\"} as JSON: the API key the first start printed",
        ));
    };
    let store = state.engine.store();
    let now = n8n_work_store::now_millis();
    let Some(key) = store.api_key(&key_hash(body.key.trim()), now).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the API key is unknown, expired or revoked",
        ));
    };
    // Secure whenever browsers reach the server over https, so the cookie
    // never travels in clear.
    let secure = state
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let cookie = open(&state, &key, secure).await?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "tenant": key.tenant, "role": key.role })),
    )
        .into_response())
}

/// `GET /api/v1/session`: who the cookie signs in.
#[utoipa::path(get, path = "/api/v1/session", tag = "session", security(()), responses((status = 200, body = serde_json::Value), (status = 401, body = serde_json::Value)))]
pub(crate) async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let signed_in = match cookie(&headers) {
        Some(token) => {
            state
                .engine
                .store()
                .session(&key_hash(&token), n8n_work_store::now_millis())
                .await?
        }
        None => None,
    };
    match signed_in {
        Some(key) => Ok(Json(json!({ "tenant": key.tenant, "role": key.role }))),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not signed in; POST {\"key\"} to /api/v1/session",
        )),
    }
}

/// `DELETE /api/v1/session`: signs out.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", security(()), responses((status = 204)))]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers) {
        state
            .engine
            .store()
            .delete_session(&key_hash(&token))
            .await?;
    }
    let expired = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response())
}
