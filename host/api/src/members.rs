//! Members: people who sign in to the UI with the OpenID Connect provider,
//! each with a role in a tenant, named by the email the provider verified or
//! by the provider's subject (`sub:…`).
//!
//! A member acts through a key of its role that the store makes with it and
//! nobody ever sees, so its session goes through the same [`Caller`]
//! machinery, policies and audit trail as a key's. Managing members is key
//! management: `key.read` to list them, `key.write` to add or remove them,
//! no higher a role than the caller's, each change in the audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use n8n_work_auth::{Action, Role};
use n8n_work_store::{MemberRow, NewMember, now_millis};
use serde_json::{Value, json};

use crate::access::{Caller, caller};
use crate::{ApiError, ApiResult, AppState, key_hash, new_key};

/// What names a subject rather than an email.
pub(crate) const SUBJECT_PREFIX: &str = "sub:";

/// The stored identity for an email (lower-cased) or a `sub:` subject, or
/// why it is not one.
pub(crate) fn identity(who: &str) -> Result<String, String> {
    let who = who.trim();
    if let Some(subject) = who.strip_prefix(SUBJECT_PREFIX) {
        if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
            return Err(format!(
                "`{who}`: a subject is `sub:` and the provider's `sub` claim (1 to 255 characters)"
            ));
        }
        return Ok(who.to_owned());
    }
    let valid = match who.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && who.len() <= 254
                && !who.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        return Err(format!(
            "`{who}` is not an email address; name a member by email (ada@example.com) or by the provider's subject (sub:248289761001)"
        ));
    }
    Ok(who.to_lowercase())
}

/// A member as the API shows it.
fn member_body(row: &MemberRow) -> Value {
    let (email, subject) = match row.identity.strip_prefix(SUBJECT_PREFIX) {
        Some(subject) => (None, Some(subject)),
        None => (Some(row.identity.as_str()), None),
    };
    json!({
        "id": row.id,
        "tenant": row.tenant,
        "email": email,
        "subject": subject,
        "role": row.role,
        "key_id": row.key_id,
        "created_at": row.created_at,
    })
}

/// What the audit log hashes of a member.
fn member_state(row: &MemberRow) -> Value {
    json!({ "id": row.id, "identity": row.identity, "role": row.role, "keyId": row.key_id })
}

/// Refuses a caller acting on a member above its own role.
fn outranked(caller: &Caller, role: &str, doing: &str) -> ApiResult<()> {
    match role.parse::<Role>() {
        Ok(role) if role > caller.role => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "a {} may not {doing} a {role} member; ask someone with that role",
                caller.role
            ),
        )),
        _ => Ok(()),
    }
}

/// `GET /members`: the tenant's members.
#[utoipa::path(get, path = "/api/v1/members", tag = "access", responses((status = 200, description = "`{items: [{id, tenant, email, subject, role, key_id, created_at}]}`", body = serde_json::Value)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let members = state.engine.store().members(&caller.tenant).await?;
    let items: Vec<Value> = members.iter().map(member_body).collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMemberBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    role: String,
}

/// `POST /members {email | subject, role}`: adds a member, or gives one a
/// new role (its sessions end); no higher a role than the caller's.
#[utoipa::path(post, path = "/api/v1/members", tag = "access", request_body(content = serde_json::Value, description = "`{email, role}` or `{subject, role}`: the provider's verified email, or its `sub` claim"), responses((status = 201, description = "The new member", body = serde_json::Value), (status = 200, description = "The member, with its new role", body = serde_json::Value), (status = 403, body = serde_json::Value)))]
pub(crate) async fn add(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Option<Json<NewMemberBody>>,
) -> ApiResult<Response> {
    let caller = caller(&extensions)?;
    let usage = "send {\"email\": \"ada@example.com\", \"role\": \"editor\"} (or {\"subject\": \"…\", \"role\"}) as JSON";
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request(usage));
    };
    let who = match (&body.email, &body.subject) {
        (Some(email), None) => email.clone(),
        (None, Some(subject)) => format!("{SUBJECT_PREFIX}{subject}"),
        _ => return Err(ApiError::bad_request(usage)),
    };
    let identity = identity(&who).map_err(ApiError::bad_request)?;
    let role: Role = body
        .role
        .parse()
        .map_err(|e: n8n_work_auth::AuthError| ApiError::bad_request(e.to_string()))?;
    outranked(&caller, role.as_str(), "add")?;
    // A member's key has every scope: its sessions may do all its role
    // allows.
    caller.may_grant(&["*".to_owned()], "add a member, whose sessions have")?;
    let store = state.engine.store();
    if let Some(existing) = store
        .members(&caller.tenant)
        .await?
        .into_iter()
        .find(|m| m.identity == identity)
    {
        outranked(&caller, &existing.role, "change")?;
    }
    // The member's key: only its hash is kept, so it works for sessions
    // its sign-in makes and for nothing else.
    let key = new_key();
    let (row, before) = store
        .add_member(
            NewMember {
                tenant: caller.tenant.clone(),
                identity,
                role: role.as_str().to_owned(),
                key_prefix: key[..12].to_owned(),
                key_hash: key_hash(&key),
            },
            now_millis(),
        )
        .await?;
    state
        .record(
            &caller,
            Action::KeyWrite,
            format!("member:{}", row.id),
            before.as_ref().map(member_state).as_ref(),
            Some(&member_state(&row)),
        )
        .await;
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(member_body(&row))).into_response())
}

/// `DELETE /members/{id}`: removes a member (by id or email) and ends its
/// sessions.
#[utoipa::path(delete, path = "/api/v1/members/{id}", tag = "access", params(("id" = String, Path, description = "The member's id, or its email")), responses((status = 200, description = "The member removed", body = serde_json::Value), (status = 404, body = serde_json::Value)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let wanted = identity(&id).unwrap_or(id);
    let Some(target) = store
        .members(&caller.tenant)
        .await?
        .into_iter()
        .find(|m| m.id == wanted || m.identity == wanted)
    else {
        return Err(ApiError::not_found(format!(
            "no member `{wanted}` in this tenant; `n8n-work member list` shows them"
        )));
    };
    outranked(&caller, &target.role, "remove")?;
    let removed = store
        .remove_member(&caller.tenant, &target.id, now_millis())
        .await?;
    state
        .record(
            &caller,
            Action::KeyWrite,
            format!("member:{}", removed.id),
            Some(&member_state(&removed)),
            None,
        )
        .await;
    Ok(Json(member_body(&removed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_subjects_kept_as_given() {
        assert_eq!(identity(" Ada@Example.COM ").unwrap(), "ada@example.com");
        assert_eq!(identity("sub:AbC-123").unwrap(), "sub:AbC-123");
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "a b@example.com",
            "ada@localhost",
            "sub:",
        ] {
            let err = identity(bad).unwrap_err();
            assert!(err.contains('`'), "{bad}: {err}");
        }
    }
}
