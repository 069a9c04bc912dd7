//! Signing in to the UI with an OpenID Connect provider: the authorization
//! code flow with PKCE (S256). The provider's side (discovery, the code
//! exchange, the ID token's checks) is [`provider::Oidc`]; who signed in and
//! which member they act as is [`identity`]; this module is the flow.
//!
//! `GET /api/v1/session/oidc?next=&tenant=` remembers a sign-in (its
//! `state`, `nonce` and PKCE verifier, in the store under the hash of a
//! short-lived HttpOnly SameSite=Lax cookie: the provider's redirect back
//! is a top-level cross-site GET, on which a Strict cookie is not sent) and
//! sends the browser to the provider. The provider sends it back to
//! `GET /api/v1/session/oidc/callback`, which takes the sign-in (once),
//! checks `state`, exchanges the code with the verifier, checks the ID
//! token (signature by the JWKS, issuer, audience, expiry, nonce), finds the
//! member by the provider's verified email or its subject, and opens the
//! same session as key sign-in. A failure goes back to the sign-in page with
//! the reason in a short-lived cookie that `GET /api/v1/session/providers`
//! hands to the page once (never in the URL, so a link cannot put words on
//! the page).

mod identity;
mod provider;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use n8n_work_store::{SignInAttempt, now_millis};
use serde_json::json;
use sha2::{Digest, Sha256};

pub(crate) use provider::Oidc;
pub use provider::{OidcSettings, OidcSettingsError};

use crate::session::{named_cookie, open};
use crate::{ApiError, ApiResult, AppState, key_hash, random_hex};
use identity::choose;

/// The cookie that ties a sign-in to the browser that began it.
const ATTEMPT_COOKIE: &str = "n8n_work_sign_in";

/// The cookie that carries a failed sign-in's reason to the sign-in page.
const ERROR_COOKIE: &str = "n8n_work_sign_in_error";

/// How long a sign-in may take at the provider.
const ATTEMPT_MS: i64 = 10 * 60 * 1000;

/// Where a sign-in goes when it names nowhere (or nowhere safe).
const HOME: &str = "/workflows";

/// `next` if it is a path on this server, else the home page: a sign-in
/// must not become a way to send someone to another site.
pub(crate) fn same_origin_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.len() <= 2048
                && !path.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            path.to_owned()
        }
        _ => HOME.to_owned(),
    }
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ.
fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// A cookie that lapses now.
fn cleared(name: &str, path: &str) -> String {
    format!("{name}=; HttpOnly; SameSite=Lax; Path={path}; Max-Age=0")
}

fn not_configured() -> ApiError {
    ApiError::not_found(
        "single sign-on is not configured on this server; start it with --oidc-issuer URL and --oidc-client-id ID (see README, \"Sign in with OIDC\")",
    )
}

/// Back to the sign-in page with `message`, which the page reads from
/// `GET /session/providers`; the body says it too, for a client that does
/// not follow redirects.
fn fail(secure: bool, next: &str, message: &str) -> Response {
    tracing::warn!(reason = message, "an OpenID Connect sign-in failed");
    let location = format!(
        "/signin?{}",
        openidconnect::url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish()
    );
    let mut text = message.to_owned();
    if text.len() > 2000 {
        let mut end = 2000;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let error = format!(
        "{ERROR_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/api/v1/session; Max-Age=300{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes()),
        if secure { "; Secure" } else { "" }
    );
    let mut response = (
        StatusCode::SEE_OTHER,
        Json(json!({ "error": { "code": "sign_in_failed", "message": message, "details": null } })),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = location.parse() {
        headers.insert(header::LOCATION, value);
    }
    for cookie in [error, cleared(ATTEMPT_COOKIE, "/api/v1/session/oidc")] {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `GET /session/providers`: how one may sign in here, and the reason the
/// last single sign-on in this browser failed (said once).
#[utoipa::path(get, path = "/api/v1/session/providers", tag = "session", security(()), responses((status = 200, description = "`{key: true, oidc: bool, error: string | null}`", body = serde_json::Value)))]
pub(crate) async fn providers(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let error = named_cookie(&headers, ERROR_COOKIE).and_then(|value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
    });
    let body = Json(json!({ "key": true, "oidc": state.oidc.is_some(), "error": error }));
    if error.is_some() {
        (
            [(header::SET_COOKIE, cleared(ERROR_COOKIE, "/api/v1/session"))],
            body,
        )
            .into_response()
    } else {
        body.into_response()
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct StartQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

/// `GET /session/oidc?next=&tenant=`: sends the browser to the provider.
#[utoipa::path(get, path = "/api/v1/session/oidc", tag = "session", security(()), params(("next" = Option<String>, Query, description = "A path on this server to go to after signing in"), ("tenant" = Option<String>, Query, description = "The tenant to sign in to, for someone who is a member of several [default: the one they were added to first]")), responses((status = 303, description = "To the provider's authorization endpoint; or to the sign-in page with the reason it failed"), (status = 404, description = "Single sign-on is not configured", body = serde_json::Value)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    Query(query): Query<StartQuery>,
) -> ApiResult<Response> {
    let Some(oidc) = state.oidc.clone() else {
        return Err(not_configured());
    };
    let next = same_origin_path(query.next.as_deref());
    let tenant = query
        .tenant
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let authorization = match oidc.authorization().await {
        Ok(authorization) => authorization,
        Err(message) => return Ok(fail(oidc.secure(), &next, &message)),
    };
    let token = random_hex();
    let now = now_millis();
    state
        .engine
        .store()
        .begin_sign_in(
            &key_hash(&token),
            SignInAttempt {
                state: authorization.state,
                nonce: authorization.nonce,
                verifier: authorization.verifier,
                next,
                tenant,
                expires_at: now + ATTEMPT_MS,
            },
            now,
        )
        .await?;
    let cookie = format!(
        "{ATTEMPT_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/api/v1/session/oidc; Max-Age={}{}",
        ATTEMPT_MS / 1000,
        if oidc.secure() { "; Secure" } else { "" }
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, authorization.url),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response())
}

#[derive(serde::Deserialize)]
pub(crate) struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    /// RFC 9207: the issuer that answers, where providers send it.
    #[serde(default)]
    iss: Option<String>,
}

/// `GET /session/oidc/callback?code=&state=`: the provider's answer.
#[utoipa::path(get, path = "/api/v1/session/oidc/callback", tag = "session", security(()), params(("code" = Option<String>, Query), ("state" = Option<String>, Query)), responses((status = 303, description = "Signed in (the session cookie is set) and on to `next`; or to the sign-in page with the reason it failed"), (status = 404, description = "Single sign-on is not configured", body = serde_json::Value)))]
pub(crate) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let Some(oidc) = state.oidc.clone() else {
        return Err(not_configured());
    };
    let secure = oidc.secure();
    let Some(token) = named_cookie(&headers, ATTEMPT_COOKIE) else {
        return Ok(fail(
            secure,
            HOME,
            "this browser has no sign-in in progress (its sign-in cookie is missing: it lapses after 10 minutes, and only the browser that began the sign-in has it); start again from the sign-in page",
        ));
    };
    let store = state.engine.store();
    let now = now_millis();
    let Some(attempt) = store.take_sign_in(&key_hash(&token), now).await? else {
        return Ok(fail(
            secure,
            HOME,
            "this sign-in was already finished, or it lapsed after 10 minutes; start again from the sign-in page",
        ));
    };
    let next = attempt.next.clone();
    match finish(&state, &oidc, query, attempt).await {
        Ok(cookie) => {
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
            for cookie in [cookie, cleared(ATTEMPT_COOKIE, "/api/v1/session/oidc")] {
                if let Ok(value) = cookie.parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            Ok(response)
        }
        Err(Failure::Refused(message)) => Ok(fail(secure, &next, &message)),
        Err(Failure::Api(e)) => Err(e),
    }
}

/// Why a callback did not sign anyone in.
enum Failure {
    /// The sign-in was refused, for the reason given.
    Refused(String),
    /// The server failed (the store, say).
    Api(ApiError),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Refused(message)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Api(e)
    }
}

impl From<n8n_work_store::StoreError> for Failure {
    fn from(e: n8n_work_store::StoreError) -> Failure {
        Failure::Api(e.into())
    }
}

/// The checks of a callback whose sign-in this browser began; the session
/// cookie when they pass.
async fn finish(
    state: &AppState,
    oidc: &Oidc,
    query: CallbackQuery,
    attempt: SignInAttempt,
) -> Result<String, Failure> {
    if let Some(error) = &query.error {
        return Err(format!(
            "the provider did not sign you in: {error}{}",
            query
                .error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )
        .into());
    }
    let Some(returned) = query.state.as_deref() else {
        return Err("the provider's answer has no `state`, so it cannot be matched to the sign-in this browser began; start again from the sign-in page".to_owned().into());
    };
    if !same_secret(returned, &attempt.state) {
        return Err("the `state` in the provider's answer is not the one this browser's sign-in sent (a sign-in link from elsewhere cannot finish here); start again from the sign-in page".to_owned().into());
    }
    if let Some(iss) = &query.iss
        && iss != oidc.issuer()
    {
        return Err(format!(
            "the answer comes from the issuer `{iss}`, not `{}`; check --oidc-issuer",
            oidc.issuer()
        )
        .into());
    }
    let Some(code) = query.code else {
        return Err(
            "the provider's answer has no authorization `code`; start again from the sign-in page"
                .to_owned()
                .into(),
        );
    };
    let who = oidc
        .signed_in(code, &attempt.verifier, &attempt.nonce)
        .await?;
    let store = state.engine.store();
    let memberships = store.memberships(&who.candidates()).await?;
    let member = choose(&who, &memberships, attempt.tenant.as_deref())?;
    let Some(key) = store
        .active_key(&member.tenant, &member.key_id, now_millis())
        .await?
    else {
        return Err(format!(
            "your membership of tenant `{}` was revoked with its key; an admin adds you again with `n8n-work member add {} --role {}`",
            member.tenant, member.identity, member.role
        )
        .into());
    };
    tracing::info!(tenant = %member.tenant, member = %member.id, role = %member.role, "signed in with OpenID Connect");
    Ok(open(state, &key, oidc.secure()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_server_are_followed_after_sign_in() {
        for good in ["/workflows", "/executions/1?tab=steps", "/a/b#c"] {
            assert_eq!(same_origin_path(Some(good)), good);
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/a\nLocation: x",
            "/a b",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(same_origin_path(Some(bad)), HOME, "{bad:?}");
        }
        assert_eq!(same_origin_path(None), HOME);
    }
}
