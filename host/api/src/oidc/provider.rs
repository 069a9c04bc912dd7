//! The provider's side of sign-in: its configuration and keys by discovery
//! (cached, and read again when a token's key is unknown), the
//! authorization request, the code exchange and the ID token's checks. The
//! principal type is [`Oidc`], made from [`OidcSettings`].

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdToken, CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse as _,
};

use super::identity::Identity;

/// How long the provider's configuration and keys are used before they are
/// read again (and at once when an ID token's signature does not verify,
/// since the provider may have rotated its keys).
const DISCOVERY_TTL: Duration = Duration::from_secs(5 * 60);

/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the provider sends the browser back, under the public URL.
const CALLBACK_PATH: &str = "/api/v1/session/oidc/callback";

/// How the UI signs people in with an OpenID Connect provider.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The provider's issuer URL.
    pub issuer: String,
    /// This server's client id at the provider.
    pub client_id: String,
    /// The client secret; none for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// The URL browsers reach this server at.
    pub public_url: String,
    /// Whether an email the provider sends without `email_verified` counts
    /// as verified (for providers that only send emails they verified);
    /// otherwise such an email names nobody.
    pub trust_email: bool,
}

/// Settings that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum OidcSettingsError {
    /// The issuer is not a URL the provider can be discovered at.
    #[error(
        "--oidc-issuer `{0}`: {1}; give the provider's issuer URL, as its /.well-known/openid-configuration names it (https, or http on this machine for testing)"
    )]
    Issuer(String, String),
    /// The public URL is not an http(s) URL.
    #[error(
        "--public-url `{0}`: {1}; give the URL browsers reach this server at, such as https://n8n-work.example.com"
    )]
    PublicUrl(String, String),
    /// No client id.
    #[error(
        "--oidc-client-id is empty; give the client id the provider registered for this server"
    )]
    ClientId,
    /// The HTTP client could not be made.
    #[error("the HTTP client for the OpenID provider could not be made: {0}")]
    Client(String),
}

/// The provider's client as discovery makes it: an authorization endpoint,
/// and maybe a token endpoint.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Sign-in with one OpenID Connect provider.
pub(crate) struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    /// Whether browsers reach the server over https (cookies get `Secure`).
    secure: bool,
    /// Whether an email without `email_verified` counts as verified.
    trust_email: bool,
    http: openidconnect::reqwest::Client,
    discovered: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// Whether `host` is this machine, where plain http is allowed for tests.
fn loopback(host: &openidconnect::url::Host<&str>) -> bool {
    match host {
        openidconnect::url::Host::Domain(name) => *name == "localhost",
        openidconnect::url::Host::Ipv4(ip) => ip.is_loopback(),
        openidconnect::url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl Oidc {
    pub(crate) fn new(settings: OidcSettings) -> Result<Oidc, OidcSettingsError> {
        let bad_issuer = |why: &str| OidcSettingsError::Issuer(settings.issuer.clone(), why.into());
        let issuer_url = openidconnect::url::Url::parse(&settings.issuer)
            .map_err(|e| bad_issuer(&e.to_string()))?;
        let plain_ok = issuer_url.host().is_some_and(|host| loopback(&host));
        match issuer_url.scheme() {
            "https" => {}
            "http" if plain_ok => {}
            "http" => return Err(bad_issuer("plain http is allowed only on this machine")),
            _ => return Err(bad_issuer("not an http(s) URL")),
        }
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(bad_issuer("an issuer has no query or fragment"));
        }
        let issuer =
            IssuerUrl::new(settings.issuer.clone()).map_err(|e| bad_issuer(&e.to_string()))?;
        if settings.client_id.trim().is_empty() {
            return Err(OidcSettingsError::ClientId);
        }
        let public = settings.public_url.trim_end_matches('/');
        let bad_public =
            |why: &str| OidcSettingsError::PublicUrl(settings.public_url.clone(), why.into());
        let public_url =
            openidconnect::url::Url::parse(public).map_err(|e| bad_public(&e.to_string()))?;
        if !matches!(public_url.scheme(), "http" | "https") || public_url.host().is_none() {
            return Err(bad_public("not an http(s) URL"));
        }
        if public_url.query().is_some() || public_url.fragment().is_some() {
            return Err(bad_public("it has a query or fragment"));
        }
        let redirect = RedirectUrl::new(format!("{public}{CALLBACK_PATH}"))
            .map_err(|e| bad_public(&e.to_string()))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let a provider's answer send this
            // server elsewhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| OidcSettingsError::Client(e.to_string()))?;
        Ok(Oidc {
            issuer,
            client_id: ClientId::new(settings.client_id.trim().to_owned()),
            client_secret: settings
                .client_secret
                .filter(|s| !s.is_empty())
                .map(ClientSecret::new),
            redirect,
            secure: public_url.scheme() == "https",
            trust_email: settings.trust_email,
            http,
            discovered: tokio::sync::Mutex::new(None),
        })
    }

    /// The redirect URL to register with the provider.
    pub(crate) fn redirect_url(&self) -> &str {
        self.redirect.as_str()
    }

    /// Whether browsers reach the server over https, so its cookies are
    /// `Secure`.
    pub(crate) fn secure(&self) -> bool {
        self.secure
    }

    /// The issuer, as configured.
    pub(crate) fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// A new request for the provider's authorization endpoint (the code
    /// flow, PKCE with S256, a fresh state and nonce, the `email` scope).
    pub(crate) async fn authorization(&self) -> Result<Authorization, String> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Who the provider signed in: `code` exchanged with the PKCE
    /// `verifier`, and the ID token's signature (by the provider's JWKS),
    /// issuer, audience, expiry and `nonce` checked. The error says why
    /// not, and what to do.
    pub(crate) async fn signed_in(
        &self,
        code: String,
        verifier: &str,
        nonce: &str,
    ) -> Result<Identity, String> {
        let client = self.client(self.metadata(false).await?);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| {
                "the provider's configuration names no token endpoint, which the authorization code flow needs; check --oidc-issuer".to_owned()
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
        let tokens = exchange.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(answer) => format!(
                "the provider refused the authorization code ({answer}); a code works once and briefly, so start again from the sign-in page; if it goes on, check --oidc-client-id and --oidc-client-secret"
            ),
            other => format!(
                "the provider's token endpoint failed ({}); check that this server reaches the provider",
                causes(&other)
            ),
        })?;
        let Some(id_token) = tokens.id_token() else {
            return Err(format!(
                "the provider sent no ID token; allow the `openid` scope for the client `{}`",
                self.client_id.as_str()
            ));
        };
        let nonce = Nonce::new(nonce.to_owned());
        let mut identity = match claimed(&client, id_token, &nonce) {
            // The provider may have rotated its keys since they were read.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(self.metadata(true).await?);
                claimed(&fresh, id_token, &nonce)
            }
            result => result,
        }
        .map_err(|e| self.refusal(&e))?;
        if self.trust_email && identity.email_verified.is_none() {
            identity.email_verified = Some(true);
        }
        Ok(identity)
    }

    /// The provider's configuration and keys: cached, or read afresh when
    /// `fresh` or old.
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, String> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && !fresh
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                format!(
                    "could not read the provider's configuration at {}/.well-known/openid-configuration ({}); check --oidc-issuer and that this server reaches the provider",
                    self.issuer.as_str().trim_end_matches('/'),
                    causes(&e)
                )
            })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata) -> DiscoveredClient {
        // client_secret_basic is the default every provider takes, unless it
        // says it takes only client_secret_post.
        let post_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                    && !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
            });
        let client = CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .set_redirect_uri(self.redirect.clone());
        if post_only {
            client.set_auth_type(AuthType::RequestBody)
        } else {
            client
        }
    }

    /// Why an ID token was refused, and what to do.
    fn refusal(&self, e: &ClaimsVerificationError) -> String {
        match e {
            ClaimsVerificationError::InvalidAudience(why) => format!(
                "the ID token is not meant for this server: its audience {why}; check that --oidc-client-id is the client id the provider registered"
            ),
            ClaimsVerificationError::InvalidIssuer(why) => {
                format!("the ID token's issuer is wrong: {why}; check --oidc-issuer")
            }
            ClaimsVerificationError::InvalidNonce(why) => format!(
                "the ID token's nonce does not match the sign-in this browser began ({why}); start again from the sign-in page"
            ),
            ClaimsVerificationError::Expired(why) => format!(
                "the ID token has expired ({why}); check the clocks of this server and the provider, then start again"
            ),
            ClaimsVerificationError::SignatureVerification(why) => format!(
                "the ID token's signature does not verify against the provider's keys ({why}; keys from {}'s JWKS); the token was not made by the provider",
                self.issuer.as_str()
            ),
            other => format!("the ID token was refused: {other}"),
        }
    }
}

/// A request for the provider's authorization endpoint, and what the answer
/// must match.
pub(crate) struct Authorization {
    /// Where to send the browser.
    pub(crate) url: String,
    /// The `state` that must come back.
    pub(crate) state: String,
    /// The `nonce` the ID token must carry.
    pub(crate) nonce: String,
    /// The PKCE code verifier.
    pub(crate) verifier: String,
}

/// The ID token's person, once its signature, issuer, audience, expiry and
/// nonce check out.
fn claimed(
    client: &DiscoveredClient,
    id_token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<Identity, ClaimsVerificationError> {
    let claims = id_token.claims(&client.id_token_verifier(), nonce)?;
    Ok(Identity {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified(),
    })
}

/// An error and its causes, for a message.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
