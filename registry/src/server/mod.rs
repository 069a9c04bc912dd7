//! The OCI Distribution Spec v1.1 server, as an axum [`Router`].
//!
//! Repository names contain `/`, so the routes are matched by hand from the
//! end of the path (`…/manifests/REF`, `…/blobs/uploads/ID`, …) instead of by
//! axum's path patterns.

mod auth;
mod blobs;
mod error;
mod manifests;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use serde_json::json;

pub use auth::{
    Action, AuthBackendError, AuthSettings, Authenticator, Principal, RepositoryAccess,
    RepositoryPattern, Scope, StaticAuthenticator, TokenClaims, TokenIssuer,
};
pub use error::{ErrorCode, RegistryError};

use crate::names::RepositoryName;
use crate::storage::RegistryStorage;

/// Limits and auth of a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// The largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Token auth; `None` serves everyone everything (loopback and tests only).
    pub auth: Option<AuthSettings>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_blob_bytes: 1 << 30,
            max_manifest_bytes: 4 << 20,
            auth: None,
        }
    }
}

/// The registry's state: its storage and configuration. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    storage: Arc<dyn RegistryStorage>,
    config: RegistryConfig,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry over `storage`.
    pub fn new(storage: Arc<dyn RegistryStorage>, config: RegistryConfig) -> Self {
        Self {
            inner: Arc::new(RegistryInner { storage, config }),
        }
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn RegistryStorage> {
        &self.inner.storage
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }
}

/// The registry's routes: `/v2/` and everything under it, including the token
/// endpoint `/v2/token`. Mount with [`Router::merge`] (not `nest`): the
/// handlers read the full request path.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/v2", get(base))
        .route("/v2/", get(base))
        .route("/v2/token", get(token))
        .route("/v2/{*path}", any(dispatch))
        .with_state(registry)
}

/// One API endpoint, parsed from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Tags,
    Manifest(String),
    UploadStart,
    Upload(String),
    Blob(String),
    Referrers(String),
}

fn parse_path(path: &str) -> Option<(String, Endpoint)> {
    let rest = path.strip_prefix("/v2/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let name = |k: usize| (n > k).then(|| segments[..n - k].join("/"));
    let last = |i: usize| segments.get(n.wrapping_sub(i)).copied();
    if last(2) == Some("tags") && last(1) == Some("list") {
        return Some((name(2)?, Endpoint::Tags));
    }
    if last(3) == Some("blobs") && last(2) == Some("uploads") {
        let id = last(1)?;
        let endpoint = if id.is_empty() {
            Endpoint::UploadStart
        } else {
            Endpoint::Upload(id.to_owned())
        };
        return Some((name(3)?, endpoint));
    }
    if last(2) == Some("blobs") && last(1) == Some("uploads") {
        return Some((name(2)?, Endpoint::UploadStart));
    }
    match last(2)? {
        "manifests" => Some((name(2)?, Endpoint::Manifest(last(1)?.to_owned()))),
        "blobs" => Some((name(2)?, Endpoint::Blob(last(1)?.to_owned()))),
        "referrers" => Some((name(2)?, Endpoint::Referrers(last(1)?.to_owned()))),
        _ => None,
    }
}

fn challenge(settings: &AuthSettings, scope: Option<&Scope>, insufficient: bool) -> RegistryError {
    let mut value = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        settings.realm, settings.service
    );
    if let Some(scope) = scope {
        value.push_str(&format!(",scope=\"{}\"", scope.render()));
    }
    if insufficient {
        value.push_str(",error=\"insufficient_scope\"");
    }
    let message = match scope {
        Some(scope) => format!(
            "authentication required for `{}`; get a token from the realm in WWW-Authenticate (log in with your registry credentials)",
            scope.render()
        ),
        None => "authentication required; get a token from the realm in WWW-Authenticate".into(),
    };
    let error = RegistryError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message);
    match HeaderValue::from_str(&value) {
        Ok(v) => error.with_header(header::WWW_AUTHENTICATE, v),
        Err(_) => error,
    }
}

fn bearer_claims(settings: &AuthSettings, headers: &HeaderMap) -> Option<TokenClaims> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    settings.issuer.verify(token.trim(), &settings.service)
}

/// What a request may do: everything when auth is off, otherwise what its
/// token grants plus what anonymous users may do.
pub(crate) struct Access<'a> {
    registry: &'a Registry,
    claims: Option<TokenClaims>,
}

impl Access<'_> {
    /// Whether the request may take `action` on `repository`.
    pub(crate) async fn allows(
        &self,
        repository: &RepositoryName,
        action: Action,
    ) -> Result<bool, RegistryError> {
        let Some(settings) = &self.registry.config().auth else {
            return Ok(true);
        };
        if let Some(claims) = &self.claims
            && claims.allows(repository, action)
        {
            // The token holds what the login was granted; whether the login
            // still holds (its key not revoked since) is asked again.
            let granted = settings
                .authenticator
                .authorize(claims.principal.as_ref(), repository, &[action])
                .await
                .map_err(|e| RegistryError::internal(&e))?;
            if granted.contains(&action) {
                return Ok(true);
            }
        }
        let granted = settings
            .authenticator
            .authorize(None, repository, &[action])
            .await
            .map_err(|e| RegistryError::internal(&e))?;
        Ok(granted.contains(&action))
    }

    /// Fails with a challenge unless the request may take `action` on `repository`.
    pub(crate) async fn require(
        &self,
        repository: &RepositoryName,
        action: Action,
    ) -> Result<(), RegistryError> {
        if self.allows(repository, action).await? {
            return Ok(());
        }
        let settings = self
            .registry
            .config()
            .auth
            .as_ref()
            .expect("allows() grants everything without auth");
        let mut actions = vec![Action::Pull];
        if action != Action::Pull {
            actions.push(action);
        }
        let scope = Scope {
            repository: repository.clone(),
            actions,
        };
        Err(challenge(settings, Some(&scope), self.claims.is_some()))
    }
}

async fn base(State(registry): State<Registry>, headers: HeaderMap) -> Response {
    if let Some(settings) = &registry.config().auth
        && bearer_claims(settings, &headers).is_none()
    {
        return challenge(settings, None, false).into_response();
    }
    (
        [(
            header::HeaderName::from_static("docker-distribution-api-version"),
            "registry/2.0",
        )],
        axum::Json(json!({})),
    )
        .into_response()
}

async fn token(
    State(registry): State<Registry>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, RegistryError> {
    let Some(settings) = &registry.config().auth else {
        return Err(RegistryError::not_found(
            ErrorCode::Unsupported,
            "this registry has no token auth; send requests without a token",
        ));
    };
    let principal = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(value) => {
            let Some((user, password)) = auth::basic_credentials(value) else {
                return Err(RegistryError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "token request: Authorization must be `Basic base64(user:password)`",
                ));
            };
            let principal = settings
                .authenticator
                .authenticate(&user, &password)
                .await
                .map_err(|e| RegistryError::internal(&e))?;
            match principal {
                Some(p) => Some(p),
                None => {
                    return Err(RegistryError::new(
                        StatusCode::UNAUTHORIZED,
                        ErrorCode::Unauthorized,
                        format!("token request: wrong user name or password for `{user}`"),
                    ));
                }
            }
        }
    };
    let query = uri.query().unwrap_or("");
    let mut access = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key != "scope" {
            continue;
        }
        // Some clients send several scopes space-separated in one parameter.
        for scope in value.split(' ').filter_map(Scope::parse) {
            let granted = settings
                .authenticator
                .authorize(principal.as_ref(), &scope.repository, &scope.actions)
                .await
                .map_err(|e| RegistryError::internal(&e))?;
            access.push(RepositoryAccess {
                kind: "repository".into(),
                name: scope.repository.to_string(),
                actions: granted,
            });
        }
    }
    let token = settings.issuer.issue(TokenClaims {
        principal,
        aud: settings.service.clone(),
        exp: 0,
        access,
    });
    Ok(axum::Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": settings.issuer.ttl().as_secs(),
    }))
    .into_response())
}

async fn dispatch(
    State(registry): State<Registry>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Body,
) -> Result<Response, RegistryError> {
    let Some((name, endpoint)) = parse_path(uri.path()) else {
        return Err(RegistryError::not_found(
            ErrorCode::Unsupported,
            format!(
                "`{}` is not an endpoint of the OCI Distribution API",
                uri.path()
            ),
        ));
    };
    let repository = RepositoryName::new(&name)
        .map_err(|e| RegistryError::bad_request(ErrorCode::NameInvalid, e.to_string()))?;
    let claims = registry
        .config()
        .auth
        .as_ref()
        .and_then(|settings| bearer_claims(settings, &headers));
    let access = Access {
        registry: &registry,
        claims,
    };
    let required = match (&endpoint, &method) {
        (_, &Method::GET | &Method::HEAD) => Action::Pull,
        (Endpoint::Manifest(_) | Endpoint::Blob(_), &Method::DELETE) => Action::Delete,
        _ => Action::Push,
    };
    access.require(&repository, required).await?;
    let query = blobs::QueryParams::new(query);
    let request = RequestParts {
        registry: &registry,
        repository,
        method,
        headers: &headers,
        query: &query,
        access: &access,
    };
    match endpoint {
        Endpoint::Tags => manifests::tags_list(request).await,
        Endpoint::Manifest(reference) => manifests::manifest(request, &reference, body).await,
        Endpoint::Referrers(digest) => manifests::referrers(request, &digest).await,
        Endpoint::Blob(digest) => blobs::blob(request, &digest).await,
        Endpoint::UploadStart => blobs::start_upload(request, body).await,
        Endpoint::Upload(id) => blobs::upload(request, &id, body).await,
    }
}

/// What every endpoint handler gets.
pub(crate) struct RequestParts<'a> {
    registry: &'a Registry,
    repository: RepositoryName,
    method: Method,
    headers: &'a HeaderMap,
    query: &'a blobs::QueryParams,
    access: &'a Access<'a>,
}

impl RequestParts<'_> {
    fn storage(&self) -> &dyn RegistryStorage {
        self.registry.storage().as_ref()
    }

    fn method_not_allowed(&self) -> RegistryError {
        RegistryError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            format!("{} is not supported on this endpoint", self.method),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_from_the_end_so_names_may_contain_keywords() {
        assert_eq!(
            parse_path("/v2/a/blobs/b/manifests/latest"),
            Some(("a/blobs/b".into(), Endpoint::Manifest("latest".into())))
        );
        assert_eq!(
            parse_path("/v2/a/b/blobs/uploads/"),
            Some(("a/b".into(), Endpoint::UploadStart))
        );
        assert_eq!(
            parse_path("/v2/a/blobs/uploads/0123"),
            Some(("a".into(), Endpoint::Upload("0123".into())))
        );
        assert_eq!(
            parse_path("/v2/x/tags/list"),
            Some(("x".into(), Endpoint::Tags))
        );
        assert_eq!(
            parse_path("/v2/x/referrers/sha256:ab"),
            Some(("x".into(), Endpoint::Referrers("sha256:ab".into())))
        );
        assert_eq!(parse_path("/v2/manifests/latest"), None);
        assert_eq!(parse_path("/v2/x/other/y"), None);
    }
}
