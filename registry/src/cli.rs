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
use crate::marketplace::{FsMarketplaceStore, Marketplace};
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
    /// Search the marketplace by words in the name or description, keyword tag and category.
    Search {
        /// Words that must all appear.
        query: Vec<String>,
        /// A keyword tag (or a version tag).
        #[arg(long)]
        tag: Option<String>,
        /// A category.
        #[arg(long)]
        category: Option<String>,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Show a plugin: its versions, publisher, verified badge, capabilities and installs.
    Info {
        /// The repository (`plugins/slack`).
        repository: String,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Ask to install a plugin in the tenant: REPOSITORY:TAG or REPOSITORY@DIGEST.
    Install {
        /// The plugin (`plugins/slack:1.0.0`).
        reference: String,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// List the tenant's installed plugins (and, with --requests, its install requests).
    List {
        /// Show install requests too.
        #[arg(long)]
        requests: bool,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Upgrade an installed plugin: to REPOSITORY:TAG, or to the newest version.
    Upgrade {
        /// The plugin (`plugins/slack` or `plugins/slack:2.0.0`).
        reference: String,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Remove an installed plugin from the tenant.
    Remove {
        /// The repository or node name.
        repository: String,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Approve a pending install request (admins).
    Approve {
        /// The request's id (`plugin list --requests`).
        id: u64,
        /// Why, for the audit list.
        #[arg(long, default_value = "")]
        reason: String,
        /// Approve these egress origins instead of the ones the plugin asks
        /// for (repeatable): fewer, or a self-hosted instance of the provider.
        #[arg(long = "egress", value_name = "ORIGIN")]
        egress: Vec<String>,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Show the tenant's trust policy, or set it (admins): which publisher
    /// keys it trusts and whether unsigned plugins may be installed.
    Policy {
        /// Trust this publisher's public key (PEM), named after the file;
        /// repeat for several. Setting replaces the trusted keys.
        #[arg(long = "trust", value_name = "KEY.pub")]
        trusted: Vec<PathBuf>,
        /// Allow plugins with no signature (`true` or `false`).
        #[arg(long, value_name = "BOOL")]
        allow_unsigned: Option<bool>,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
    /// Reject a pending install request (admins), with a reason.
    Reject {
        /// The request's id.
        id: u64,
        /// Why, for the audit list and the requester.
        #[arg(long)]
        reason: String,
        /// Where and as whom.
        #[command(flatten)]
        market: MarketArgs,
    },
}

/// Which marketplace to talk to, as whom, for which tenant.
#[derive(Debug, Clone, clap::Args)]
pub struct MarketArgs {
    /// The registry's URL.
    #[arg(
        long = "registry",
        env = "N8N_WORK_REGISTRY_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub registry: String,
    /// The tenant to act in.
    #[arg(long, env = "N8N_WORK_TENANT", default_value = "default")]
    pub tenant: String,
    /// Who is acting (recorded in the audit list). A marketplace served by
    /// `n8n-work serve` records the API key instead.
    #[arg(long = "as", env = "N8N_WORK_USER", default_value = "cli")]
    pub actor: String,
    /// An API key of the platform, for a marketplace served by `n8n-work
    /// serve` (which decides with it what the call may do); set from the
    /// platform CLI's own `--api-key`, so not a flag here.
    #[arg(skip)]
    pub api_key: Option<String>,
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
        /// The URL clients reach the registry at; with --users, clients are
        /// sent to log in at URL/v2/token [default: http:// and the listen
        /// address, `localhost` for a wildcard one].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
}

/// The token endpoint clients are sent to: under `public_url`, or the
/// listen address (which only this machine reaches when it is a wildcard).
fn token_realm(public_url: Option<&str>, listen: SocketAddr) -> anyhow::Result<String> {
    let base = match public_url {
        Some(url) => {
            let url = url.trim().trim_end_matches('/');
            let parsed = url::Url::parse(url).with_context(|| {
                format!(
                    "--public-url `{url}` is not a URL; give one like https://registry.example.com"
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                bail!("--public-url `{url}` must be an http:// or https:// URL with a host");
            }
            url.to_owned()
        }
        None if listen.ip().is_unspecified() => format!("http://localhost:{}", listen.port()),
        None => format!("http://{listen}"),
    };
    Ok(format!("{base}/v2/token"))
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
    /// The marketplace settings of a command that calls the marketplace.
    pub fn market_mut(&mut self) -> Option<&mut MarketArgs> {
        match self {
            Self::Search { market, .. }
            | Self::Info { market, .. }
            | Self::Install { market, .. }
            | Self::List { market, .. }
            | Self::Upgrade { market, .. }
            | Self::Remove { market, .. }
            | Self::Approve { market, .. }
            | Self::Policy { market, .. }
            | Self::Reject { market, .. } => Some(market),
            _ => None,
        }
    }

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
            Self::Search {
                query,
                tag,
                category,
                market,
            } => {
                let mut params = vec![("q", query.join(" ")), ("tenant", market.tenant.clone())];
                params.extend(tag.map(|t| ("tag", t)));
                params.extend(category.map(|c| ("category", c)));
                let found = market_call(&market, "GET", "/search", &params, None).await?;
                let plugins = found["plugins"].as_array().cloned().unwrap_or_default();
                if plugins.is_empty() {
                    println!("no plugin matches");
                }
                for p in plugins {
                    let newest = &p["versions"][0];
                    println!(
                        "{}  {}  {}{}  {} installs\n    {}",
                        p["repository"].as_str().unwrap_or_default(),
                        newest["version"].as_str().unwrap_or_default(),
                        newest["publisher"].as_str().unwrap_or("unknown publisher"),
                        if newest["verified"] == true {
                            " ✓ verified"
                        } else {
                            ""
                        },
                        p["installs"],
                        p["description"].as_str().unwrap_or_default(),
                    );
                }
            }
            Self::Info { repository, market } => {
                let params = [
                    ("repository", repository),
                    ("tenant", market.tenant.clone()),
                ];
                let p = market_call(&market, "GET", "/plugin", &params, None).await?;
                println!(
                    "{} ({}): {}",
                    p["displayName"].as_str().unwrap_or_default(),
                    p["repository"].as_str().unwrap_or_default(),
                    p["description"].as_str().unwrap_or_default()
                );
                println!("installs: {}", p["installs"]);
                for v in p["versions"].as_array().cloned().unwrap_or_default() {
                    println!(
                        "  {:<10} {}  {}{}\n             asks for {}",
                        v["tag"].as_str().unwrap_or_default(),
                        v["digest"].as_str().unwrap_or_default(),
                        v["publisher"].as_str().unwrap_or("unknown publisher"),
                        if v["verified"] == true {
                            " ✓ verified"
                        } else {
                            ""
                        },
                        capabilities(&v["capabilities"]),
                    );
                }
            }
            Self::Install { reference, market } => {
                request_install(&market, &reference).await?;
            }
            Self::Upgrade { reference, market } => {
                let reference = if reference.contains(':') || reference.contains('@') {
                    reference
                } else {
                    let params = [
                        ("repository", reference.clone()),
                        ("tenant", market.tenant.clone()),
                    ];
                    let p = market_call(&market, "GET", "/plugin", &params, None).await?;
                    let Some(tag) = p["versions"][0]["tag"].as_str() else {
                        bail!("{reference} has no versions in the registry");
                    };
                    format!("{reference}:{tag}")
                };
                request_install(&market, &reference).await?;
            }
            Self::List { requests, market } => {
                let path = format!("/tenants/{}/installed", market.tenant);
                let listed = market_call(&market, "GET", &path, &[], None).await?;
                let installed = listed["installed"].as_array().cloned().unwrap_or_default();
                if installed.is_empty() {
                    println!("no plugins installed in tenant {}", market.tenant);
                }
                for i in installed {
                    println!(
                        "{}  {}  {}  (approved by {})",
                        i["repository"].as_str().unwrap_or_default(),
                        i["version"].as_str().unwrap_or_default(),
                        i["digest"].as_str().unwrap_or_default(),
                        i["approvedBy"].as_str().unwrap_or_default(),
                    );
                }
                if requests {
                    let path = format!("/tenants/{}/requests", market.tenant);
                    let listed = market_call(&market, "GET", &path, &[], None).await?;
                    for r in listed["requests"].as_array().cloned().unwrap_or_default() {
                        println!("{}", request_line(&r));
                    }
                }
            }
            Self::Remove { repository, market } => {
                let path = format!("/tenants/{}/installed", market.tenant);
                let params = [("repository", repository)];
                let removed = market_call(&market, "DELETE", &path, &params, None).await?;
                println!(
                    "removed {} {}",
                    removed["repository"].as_str().unwrap_or_default(),
                    removed["version"].as_str().unwrap_or_default()
                );
            }
            Self::Approve {
                id,
                reason,
                egress,
                market,
            } => {
                let path = format!("/tenants/{}/requests/{id}/approve", market.tenant);
                let mut body = serde_json::json!({ "reason": reason });
                if !egress.is_empty() {
                    body["egress"] = serde_json::json!(egress);
                }
                let r = market_call(&market, "POST", &path, &[], Some(body)).await?;
                println!("{}", request_line(&r));
            }
            Self::Policy {
                trusted,
                allow_unsigned,
                market,
            } => {
                let path = format!("/tenants/{}/policy", market.tenant);
                let mut policy = market_call(&market, "GET", &path, &[], None).await?;
                if !trusted.is_empty() || allow_unsigned.is_some() {
                    if !trusted.is_empty() {
                        let mut keys = Vec::new();
                        for file in &trusted {
                            let pem = std::fs::read_to_string(file).with_context(|| {
                                format!("cannot read public key {}", file.display())
                            })?;
                            let name = file
                                .file_stem()
                                .map_or("publisher".into(), |s| s.to_string_lossy());
                            keys.push(serde_json::json!({ "name": name, "publicKeyPem": pem }));
                        }
                        policy["trustedKeys"] = serde_json::json!(keys);
                    }
                    if let Some(allow) = allow_unsigned {
                        policy["allowUnsigned"] = serde_json::json!(allow);
                    }
                    market_call(&market, "PUT", &path, &[], Some(policy)).await?;
                    policy = market_call(&market, "GET", &path, &[], None).await?;
                }
                println!("tenant {}", market.tenant);
                for key in policy["trustedKeys"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    println!("  trusts {}", key["name"].as_str().unwrap_or_default());
                }
                println!(
                    "  unsigned plugins: {}",
                    if policy["allowUnsigned"] == true {
                        "allowed"
                    } else {
                        "refused"
                    }
                );
            }
            Self::Reject { id, reason, market } => {
                let path = format!("/tenants/{}/requests/{id}/reject", market.tenant);
                let body = serde_json::json!({ "reason": reason });
                let r = market_call(&market, "POST", &path, &[], Some(body)).await?;
                println!("{}", request_line(&r));
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
                public_url,
            } => {
                let authenticator = match &users {
                    Some(path) => Some(load_users(path, anonymous_pull)?),
                    None if listen.ip().is_loopback() => None,
                    None => bail!(
                        "registry serve: listening on {listen} without --users would let anyone on the network push; give --users USERS.json, or listen on 127.0.0.1"
                    ),
                };
                let root = data_dir.join("registry");
                let storage = FsStorage::open(&root).await.with_context(|| {
                    format!("cannot open registry storage in {}", root.display())
                })?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}; is another registry running there? choose another --listen"))?;
                let auth = match authenticator {
                    Some(authenticator) => Some(AuthSettings {
                        authenticator: Arc::new(authenticator),
                        issuer: TokenIssuer::random(Duration::from_secs(300)),
                        service: "n8n-work-registry".into(),
                        realm: token_realm(public_url.as_deref(), listener.local_addr()?)?,
                    }),
                    None => None,
                };
                let registry = Registry::new(
                    Arc::new(storage),
                    RegistryConfig {
                        auth,
                        ..RegistryConfig::default()
                    },
                );
                eprintln!(
                    "registry serving http://{listen}/v2/ from {}",
                    root.display()
                );
                let mut app = crate::router(registry.clone());
                // The marketplace has no auth of its own: on its own the
                // registry serves it only without --users (loopback); the
                // platform mounts it behind its auth.
                if users.is_none() {
                    let dir = data_dir.join("marketplace");
                    let store = FsMarketplaceStore::open(&dir).await.with_context(|| {
                        format!("cannot open marketplace storage in {}", dir.display())
                    })?;
                    let marketplace =
                        Marketplace::new(Arc::clone(registry.storage()), Arc::new(store));
                    app = app.merge(crate::marketplace_router(marketplace));
                }
                axum::serve(listener, app)
                    .await
                    .context("registry server stopped")?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Calls a marketplace route; a refusal becomes an error with the server's message.
async fn market_call(
    market: &MarketArgs,
    method: &str,
    path: &str,
    params: &[(&str, String)],
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let base = market.registry.trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/v2/_marketplace{path}")).with_context(|| {
        format!(
            "--registry `{}` is not a URL; give one like http://127.0.0.1:5000",
            market.registry
        )
    })?;
    for (k, v) in params {
        url.query_pairs_mut().append_pair(k, v);
    }
    let method: http::Method = method.parse().expect("a valid method");
    let mut request = reqwest::Client::new()
        .request(method, url.clone())
        .header(crate::marketplace::ACTOR_HEADER, &market.actor);
    if let Some(key) = &market.api_key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).expect("JSON serializes"));
    }
    let response = request.send().await.with_context(|| {
        format!(
            "cannot reach the marketplace at {url}; is `n8n-work registry serve` running there?"
        )
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .context("reading the marketplace's answer")?;
    let value: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{url} answered {status} with something that is not JSON"))?
    };
    if !status.is_success() {
        match value["error"]["message"].as_str() {
            Some(message) => bail!("{message}"),
            None => bail!("{url} answered {status}"),
        }
    }
    Ok(value)
}

async fn request_install(market: &MarketArgs, reference: &str) -> anyhow::Result<()> {
    let path = format!("/tenants/{}/requests", market.tenant);
    let body = serde_json::json!({ "reference": reference });
    let outcome = market_call(market, "POST", &path, &[], Some(body)).await?;
    let r = &outcome["request"];
    match outcome["status"].as_str().unwrap_or_default() {
        "pending" => {
            println!("{}", request_line(r));
            if let Some(added) = r.get("addedCapabilities") {
                println!("  this upgrade asks for more: {}", capabilities(added));
            }
            println!(
                "  an admin approves it with `n8n-work plugin approve {}`",
                r["id"]
            );
        }
        "unchanged" => println!(
            "{reference} is already installed at {}",
            r["digest"].as_str().unwrap_or_default()
        ),
        _ => println!(
            "installed {} {} pinned at {}",
            r["repository"].as_str().unwrap_or_default(),
            r["version"].as_str().unwrap_or_default(),
            r["digest"].as_str().unwrap_or_default()
        ),
    }
    Ok(())
}

fn capabilities(c: &serde_json::Value) -> String {
    let list = |k: &str| {
        c[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    format!(
        "egress [{}], credentials [{}]",
        list("egress"),
        list("credentialTypes")
    )
}

fn request_line(r: &serde_json::Value) -> String {
    let mut line = format!(
        "request {}: {} {} ({}) {} — {}",
        r["id"],
        r["repository"].as_str().unwrap_or_default(),
        r["version"].as_str().unwrap_or_default(),
        r["digest"].as_str().unwrap_or_default(),
        r["status"].as_str().unwrap_or_default(),
        r["verification"].as_str().unwrap_or_default(),
    );
    if let Some(reason) = r["reason"].as_str() {
        line.push_str(&format!(
            "; {}: {reason}",
            r["decidedBy"].as_str().unwrap_or("")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_realm_is_the_public_url_or_the_listen_address() {
        let listen: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            token_realm(Some("https://registry.example.com/"), listen).unwrap(),
            "https://registry.example.com/v2/token"
        );
        assert_eq!(
            token_realm(None, listen).unwrap(),
            "http://127.0.0.1:5000/v2/token"
        );
        assert_eq!(
            token_realm(None, "0.0.0.0:5000".parse().unwrap()).unwrap(),
            "http://localhost:5000/v2/token"
        );
        let err = token_realm(Some("registry.example.com"), listen).unwrap_err();
        assert!(err.to_string().contains("--public-url"), "{err}");
    }
}
