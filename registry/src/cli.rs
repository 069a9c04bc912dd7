//! The `n8n-work plugin …` and `n8n-work registry …` commands, as clap
//! subcommands the binary mounts in one line each.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use serde::Deserialize;

use crate::client::{ClientOptions, RegistryClient, UploadProgress, is_loopback, parse_reference};
use crate::plugin::{PluginArtifact, PluginSpec};
use crate::server::{Action, AuthSettings, RepositoryPattern, StaticAuthenticator, TokenIssuer};
use crate::signature::{
    KeyAlgorithm, PublicKey, SigningKey, TrustPolicy, TrustedKey, Verification,
};
use crate::storage::FsStorage;
use crate::{Registry, RegistryConfig};

/// How to reach and log in to a registry.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryLogin {
    /// User name (or API key name) for the registry.
    #[arg(long, env = "N8N_WORK_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Password (or API key) for the registry.
    #[arg(long, env = "N8N_WORK_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Use plain HTTP instead of HTTPS (always so for 127.0.0.1, ::1 and localhost).
    #[arg(long)]
    pub plain_http: bool,
}

/// Which publishers to trust.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// A trusted publisher's public key (PEM); repeat for several. Keys in
    /// DATA_DIR/trusted-keys/*.pub are trusted too.
    #[arg(long = "trust", value_name = "KEY.pub")]
    pub trusted: Vec<PathBuf>,
    /// Accept a plugin that has no signature at all.
    #[arg(long)]
    pub allow_unsigned: bool,
}

/// `n8n-work plugin …`: keys, signing, publishing and pulling plugins.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PluginCommand {
    /// Create a publisher key pair: KEY (private, mode 0600) and KEY.pub.
    Keygen {
        /// Where to write the private key; the public key goes to the same path plus `.pub`.
        #[arg(long, value_name = "KEY")]
        out: PathBuf,
        /// The key algorithm.
        #[arg(long, value_enum, default_value = "ed25519")]
        algorithm: KeyAlgorithm,
    },
    /// Publish a component as a plugin: HOST/NAMESPACE/NAME:VERSION.
    Publish {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Where to publish it.
        #[arg(long = "ref", value_name = "HOST/NS/NAME:VERSION")]
        reference: String,
        /// The node's spec as JSON (what `n8n-work node describe` prints).
        #[arg(long, value_name = "SPEC.json")]
        spec: PathBuf,
        /// Sign with this private key.
        #[arg(long, value_name = "KEY")]
        key: Option<PathBuf>,
        /// How to log in to the registry.
        #[command(flatten)]
        login: RegistryLogin,
    },
    /// Sign a published plugin.
    Sign {
        /// The plugin.
        reference: String,
        /// The private key.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// How to log in to the registry.
        #[command(flatten)]
        login: RegistryLogin,
    },
    /// Check a plugin: its signature against the trusted keys, and its content.
    Verify {
        /// The plugin.
        reference: String,
        /// Which publishers to trust.
        #[command(flatten)]
        trust: TrustArgs,
        /// How to log in to the registry.
        #[command(flatten)]
        login: RegistryLogin,
    },
    /// Download and check a plugin, and write its component.
    Pull {
        /// The plugin.
        reference: String,
        /// Where to write the component.
        #[arg(long, value_name = "FILE.wasm")]
        out: PathBuf,
        /// Which publishers to trust.
        #[command(flatten)]
        trust: TrustArgs,
        /// How to log in to the registry.
        #[command(flatten)]
        login: RegistryLogin,
    },
}

/// `n8n-work registry …`: the OCI registry on its own.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RegistryCommand {
    /// Serve the registry (`/v2/`), storing in DATA_DIR/registry.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: SocketAddr,
        /// Users file (JSON); without it the registry has no auth, which is
        /// allowed on a loopback address only.
        #[arg(long, value_name = "USERS.json")]
        users: Option<PathBuf>,
        /// Let anyone pull without credentials.
        #[arg(long)]
        anonymous_pull: bool,
    },
}

fn client_for(
    reference: &oci_client::Reference,
    login: &RegistryLogin,
) -> anyhow::Result<RegistryClient> {
    let credentials = match (&login.username, &login.password) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        (None, None) => None,
        _ => bail!(
            "give both --username and --password (or N8N_WORK_REGISTRY_USERNAME and N8N_WORK_REGISTRY_PASSWORD), or neither"
        ),
    };
    Ok(RegistryClient::new(ClientOptions {
        credentials,
        plain_http: login.plain_http || is_loopback(reference),
        chunk_size: 0,
    }))
}

fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read private key {}; create one with `n8n-work plugin keygen --out {}`",
            path.display(),
            path.display()
        )
    })?;
    Ok(SigningKey::from_pem(&pem, &path.display().to_string())?)
}

fn trust_policy(trust: &TrustArgs, data_dir: &Path) -> anyhow::Result<TrustPolicy> {
    let mut files = trust.trusted.clone();
    let dir = data_dir.join("trusted-keys");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut trusted_keys = Vec::new();
    for path in files {
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read trusted key {}", path.display()))?;
        trusted_keys.push(TrustedKey {
            name: path.display().to_string(),
            key: PublicKey::from_pem(&pem, &path.display().to_string())?,
        });
    }
    Ok(TrustPolicy {
        trusted_keys,
        allow_unsigned: trust.allow_unsigned,
    })
}

fn show_progress(progress: &UploadProgress) {
    let hex = progress.digest.hex();
    if progress.skipped {
        eprintln!(
            "{:<16} sha256:{}… already there",
            progress.label,
            &hex[..12]
        );
        return;
    }
    let percent = (progress.sent * 100)
        .checked_div(progress.total)
        .unwrap_or(100);
    eprintln!(
        "{:<16} sha256:{}… {:>10} / {} bytes ({percent}%)",
        progress.label,
        &hex[..12],
        progress.sent,
        progress.total
    );
}

fn describe(verification: &Verification) -> String {
    match verification {
        Verification::SignedBy { name, key_id } => format!("signed by {name} ({key_id})"),
        Verification::UnsignedAllowed => "unsigned (allowed by --allow-unsigned)".into(),
    }
}

impl PluginCommand {
    /// Runs the command; `data_dir` holds `trusted-keys/`.
    pub async fn run(self, data_dir: &Path) -> anyhow::Result<ExitCode> {
        match self {
            Self::Keygen { out, algorithm } => {
                let public_path = PathBuf::from(format!("{}.pub", out.display()));
                for path in [&out, &public_path] {
                    if path.exists() {
                        bail!(
                            "{} exists; choose another --out, or remove it if you mean to replace that key",
                            path.display()
                        );
                    }
                }
                let key = SigningKey::generate(algorithm);
                write_private(&out, key.to_pem().as_bytes())
                    .with_context(|| format!("cannot write private key {}", out.display()))?;
                std::fs::write(&public_path, key.public_key().to_pem()).with_context(|| {
                    format!("cannot write public key {}", public_path.display())
                })?;
                println!("private key: {} (keep it secret)", out.display());
                println!(
                    "public key:  {} ({})",
                    public_path.display(),
                    key.public_key().key_id()
                );
            }
            Self::Publish {
                file,
                reference,
                spec,
                key,
                login,
            } => {
                let wasm = std::fs::read(&file)
                    .with_context(|| format!("cannot read component {}", file.display()))?;
                let spec_text = std::fs::read_to_string(&spec).with_context(|| {
                    format!(
                        "cannot read node spec {}; write it with `n8n-work node describe`",
                        spec.display()
                    )
                })?;
                let spec_value: PluginSpec =
                    serde_json::from_str(&spec_text).with_context(|| {
                        format!(
                            "node spec {} is not a node spec (JSON with name, version, …)",
                            spec.display()
                        )
                    })?;
                let artifact = PluginArtifact::build(Bytes::from(wasm), spec_value)
                    .with_context(|| format!("cannot package {}", file.display()))?;
                let key = key.as_deref().map(read_signing_key).transpose()?;
                let parsed = parse_reference(&reference)?;
                let client = client_for(&parsed, &login)?;
                let digest = client
                    .publish(&parsed, &artifact, key.as_ref(), Arc::new(show_progress))
                    .await?;
                println!("{reference}@{digest}");
                if key.is_none() {
                    eprintln!(
                        "note: published unsigned; installs refuse it unless allowed (sign it with `n8n-work plugin sign {reference} --key KEY`)"
                    );
                }
            }
            Self::Sign {
                reference,
                key,
                login,
            } => {
                let key = read_signing_key(&key)?;
                let parsed = parse_reference(&reference)?;
                let digest = client_for(&parsed, &login)?.sign(&parsed, &key).await?;
                println!(
                    "signed {reference}@{digest} with {}",
                    key.public_key().key_id()
                );
            }
            Self::Verify {
                reference,
                trust,
                login,
            } => {
                let policy = trust_policy(&trust, data_dir)?;
                let parsed = parse_reference(&reference)?;
                let pulled = client_for(&parsed, &login)?.pull(&parsed, &policy).await?;
                println!(
                    "{reference}@{}: {} {}, {}",
                    pulled.digest,
                    pulled.spec.name,
                    pulled.spec.version,
                    describe(&pulled.verification)
                );
            }
            Self::Pull {
                reference,
                out,
                trust,
                login,
            } => {
                let policy = trust_policy(&trust, data_dir)?;
                let parsed = parse_reference(&reference)?;
                let pulled = client_for(&parsed, &login)?.pull(&parsed, &policy).await?;
                std::fs::write(&out, &pulled.wasm)
                    .with_context(|| format!("cannot write component {}", out.display()))?;
                println!(
                    "{reference}@{} → {} ({})",
                    pulled.digest,
                    out.display(),
                    describe(&pulled.verification)
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The users file of `registry serve --users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<UserEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UserEntry {
    name: String,
    /// SHA-256 of the password, hex.
    password_sha256: String,
    /// Repository pattern: `*`, `plugins/*` or an exact name.
    repositories: String,
    actions: Vec<Action>,
}

fn load_users(path: &Path, anonymous_pull: bool) -> anyhow::Result<StaticAuthenticator> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read users file {}", path.display()))?;
    let file: UsersFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "users file {}: expected {{\"users\": [{{\"name\", \"passwordSha256\", \"repositories\", \"actions\": [\"pull\", \"push\", \"delete\"]}}]}}",
            path.display()
        )
    })?;
    let mut auth = StaticAuthenticator::new().allow_anonymous_pull(anonymous_pull);
    for user in file.users {
        let hash: [u8; 32] = hex::decode(&user.password_sha256)
            .ok()
            .and_then(|h| h.try_into().ok())
            .with_context(|| {
                format!(
                    "users file {}: user `{}`: passwordSha256 must be 64 hex digits (`printf %s PASSWORD | sha256sum`)",
                    path.display(),
                    user.name
                )
            })?;
        auth.add_user_with_hash(
            &user.name,
            hash,
            RepositoryPattern::new(user.repositories),
            &user.actions,
        );
    }
    Ok(auth)
}

impl RegistryCommand {
    /// Runs the command; the registry stores into `data_dir/registry`.
    pub async fn run(self, data_dir: &Path) -> anyhow::Result<ExitCode> {
        match self {
            Self::Serve {
                listen,
                users,
                anonymous_pull,
            } => {
                let auth = match &users {
                    Some(path) => Some(AuthSettings {
                        authenticator: Arc::new(load_users(path, anonymous_pull)?),
                        issuer: TokenIssuer::random(Duration::from_secs(300)),
                        service: "n8n-work-registry".into(),
                        realm: None,
                    }),
                    None if listen.ip().is_loopback() => None,
                    None => bail!(
                        "registry serve: listening on {listen} without --users would let anyone on the network push; give --users USERS.json, or listen on 127.0.0.1"
                    ),
                };
                let root = data_dir.join("registry");
                let storage = FsStorage::open(&root).await.with_context(|| {
                    format!("cannot open registry storage in {}", root.display())
                })?;
                let registry = Registry::new(
                    Arc::new(storage),
                    RegistryConfig {
                        auth,
                        ..RegistryConfig::default()
                    },
                );
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}; is another registry running there? choose another --listen"))?;
                eprintln!(
                    "registry serving http://{listen}/v2/ from {}",
                    root.display()
                );
                axum::serve(listener, crate::router(registry))
                    .await
                    .context("registry server stopped")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
