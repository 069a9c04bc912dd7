//! Token authentication in the Distribution Spec's Bearer challenge flow.
//!
//! A request without a token that needs one is answered with
//! `401` and `WWW-Authenticate: Bearer realm="…/v2/token",service="…",scope="repository:NAME:ACTIONS"`.
//! The client then asks the token endpoint for that scope with Basic
//! credentials (or none, for anonymous pull), and retries with
//! `Authorization: Bearer TOKEN`. Tokens are stateless: the granted access
//! and the expiry, signed with HMAC-SHA256 under a key every registry
//! process shares, so any process of a scaled-out deployment accepts them.
//! A token only ever narrows what its login may do now: each use asks the
//! [`Authenticator`] again, so a revoked key or a role taken away ends its
//! tokens at once rather than when they expire.
//!
//! Who may do what is the [`Authenticator`]'s decision; the platform plugs
//! its API keys and tenants in there. [`StaticAuthenticator`] is the simple
//! implementation for a standalone registry and for tests.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::names::RepositoryName;

/// An action on a repository, as named in a token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Action {
    /// The action as a scope spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pull" => Some(Self::Pull),
            "push" => Some(Self::Push),
            "delete" => Some(Self::Delete),
            // Docker's catch-all; granted only as what it stands for.
            _ => None,
        }
    }
}

/// Who a request acts for, as established by an [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user or API key name.
    pub subject: String,
    /// The tenant the principal belongs to, where the platform has tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// A failure inside an [`Authenticator`] (not a refusal: a refusal is an
/// empty grant).
#[derive(Debug, thiserror::Error)]
#[error("registry authentication backend: {0}")]
pub struct AuthBackendError(pub String);

/// Decides who a client is and what it may do. The registry asks it at the
/// token endpoint (with the Basic credentials) and for requests without a
/// token (as anonymous).
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The principal for these credentials, `None` if they are wrong.
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Principal>, AuthBackendError>;

    /// Which of `requested` the principal (`None`: anonymous) may do on
    /// `repository`.
    async fn authorize(
        &self,
        principal: Option<&Principal>,
        repository: &RepositoryName,
        requested: &[Action],
    ) -> Result<Vec<Action>, AuthBackendError>;
}

/// A repository pattern in a [`StaticAuthenticator`] grant: `*` (every
/// repository), `plugins/*` (everything under `plugins/`), or an exact name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryPattern(String);

impl RepositoryPattern {
    /// A pattern from its text.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self(pattern.into())
    }

    fn matches(&self, repository: &RepositoryName) -> bool {
        let name = repository.as_str();
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.0 == name,
        }
    }
}

#[derive(Debug, Clone)]
struct StaticUser {
    password_sha256: [u8; 32],
    grants: Vec<(RepositoryPattern, Vec<Action>)>,
}

/// Users with passwords and grants held in memory, and an anonymous-pull
/// switch: for `n8n-work registry serve` on its own and for tests.
#[derive(Debug, Clone, Default)]
pub struct StaticAuthenticator {
    users: HashMap<String, StaticUser>,
    anonymous_pull: bool,
}

impl StaticAuthenticator {
    /// No users, no anonymous access.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets anyone pull from every repository without credentials.
    pub fn allow_anonymous_pull(mut self, allow: bool) -> Self {
        self.anonymous_pull = allow;
        self
    }

    /// Adds a user with a password and the actions it may take on repositories
    /// matching `pattern`. Adding the same user again adds a grant.
    pub fn user(
        mut self,
        name: &str,
        password: &str,
        pattern: RepositoryPattern,
        actions: &[Action],
    ) -> Self {
        self.add_user_with_hash(
            name,
            Sha256::digest(password.as_bytes()).into(),
            pattern,
            actions,
        );
        self
    }

    /// Adds a user whose password is given as its SHA-256 (so that a users
    /// file need not hold the password itself).
    pub fn add_user_with_hash(
        &mut self,
        name: &str,
        password_sha256: [u8; 32],
        pattern: RepositoryPattern,
        actions: &[Action],
    ) {
        let user = self
            .users
            .entry(name.to_owned())
            .or_insert_with(|| StaticUser {
                password_sha256,
                grants: Vec::new(),
            });
        user.password_sha256 = password_sha256;
        user.grants.push((pattern, actions.to_vec()));
    }
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Principal>, AuthBackendError> {
        let presented: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let Some(user) = self.users.get(username) else {
            return Ok(None);
        };
        if bool::from(user.password_sha256.ct_eq(&presented)) {
            Ok(Some(Principal {
                subject: username.to_owned(),
                tenant: None,
            }))
        } else {
            Ok(None)
        }
    }

    async fn authorize(
        &self,
        principal: Option<&Principal>,
        repository: &RepositoryName,
        requested: &[Action],
    ) -> Result<Vec<Action>, AuthBackendError> {
        let mut granted = Vec::new();
        for &action in requested {
            let by_user = principal
                .and_then(|p| self.users.get(&p.subject))
                .is_some_and(|user| {
                    user.grants.iter().any(|(pattern, actions)| {
                        pattern.matches(repository) && actions.contains(&action)
                    })
                });
            let anonymous = action == Action::Pull && self.anonymous_pull;
            if by_user || anonymous {
                granted.push(action);
            }
        }
        Ok(granted)
    }
}

/// The access a token grants on one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryAccess {
    /// Always `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name.
    pub name: String,
    /// The granted actions.
    pub actions: Vec<Action>,
}

/// What a token says: who, for which service, what access, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The principal, absent for anonymous tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// The service the token is for.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// The granted access.
    pub access: Vec<RepositoryAccess>,
}

impl TokenClaims {
    /// Whether the token grants `action` on `repository`.
    pub fn allows(&self, repository: &RepositoryName, action: Action) -> bool {
        self.access.iter().any(|a| {
            a.kind == "repository" && a.name == repository.as_str() && a.actions.contains(&action)
        })
    }
}

/// Issues and checks registry tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    key: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenIssuer {
    /// An issuer with a fixed key (shared by every registry process).
    pub fn new(key: [u8; 32], ttl: Duration) -> Self {
        Self { key, ttl }
    }

    /// An issuer with a random key: tokens are valid only in this process.
    pub fn random(ttl: Duration) -> Self {
        let mut key = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
        Self { key, ttl }
    }

    /// How long tokens are valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC accepts a key of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A token for `claims` (whose `exp` is set from the issuer's lifetime).
    pub fn issue(&self, mut claims: TokenClaims) -> String {
        claims.exp = now_secs() + self.ttl.as_secs();
        let json = serde_json::to_vec(&claims).expect("claims serialize");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The claims of a token this issuer made and that has not expired.
    pub fn verify(&self, token: &str, service: &str) -> Option<TokenClaims> {
        let (payload, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(payload).verify_slice(&tag).ok()?;
        let claims: TokenClaims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.exp > now_secs() && claims.aud == service).then_some(claims)
    }
}

/// Auth settings of a registry: the authenticator, the token issuer, the
/// service name in challenges, and the realm (the token endpoint's URL).
#[derive(Clone)]
pub struct AuthSettings {
    /// Decides who a client is and what it may do.
    pub authenticator: std::sync::Arc<dyn Authenticator>,
    /// Issues and checks tokens.
    pub issuer: TokenIssuer,
    /// The `service` in challenges and tokens.
    pub service: String,
    /// The token endpoint's absolute URL (`https://n8n.example.com/v2/token`),
    /// from configuration. Clients send their credentials there, so it is
    /// never taken from the request (a `Host` header is the client's to say).
    pub realm: String,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("service", &self.service)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// A requested scope: `repository:NAME:ACTION[,ACTION…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The repository.
    pub repository: RepositoryName,
    /// The requested actions.
    pub actions: Vec<Action>,
}

impl Scope {
    /// Parses a scope; `None` for other resource types or invalid names.
    pub fn parse(scope: &str) -> Option<Self> {
        let rest = scope.strip_prefix("repository:")?;
        let (name, actions) = rest.rsplit_once(':')?;
        let repository = RepositoryName::new(name).ok()?;
        let mut parsed = Vec::new();
        for action in actions.split(',') {
            if action == "*" {
                parsed.extend([Action::Pull, Action::Push, Action::Delete]);
            } else if let Some(a) = Action::parse(action) {
                parsed.push(a);
            }
        }
        parsed.sort();
        parsed.dedup();
        Some(Self {
            repository,
            actions: parsed,
        })
    }

    /// The scope as a challenge names it.
    pub fn render(&self) -> String {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        format!("repository:{}:{}", self.repository, actions.join(","))
    }
}

/// Decodes a `Basic` authorization header into user and password.
pub(crate) fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> RepositoryName {
        RepositoryName::new(name).unwrap()
    }

    #[test]
    fn token_grants_only_its_scope_and_only_to_its_service() {
        let issuer = TokenIssuer::random(Duration::from_secs(60));
        let token = issuer.issue(TokenClaims {
            principal: None,
            aud: "svc".into(),
            exp: 0,
            access: vec![RepositoryAccess {
                kind: "repository".into(),
                name: "a/b".into(),
                actions: vec![Action::Pull],
            }],
        });
        let claims = issuer.verify(&token, "svc").unwrap();
        assert!(claims.allows(&repo("a/b"), Action::Pull));
        assert!(!claims.allows(&repo("a/b"), Action::Push));
        assert!(!claims.allows(&repo("a/c"), Action::Pull));
        assert!(issuer.verify(&token, "other").is_none());
        let other = TokenIssuer::random(Duration::from_secs(60));
        assert!(other.verify(&token, "svc").is_none());
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = format!("{}x.{tag}", payload);
        assert!(issuer.verify(&forged, "svc").is_none());
    }

    #[test]
    fn scope_parses_actions_and_rejects_other_resources() {
        let scope = Scope::parse("repository:plugins/slack:push,pull").unwrap();
        assert_eq!(scope.actions, vec![Action::Pull, Action::Push]);
        assert_eq!(scope.render(), "repository:plugins/slack:pull,push");
        assert!(Scope::parse("registry:catalog:*").is_none());
        assert!(Scope::parse("repository:Bad:pull").is_none());
    }

    #[tokio::test]
    async fn static_authenticator_checks_password_and_pattern() {
        let auth = StaticAuthenticator::new().user(
            "alice",
            "s3cret",
            RepositoryPattern::new("plugins/*"),
            &[Action::Pull, Action::Push],
        );
        assert!(auth.authenticate("alice", "wrong").await.unwrap().is_none());
        let alice = auth.authenticate("alice", "s3cret").await.unwrap().unwrap();
        let all = [Action::Pull, Action::Push, Action::Delete];
        assert_eq!(
            auth.authorize(Some(&alice), &repo("plugins/x"), &all)
                .await
                .unwrap(),
            vec![Action::Pull, Action::Push]
        );
        assert!(
            auth.authorize(Some(&alice), &repo("other"), &all)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            auth.authorize(None, &repo("plugins/x"), &all)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
