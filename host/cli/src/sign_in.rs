//! `serve`'s single sign-on settings: the OpenID Connect provider the UI
//! signs members in with, and the URL browsers reach the server at (where
//! the provider sends them back).

use std::net::SocketAddr;

use clap::Args;

use crate::config::FileConfig;

/// `serve --oidc-issuer ... --oidc-client-id ... [--oidc-client-secret ...]
/// [--public-url ...]`.
#[derive(Debug, Default, Args)]
pub(crate) struct SignInArgs {
    /// The OpenID Connect provider the UI signs members in with: its issuer
    /// URL (where `/.well-known/openid-configuration` is). Needs
    /// --oidc-client-id; `n8n-work member add EMAIL --role ROLE` says who
    /// may sign in.
    #[arg(long, env = "N8N_WORK_OIDC_ISSUER", value_name = "URL")]
    oidc_issuer: Option<String>,
    /// This server's client id at the provider.
    #[arg(long, env = "N8N_WORK_OIDC_CLIENT_ID", value_name = "ID")]
    oidc_client_id: Option<String>,
    /// The client secret, for a confidential client [default: none, a
    /// public client that proves itself with PKCE alone].
    #[arg(
        long,
        env = "N8N_WORK_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    oidc_client_secret: Option<String>,
    /// The URL browsers reach this server at; OIDC and OAuth2 providers
    /// send them back under it (URL/api/v1/session/oidc/callback,
    /// URL/api/v1/oauth2/callback), and registry clients log in at
    /// URL/v2/token [default: http:// and the listen address for OIDC and
    /// the registry, the address a request came to for OAuth2].
    #[arg(long, env = "N8N_WORK_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Take an email the provider sends without `email_verified` as
    /// verified: only for a provider that sends no email it has not
    /// verified [default: such an email names nobody].
    #[arg(long, env = "N8N_WORK_OIDC_TRUST_EMAIL")]
    oidc_trust_email: bool,
}

impl SignInArgs {
    /// The flags, then the configuration file.
    pub(crate) fn resolve(&mut self, config: &FileConfig) {
        let pick = |flag: &mut Option<String>, file: &Option<String>| {
            if flag.is_none() {
                flag.clone_from(file);
            }
        };
        pick(&mut self.oidc_issuer, &config.oidc_issuer);
        pick(&mut self.oidc_client_id, &config.oidc_client_id);
        pick(&mut self.oidc_client_secret, &config.oidc_client_secret);
        pick(&mut self.public_url, &config.public_url);
        self.oidc_trust_email |= config.oidc_trust_email.unwrap_or(false);
    }

    /// The URL browsers reach this server at, if set.
    pub(crate) fn public_url(&self) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
    }

    /// The URL browsers and registry clients reach this server at: the
    /// configured one, or the listen address.
    pub(crate) fn public_url_or(&self, listen: SocketAddr) -> String {
        self.public_url()
            .unwrap_or_else(|| default_public_url(listen))
    }

    /// The sign-on settings, if an issuer is set; `listen` is where the
    /// server listens, for the default public URL.
    pub(crate) fn settings(
        &self,
        listen: SocketAddr,
    ) -> anyhow::Result<Option<n8n_work_api::OidcSettings>> {
        let (issuer, client_id) = match (&self.oidc_issuer, &self.oidc_client_id) {
            (None, None) => return Ok(None),
            (Some(issuer), Some(client_id)) => (issuer, client_id),
            (Some(_), None) => anyhow::bail!(
                "--oidc-issuer needs --oidc-client-id (N8N_WORK_OIDC_CLIENT_ID): the client id the provider registered for this server"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--oidc-client-id needs --oidc-issuer (N8N_WORK_OIDC_ISSUER): the provider's issuer URL"
            ),
        };
        Ok(Some(n8n_work_api::OidcSettings {
            issuer: issuer.trim().to_owned(),
            client_id: client_id.clone(),
            client_secret: self.oidc_client_secret.clone(),
            public_url: self
                .public_url
                .clone()
                .unwrap_or_else(|| default_public_url(listen)),
            trust_email: self.oidc_trust_email,
        }))
    }
}

/// `http://` and the listen address; a wildcard address becomes
/// `localhost`, which only a browser on this machine reaches (set
/// --public-url for the others).
fn default_public_url(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("http://localhost:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_defaults_to_the_listen_address() {
        assert_eq!(
            default_public_url("127.0.0.1:5678".parse().unwrap()),
            "http://127.0.0.1:5678"
        );
        assert_eq!(
            default_public_url("[::1]:80".parse().unwrap()),
            "http://[::1]:80"
        );
        assert_eq!(
            default_public_url("0.0.0.0:5678".parse().unwrap()),
            "http://localhost:5678"
        );
    }

    #[test]
    fn an_issuer_without_a_client_id_is_an_error_that_names_the_flag() {
        let args = SignInArgs {
            oidc_issuer: Some("https://id.example.com".into()),
            ..SignInArgs::default()
        };
        let err = args
            .settings("127.0.0.1:1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--oidc-client-id"), "{err}");
        assert!(
            SignInArgs::default()
                .settings("127.0.0.1:1".parse().unwrap())
                .unwrap()
                .is_none()
        );
    }
}
