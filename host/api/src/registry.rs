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

use std::sync::Arc;

use async_trait::async_trait;
use n8n_work_auth::{Action, Resource};
use n8n_work_registry::RepositoryName;
use n8n_work_registry::server::{
    Action as RegistryAction, AuthBackendError, Authenticator, Principal,
};

use crate::access::from_key;
use crate::{AppState, key_hash};

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
