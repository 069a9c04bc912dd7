//! OAuth2 credentials: the host holds the client secret and the refresh
//! token, gets and refreshes access tokens itself, and gives a node only a
//! valid access token (`{"token", "tokenType", "expiresAt"}`, which the HTTP
//! node sends as a bearer token).
//!
//! A credential of type [`KIND`] names its grant:
//! - `client_credentials`: the host asks the token endpoint for a token when
//!   a step needs one and the last has expired;
//! - `authorization_code`: a person authorizes once through the provider
//!   ([`Vault::oauth2_authorize`], then [`Vault::oauth2_callback`], with
//!   PKCE); afterwards the host refreshes with the refresh token.
//!
//! Tokens are stored in the credential's encrypted value, like its other
//! fields; an authorization under way is kept in the store (by the hash of
//! its `state`), so any API replica can finish it. Token requests go out through a client that follows no
//! redirects and reaches no private address unless allowed
//! ([`OAuth2Http`]), since the token URL is written by a tenant.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use n8n_work_store::OAuth2Authorization;

use crate::{CredentialChange, Result, Vault, VaultError, now_millis};

/// The credential type of OAuth2 credentials.
pub const KIND: &str = "oauth2";

/// A token this close to its expiry is refreshed first (ms).
const EARLY_MS: i64 = 60_000;

/// How long an authorization may take, from its start to the callback (ms).
const AUTHORIZE_MS: i64 = 10 * 60_000;

/// Which OAuth2 grant a credential uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Grant {
    ClientCredentials,
    AuthorizationCode,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1's default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// An OAuth2 credential's fields: what the tenant writes, and the tokens
/// the host keeps beside them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    grant: Grant,
    token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_url: Option<String>,
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    #[serde(default)]
    client_auth: ClientAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// When the access token expires (ms since the epoch), if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

impl Settings {
    fn parse(name: &str, value: &Value) -> Result<Settings> {
        // As a form sends them: empty fields are unset, scopes one string.
        let mut value = value.clone();
        if let Some(fields) = value.as_object_mut() {
            fields.retain(|_, v| v.as_str() != Some(""));
            if let Some(Value::String(scopes)) = fields.get("scopes") {
                let list: Vec<Value> = scopes
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect();
                fields.insert("scopes".into(), Value::Array(list));
            }
        }
        let settings: Settings = serde_json::from_value(value).map_err(|e| {
            invalid(
                name,
                format!(
                    "{e}; an oauth2 credential has `grant` (`client_credentials` or `authorization_code`), `tokenUrl`, `clientId`, and optionally `clientSecret`, `scopes`, `clientAuth` (`basic` or `body`), `authUrl` (authorization_code) and `redirectUrl`"
                ),
            )
        })?;
        for (field, url) in [
            ("tokenUrl", Some(&settings.token_url)),
            ("authUrl", settings.auth_url.as_ref()),
            ("redirectUrl", settings.redirect_url.as_ref()),
        ] {
            if let Some(url) = url {
                let parsed = url::Url::parse(url)
                    .map_err(|e| invalid(name, format!("`{field}` `{url}` is not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "https" | "http") {
                    return Err(invalid(name, format!("`{field}` must be an http(s) URL")));
                }
            }
        }
        if settings.grant == Grant::AuthorizationCode && settings.auth_url.is_none() {
            return Err(invalid(
                name,
                "the authorization_code grant needs `authUrl`, the provider's authorization endpoint".into(),
            ));
        }
        Ok(settings)
    }

    /// The access token, if it is good for a while yet.
    fn fresh_token(&self, now: i64) -> Option<&str> {
        let token = self.access_token.as_deref()?;
        match self.expires_at {
            Some(at) if at - EARLY_MS <= now => None,
            _ => Some(token),
        }
    }

    /// What a node is given.
    fn for_node(&self) -> Value {
        json!({
            "token": self.access_token,
            "tokenType": "Bearer",
            "expiresAt": self.expires_at,
        })
    }

    fn client(&self, name: &str) -> Result<TokenClient> {
        let token_url = TokenUrl::new(self.token_url.clone())
            .map_err(|e| invalid(name, format!("`tokenUrl`: {e}")))?;
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(token_url)
            .set_auth_type(match self.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Body => AuthType::RequestBody,
            });
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    fn keep(&mut self, token: &oauth2::basic::BasicTokenResponse) {
        self.access_token = Some(token.access_token().secret().clone());
        if let Some(refresh) = token.refresh_token() {
            self.refresh_token = Some(refresh.secret().clone());
        }
        self.expires_at = token
            .expires_in()
            .map(|d| now_millis() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
    }
}

type TokenClient = oauth2::basic::BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn invalid(name: &str, message: String) -> VaultError {
    VaultError::OAuth2 {
        credential: name.to_owned(),
        message,
    }
}

/// Which addresses the host's token requests may reach.
pub type AddressCheck = Arc<dyn Fn(IpAddr) -> Option<String> + Send + Sync>;

/// The HTTP client of token requests: no redirects, and no address the
/// check refuses (private and link-local ones, by default).
#[derive(Clone)]
pub struct OAuth2Http {
    client: oauth2::reqwest::Client,
    check: AddressCheck,
    /// One token request at a time per credential.
    locks: Arc<Mutex<HashMap<(String, String), TokenLock>>>,
}

/// Held while one credential's token is got or refreshed.
type TokenLock = Arc<tokio::sync::Mutex<()>>;

impl std::fmt::Debug for OAuth2Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Http").finish_non_exhaustive()
    }
}

struct Checked(AddressCheck);

impl oauth2::reqwest::dns::Resolve for Checked {
    fn resolve(&self, name: oauth2::reqwest::dns::Name) -> oauth2::reqwest::dns::Resolving {
        let check = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| check(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let why = found
                    .first()
                    .and_then(|a| check(a.ip()))
                    .unwrap_or_else(|| "it has no address".into());
                return Err(format!("`{host}` may not be reached: {why}").into());
            }
            let addrs: oauth2::reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

impl OAuth2Http {
    /// A client whose requests reach only addresses `check` lets through
    /// (it returns why it refuses one).
    pub fn new(check: AddressCheck) -> OAuth2Http {
        // No proxy from HTTP(S)_PROXY: a proxy would resolve and connect
        // itself, past the resolver's address checks.
        let client = oauth2::reqwest::ClientBuilder::new()
            .no_proxy()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .dns_resolver(Arc::new(Checked(check.clone())))
            .build()
            .expect("the token client builds");
        OAuth2Http {
            client,
            check,
            locks: Arc::default(),
        }
    }

    /// Refuses a URL whose host is an address the check refuses (names
    /// are checked as they resolve).
    fn check_url(&self, name: &str, url: &str) -> Result<()> {
        let parsed = url::Url::parse(url).map_err(|e| invalid(name, e.to_string()))?;
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        match (self.check)(ip) {
            Some(why) => Err(invalid(name, format!("`{url}` may not be reached: {why}"))),
            None => Ok(()),
        }
    }

    fn lock(&self, tenant: &str, id: &str) -> TokenLock {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks
            .entry((tenant.to_owned(), id.to_owned()))
            .or_default()
            .clone()
    }
}

impl Default for OAuth2Http {
    /// Refuses private, loopback and link-local addresses.
    fn default() -> Self {
        OAuth2Http::new(Arc::new(|ip| default_refusal(ip).map(str::to_owned)))
    }
}

/// Why an address is not public, the default refusal.
fn default_refusal(ip: IpAddr) -> Option<&'static str> {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None if v6.is_loopback() => return Some("it is a loopback address"),
            None if v6.is_unspecified() => return Some("it is unspecified"),
            None if (v6.segments()[0] & 0xfe00) == 0xfc00 => {
                return Some("it is a private address");
            }
            None if (v6.segments()[0] & 0xffc0) == 0xfe80 => {
                return Some("it is a link-local address");
            }
            None => return None,
        },
    };
    if v4.is_loopback() {
        Some("it is a loopback address")
    } else if v4.is_private() {
        Some("it is a private address")
    } else if v4.is_link_local() {
        Some("it is a link-local address")
    } else if v4.is_unspecified() || v4.is_broadcast() {
        Some("it is not a host address")
    } else {
        None
    }
}

fn token_error<RE: std::error::Error + 'static>(
    name: &str,
    e: &oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> VaultError {
    let message = match e {
        oauth2::RequestTokenError::ServerResponse(r) => format!(
            "the token endpoint refused: {}{}",
            r.error(),
            r.error_description()
                .map_or(String::new(), |d| format!(" ({d})"))
        ),
        oauth2::RequestTokenError::Request(inner) => {
            let mut text = inner.to_string();
            let mut source = std::error::Error::source(inner);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            format!("the token endpoint did not answer: {text}")
        }
        oauth2::RequestTokenError::Parse(p, _) => {
            format!("the token endpoint's answer is not a token: {p}")
        }
        oauth2::RequestTokenError::Other(o) => o.clone(),
    };
    invalid(name, message)
}

/// What an authorization's `state` is kept under: its SHA-256, so the
/// table alone cannot finish one.
fn state_hash(state: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(state.as_bytes()))
}

/// Checks an OAuth2 credential's fields before they are stored.
pub(crate) fn check(name: &str, value: &Value) -> Result<()> {
    Settings::parse(name, value).map(|_| ())
}

impl Vault {
    /// What a step granted credential `name` is given: its fields, or for
    /// an OAuth2 credential a valid access token, got or refreshed first
    /// (and stored) when the last has expired.
    pub async fn for_node(&self, tenant: &str, name: &str) -> Result<Option<Value>> {
        let Some(credential) = self.get_named(tenant, name).await? else {
            return Ok(None);
        };
        if credential.summary.kind != KIND {
            return Ok(Some(credential.value.expose().clone()));
        }
        let settings = Settings::parse(name, credential.value.expose())?;
        if settings.fresh_token(now_millis()).is_some() {
            return Ok(Some(settings.for_node()));
        }
        let id = credential.summary.id;
        let lock = self.oauth2.lock(tenant, &id);
        let _one = lock.lock().await;
        // Another step may have refreshed it while this one waited.
        let credential = self.get(tenant, &id).await?;
        let mut settings = Settings::parse(name, credential.value.expose())?;
        if settings.fresh_token(now_millis()).is_some() {
            return Ok(Some(settings.for_node()));
        }
        self.oauth2.check_url(name, &settings.token_url)?;
        let client = settings.client(name)?;
        let http = &self.oauth2.client;
        let token = match (&settings.refresh_token, settings.grant) {
            (Some(refresh), _) => client
                .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
                .request_async(http)
                .await
                .map_err(|e| token_error(name, &e))?,
            (None, Grant::ClientCredentials) => client
                .exchange_client_credentials()
                .add_scopes(settings.scopes.iter().cloned().map(Scope::new))
                .request_async(http)
                .await
                .map_err(|e| token_error(name, &e))?,
            (None, Grant::AuthorizationCode) => {
                return Err(invalid(
                    name,
                    format!(
                        "it is not authorized yet; authorize it with the provider first (the Credentials page's Authorize, or POST /api/v1/credentials/{id}/oauth2/authorize)"
                    ),
                ));
            }
        };
        settings.keep(&token);
        self.store_settings(tenant, &id, &settings).await?;
        Ok(Some(settings.for_node()))
    }

    async fn store_settings(&self, tenant: &str, id: &str, settings: &Settings) -> Result<()> {
        let value = serde_json::to_value(settings).expect("settings serialize");
        self.update(
            tenant,
            id,
            CredentialChange {
                value: Some(value),
                ..CredentialChange::default()
            },
        )
        .await?;
        Ok(())
    }

    /// Starts authorizing OAuth2 credential `id` of `tenant` with the
    /// authorization-code grant and PKCE: the provider's URL to send the
    /// person to. The provider sends them back to `redirect_url` (the
    /// credential's `redirectUrl` if it has one), which calls
    /// [`Vault::oauth2_callback`].
    pub async fn oauth2_authorize(
        &self,
        tenant: &str,
        id: &str,
        redirect_url: &str,
    ) -> Result<String> {
        let credential = self.get(tenant, id).await?;
        let name = credential.summary.name.clone();
        if credential.summary.kind != KIND {
            return Err(invalid(
                &name,
                format!("it is of type `{}`, not `{KIND}`", credential.summary.kind),
            ));
        }
        let settings = Settings::parse(&name, credential.value.expose())?;
        if settings.grant != Grant::AuthorizationCode {
            return Err(invalid(
                &name,
                "it uses the client_credentials grant, which needs no authorization".into(),
            ));
        }
        let redirect_url = settings
            .redirect_url
            .clone()
            .unwrap_or_else(|| redirect_url.to_owned());
        let auth_url = AuthUrl::new(settings.auth_url.clone().unwrap_or_default())
            .map_err(|e| invalid(&name, format!("`authUrl`: {e}")))?;
        let redirect = RedirectUrl::new(redirect_url.clone())
            .map_err(|e| invalid(&name, format!("the redirect URL: {e}")))?;
        let client = settings
            .client(&name)?
            .set_auth_uri(auth_url)
            .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        // Kept in the store, so the provider may send the person back to
        // any API replica.
        let now = now_millis();
        self.store
            .add_oauth2_authorization(
                &state_hash(state.secret()),
                OAuth2Authorization {
                    tenant: tenant.to_owned(),
                    credential_id: id.to_owned(),
                    verifier: verifier.secret().clone(),
                    redirect_url,
                    expires_at: now + AUTHORIZE_MS,
                },
                now,
            )
            .await?;
        Ok(url.to_string())
    }

    /// Finishes an authorization the provider sent back with `code` and
    /// `state`: the code is exchanged (with the PKCE verifier) and the
    /// tokens stored. Returns the tenant and credential name. A state is
    /// good once, for ten minutes.
    pub async fn oauth2_callback(&self, code: &str, state: &str) -> Result<(String, String)> {
        let pending = self
            .store
            .take_oauth2_authorization(&state_hash(state), now_millis())
            .await?
            .ok_or_else(|| {
                invalid(
                    "(unknown)",
                    "this authorization is unknown, used or expired; start it again from the credential".into(),
                )
            })?;
        let credential = self.get(&pending.tenant, &pending.credential_id).await?;
        let name = credential.summary.name.clone();
        let mut settings = Settings::parse(&name, credential.value.expose())?;
        self.oauth2.check_url(&name, &settings.token_url)?;
        let redirect = RedirectUrl::new(pending.redirect_url.clone())
            .map_err(|e| invalid(&name, format!("the redirect URL: {e}")))?;
        let client = settings.client(&name)?.set_redirect_uri(redirect);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.oauth2.client)
            .await
            .map_err(|e| token_error(&name, &e))?;
        settings.keep(&token);
        self.store_settings(&pending.tenant, &pending.credential_id, &settings)
            .await?;
        Ok((pending.tenant, name))
    }

    /// This vault, making its token requests through `http`.
    pub fn with_oauth2_http(mut self, http: OAuth2Http) -> Vault {
        self.oauth2 = http;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(value: &Value) -> Result<Settings> {
        Settings::parse("crm", value)
    }

    #[test]
    fn settings_name_what_is_missing_or_wrong() {
        let e = settings(&json!({"grant": "client_credentials", "clientId": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokenUrl") && e.contains("crm"), "{e}");
        let e = settings(
            &json!({"grant": "authorization_code", "tokenUrl": "https://t", "clientId": "a"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("authUrl"), "{e}");
        let e = settings(
            &json!({"grant": "client_credentials", "tokenUrl": "ftp://t", "clientId": "a"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http(s)"), "{e}");
        let e = settings(&json!({"grant": "password", "tokenUrl": "https://t", "clientId": "a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("password"), "{e}");
    }

    #[test]
    fn form_fields_read_as_written_empty_ones_unset() {
        let s = settings(&json!({
            "grant": "client_credentials", "tokenUrl": "https://t", "clientId": "a",
            "authUrl": "", "clientSecret": "", "scopes": "read write,admin",
        }))
        .unwrap();
        assert_eq!(s.scopes, ["read", "write", "admin"]);
        assert_eq!((s.auth_url, s.client_secret), (None, None));
    }

    #[test]
    fn a_token_near_its_expiry_is_not_fresh() {
        let mut s = settings(
            &json!({"grant": "client_credentials", "tokenUrl": "https://t", "clientId": "a"}),
        )
        .unwrap();
        assert_eq!(s.fresh_token(1_000), None, "no token yet");
        s.access_token = Some("at".into());
        assert_eq!(s.fresh_token(1_000), Some("at"), "no expiry: good");
        s.expires_at = Some(1_000 + EARLY_MS + 1);
        assert_eq!(s.fresh_token(1_000), Some("at"));
        s.expires_at = Some(1_000 + EARLY_MS);
        assert_eq!(s.fresh_token(1_000), None, "within the early margin");
        let node = s.for_node();
        assert_eq!(node["token"], "at");
        assert!(node.get("clientSecret").is_none() && node.get("refreshToken").is_none());
    }

    #[test]
    fn the_default_refuses_private_and_metadata_addresses() {
        for ip in ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1"] {
            assert!(default_refusal(ip.parse().unwrap()).is_some(), "{ip}");
        }
        assert!(default_refusal("93.184.216.34".parse().unwrap()).is_none());
    }
}
