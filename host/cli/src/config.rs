//! The configuration file: one TOML file, beneath the flags and the
//! `N8N_WORK_*` environment variables that override it. A key it does not
//! know is an error, so a typo cannot silently leave a default in place.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// What `n8n-work.toml` may set; each key matches a flag of `serve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FileConfig {
    /// `--data-dir`.
    pub(crate) data_dir: Option<PathBuf>,
    /// `--listen`.
    pub(crate) listen: Option<SocketAddr>,
    /// `--webhook-listen`.
    pub(crate) webhook_listen: Option<SocketAddr>,
    /// `--public-webhook-url`.
    pub(crate) public_webhook_url: Option<String>,
    /// `--max-body-bytes`.
    pub(crate) max_body_bytes: Option<usize>,
    /// `--max-in-flight`.
    pub(crate) max_in_flight: Option<usize>,
    /// `--webhook-in-flight-per-tenant`.
    pub(crate) webhook_in_flight_per_tenant: Option<usize>,
    /// `--webhook-buffered-bytes`.
    pub(crate) webhook_buffered_bytes: Option<usize>,
    /// `--webhook-body-timeout-secs`.
    pub(crate) webhook_body_timeout_secs: Option<u64>,
    /// `--egress-allow-private`.
    pub(crate) egress_allow_private: Option<String>,
    /// `--role`.
    pub(crate) role: Option<crate::serve::Role>,
    /// `--database-url`.
    pub(crate) database_url: Option<String>,
    /// `--redis-url`.
    pub(crate) redis_url: Option<String>,
    /// `--redis-prefix`.
    pub(crate) redis_prefix: Option<String>,
    /// `--lease-ms`.
    pub(crate) lease_ms: Option<u64>,
    /// `--egress-rate`.
    pub(crate) egress_rate: Option<String>,
    /// `--tenant-requests-per-second`.
    pub(crate) tenant_requests_per_second: Option<std::num::NonZeroU32>,
    /// `--tenant-running-executions`.
    pub(crate) tenant_running_executions: Option<u64>,
    /// `--tenant-steps-per-hour`.
    pub(crate) tenant_steps_per_hour: Option<u64>,
    /// `--oidc-issuer`.
    pub(crate) oidc_issuer: Option<String>,
    /// `--oidc-client-id`.
    pub(crate) oidc_client_id: Option<String>,
    /// `--oidc-client-secret`.
    pub(crate) oidc_client_secret: Option<String>,
    /// `--public-url`.
    pub(crate) public_url: Option<String>,
    /// `--oidc-trust-email`.
    pub(crate) oidc_trust_email: Option<bool>,
}

/// The file named by `--config` (`N8N_WORK_CONFIG`), else `./n8n-work.toml`
/// when it exists, else nothing.
pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let default = Path::new("n8n-work.toml");
    let path = match explicit {
        Some(path) => path,
        None if default.exists() => default,
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}the keys are data-dir, listen, webhook-listen, public-webhook-url, role, database-url, redis-url, redis-prefix, lease-ms, max-body-bytes, max-in-flight, egress-allow-private, egress-rate, tenant-requests-per-second, tenant-running-executions, tenant-steps-per-hour, oidc-issuer, oidc-client-id, oidc-client-secret and public-url",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n8n-work.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nlisten-port = 9\n").unwrap();
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("listen-port"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax-in-flight = 8\nlease-ms = 2000\n",
        )
        .unwrap();
        let config = load(Some(&path)).unwrap();
        assert_eq!(config.lease_ms, Some(2000));
        assert_eq!(config.listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(config.max_in_flight, Some(8));
    }

    #[test]
    fn single_sign_on_is_set_by_the_same_keys_as_its_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n8n-work.toml");
        std::fs::write(
            &path,
            "oidc-issuer = \"https://id.example.com\"\noidc-client-id = \"n8n-work\"\npublic-url = \"https://n8n.example.com\"\n",
        )
        .unwrap();
        let config = load(Some(&path)).unwrap();
        assert_eq!(
            config.oidc_issuer.as_deref(),
            Some("https://id.example.com")
        );
        assert_eq!(config.oidc_client_id.as_deref(), Some("n8n-work"));
        assert_eq!(config.oidc_client_secret, None);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://n8n.example.com")
        );
    }
}
