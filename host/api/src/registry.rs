//! The plugin registry (`/v2/`) behind the platform's API keys. A client
//! logs in at the registry's token endpoint with any user name and an API
//! key as the password (`skopeo --creds key:nwk_...`, `plugin publish
//! --username key --password nwk_...`); what its token then allows is
//! decided by the same policies as the API, with the key's scopes:
//!
//! - pushing to a repository needs `plugin.publish` in the tenant the
//!   repository is named after (`TENANT/NAME`), so a tenant publishes only
//!   under its own name;
//! - deleting needs `plugin.approve` (an admin) in that tenant;
//! - pulling needs `plugin.read` in the caller's own tenant: published
//!   plugins are the marketplace every tenant browses, and installing one
//!   still needs its tenant's approval.
//!
//! The marketplace's routes (`/v2/_marketplace/...`) sit behind
//! [`guard_marketplace`]: an API key or the UI's session, then the action
//! of the route in the tenant its path names (`plugin.read` to browse,
//! `plugin.install` to ask for or remove an install, `plugin.approve` to
//! decide one or set the trust policy), recorded in the audit log when it
//! changes something.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use n8n_work_auth::{Action, Resource};
use n8n_work_registry::RepositoryName;
use n8n_work_registry::marketplace::{ACTOR_HEADER, TENANT_HEADER};
use n8n_work_registry::server::{
    Action as RegistryAction, AuthBackendError, Authenticator, Principal,
};
use serde_json::json;

use crate::access::{caller_of, from_key};
use crate::{ApiError, AppState, key_hash};

/// Registry logins and grants from the platform's keys and policies.
pub(crate) struct KeyAuthenticator {
    state: AppState,
}

impl AppState {
    /// The registry's authenticator over this server's keys and policies.
    pub fn registry_authenticator(&self) -> Arc<dyn Authenticator> {
        Arc::new(KeyAuthenticator {
            state: self.clone(),
        })
    }
}

fn backend(e: impl std::fmt::Display) -> AuthBackendError {
    AuthBackendError(e.to_string())
}

#[async_trait]
impl Authenticator for KeyAuthenticator {
    async fn authenticate(
        &self,
        _username: &str,
        password: &str,
    ) -> Result<Option<Principal>, AuthBackendError> {
        let key = self
            .state
            .engine
            .store()
            .api_key(&key_hash(password), n8n_work_store::now_millis())
            .await
            .map_err(backend)?;
        Ok(key.map(|key| Principal {
            subject: key.id,
            tenant: Some(key.tenant),
        }))
    }

    async fn authorize(
        &self,
        principal: Option<&Principal>,
        repository: &RepositoryName,
        requested: &[RegistryAction],
    ) -> Result<Vec<RegistryAction>, AuthBackendError> {
        let Some(Principal {
            subject,
            tenant: Some(tenant),
        }) = principal
        else {
            return Ok(Vec::new());
        };
        let now = n8n_work_store::now_millis();
        // The key again, so a key revoked since the login grants nothing.
        let Some(key) = self
            .state
            .engine
            .store()
            .api_keys(tenant)
            .await
            .map_err(backend)?
            .into_iter()
            .find(|k| {
                k.id == *subject && k.revoked_at.is_none() && k.expires_at.is_none_or(|t| t > now)
            })
        else {
            return Ok(Vec::new());
        };
        let caller = from_key(key).map_err(backend)?;
        let name = repository.as_str();
        let owner = name.split('/').next().unwrap_or_default();
        let mut granted = Vec::new();
        for &wanted in requested {
            let (action, in_tenant) = match wanted {
                RegistryAction::Pull => (Action::PluginRead, caller.tenant.as_str()),
                RegistryAction::Push => (Action::PluginPublish, owner),
                RegistryAction::Delete => (Action::PluginApprove, owner),
            };
            let resource = Resource::new(in_tenant, "plugin", name);
            if self
                .state
                .may(&caller, action, &resource)
                .await
                .map_err(backend)?
            {
                granted.push(wanted);
            }
        }
        Ok(granted)
    }
}

/// The action a marketplace route performs and the tenant it acts in: the
/// one its path names, or the caller's own for the shared catalogue.
fn marketplace_action(method: &Method, path: &str, own: &str) -> Option<(Action, String)> {
    let rest = path.strip_prefix("/v2/_marketplace/")?;
    match (method.as_str(), rest) {
        ("GET", "search" | "plugin") => return Some((Action::PluginRead, own.to_owned())),
        ("POST", "publishers") => return Some((Action::PluginPublish, own.to_owned())),
        _ => {}
    }
    let (tenant, what) = rest.strip_prefix("tenants/")?.split_once('/')?;
    let action = match (method.as_str(), what) {
        ("GET", "policy" | "requests" | "installed") => Action::PluginRead,
        ("PUT", "policy") => Action::PluginApprove,
        ("POST", "requests") | ("DELETE", "installed") => Action::PluginInstall,
        ("POST", decision) if decision.starts_with("requests/") => Action::PluginApprove,
        ("GET", "audit") => Action::AuditRead,
        _ => return None,
    };
    Some((action, tenant.to_owned()))
}

/// The middleware in front of the marketplace's routes: who calls, whether
/// the policies let them do the route's action in the tenant it names, and
/// who acts as the marketplace records it (the key, whatever the request
/// claimed). A change it lets through is recorded in the audit log.
pub async fn guard_marketplace(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut caller = match caller_of(&state, request.method(), request.headers()).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Some(ConnectInfo(address)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        caller.source = address.ip().to_string();
    }
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let Some((action, tenant)) = marketplace_action(&method, &path, &caller.tenant) else {
        return ApiError::not_found(format!("no marketplace route {method} {path}"))
            .into_response();
    };
    let resource = Resource::new(&tenant, "plugin", &path);
    match state.may(&caller, action, &resource).await {
        Ok(true) => {}
        Ok(false) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "a {} key may not `{}` in tenant `{tenant}`; the default policies give it to {} and above, in the key's own tenant",
                    caller.role.as_str(),
                    action.as_str(),
                    action.default_role()
                ),
            )
            .into_response();
        }
        Err(e) => return e.into_response(),
    }
    if let Ok(actor) = HeaderValue::from_str(&format!("key:{}", caller.key)) {
        request.headers_mut().insert(ACTOR_HEADER, actor);
    }
    // The index's badge and publisher claims are the key's own tenant's,
    // never one the client names.
    request.headers_mut().remove(TENANT_HEADER);
    if let Ok(tenant) = HeaderValue::from_str(&caller.tenant) {
        request.headers_mut().insert(TENANT_HEADER, tenant);
    }
    let response = next.run(request).await;
    if method != Method::GET && response.status().is_success() {
        // An install, approval or removal changes what the tenant's
        // workflows resolve their plugins to.
        state.engine.plugins_changed(&tenant);
        state
            .record(
                &caller,
                action,
                format!("plugin:{path}"),
                None,
                Some(&json!({ "method": method.as_str(), "status": response.status().as_u16() })),
            )
            .await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_marketplace_route_names_its_action_and_tenant() {
        let cases = [
            (
                "GET",
                "/v2/_marketplace/search",
                Some((Action::PluginRead, "me")),
            ),
            (
                "POST",
                "/v2/_marketplace/publishers",
                Some((Action::PluginPublish, "me")),
            ),
            (
                "GET",
                "/v2/_marketplace/tenants/acme/policy",
                Some((Action::PluginRead, "acme")),
            ),
            (
                "PUT",
                "/v2/_marketplace/tenants/acme/policy",
                Some((Action::PluginApprove, "acme")),
            ),
            (
                "POST",
                "/v2/_marketplace/tenants/acme/requests",
                Some((Action::PluginInstall, "acme")),
            ),
            (
                "POST",
                "/v2/_marketplace/tenants/acme/requests/3/approve",
                Some((Action::PluginApprove, "acme")),
            ),
            (
                "DELETE",
                "/v2/_marketplace/tenants/acme/installed",
                Some((Action::PluginInstall, "acme")),
            ),
            (
                "GET",
                "/v2/_marketplace/tenants/acme/audit",
                Some((Action::AuditRead, "acme")),
            ),
            ("DELETE", "/v2/_marketplace/search", None),
            ("GET", "/v2/_marketplace/tenants/acme/other", None),
        ];
        for (method, path, expected) in cases {
            let got = marketplace_action(&method.parse().unwrap(), path, "me");
            assert_eq!(
                got,
                expected.map(|(a, t)| (a, t.to_owned())),
                "{method} {path}"
            );
        }
    }
}
