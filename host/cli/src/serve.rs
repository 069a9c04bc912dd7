//! `n8n-work serve`: the server on the embedded store.

use std::io::Write as _;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use futures::future::BoxFuture;
use n8n_work_engine::{Credentials, EngineConfig};
use n8n_work_store::{DEFAULT_TENANT, Store};
use n8n_work_vault::{
    MasterKeyConfig, MasterKeyOrigin, Vault, key_file_permission_warning, key_file_warning,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;

/// `n8n-work serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen [default: 127.0.0.1:5678, n8n's port].
    #[arg(long, env = "N8N_WORK_LISTEN")]
    listen: Option<SocketAddr>,
    /// Serve webhooks (`/webhook/...`, `/resume/...`) here, on an origin of
    /// their own, and not on --listen: no page a workflow answers with can
    /// then act on the UI's origin [default: webhooks on --listen].
    #[arg(long, env = "N8N_WORK_WEBHOOK_LISTEN")]
    webhook_listen: Option<SocketAddr>,
    /// Where senders reach the webhooks when a proxy stands in front of
    /// --webhook-listen (`https://hooks.example.com`), for the resume URLs
    /// the API gives [default: http:// and --webhook-listen].
    #[arg(long, env = "N8N_WORK_PUBLIC_WEBHOOK_URL")]
    public_webhook_url: Option<String>,
    /// The largest webhook body accepted, in bytes (413 above) [default:
    /// 16 MiB].
    #[arg(long, env = "N8N_WORK_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Webhook requests open at once, with the runs they started while
    /// those are at work (a run parked on a Wait gives its place back),
    /// over every tenant; more get 429 with Retry-After [default: 4096].
    #[arg(long, env = "N8N_WORK_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    /// Webhook requests one tenant may have open at once, so a flood on one
    /// tenant's webhooks leaves room for the others'; more get 429
    /// [default: --max-in-flight shared by the tenants with webhooks, up to
    /// four: all of it for one, half for two, a quarter from four on].
    #[arg(long, env = "N8N_WORK_WEBHOOK_IN_FLIGHT_PER_TENANT")]
    webhook_in_flight_per_tenant: Option<usize>,
    /// Bytes of webhook bodies held in memory at once, over every request;
    /// more get 503 with Retry-After [default: 256 MiB].
    #[arg(long, env = "N8N_WORK_WEBHOOK_BUFFERED_BYTES")]
    webhook_buffered_bytes: Option<usize>,
    /// Seconds a webhook body may take to arrive, all of it; slower ones get
    /// 408 [default: 30].
    #[arg(long, env = "N8N_WORK_WEBHOOK_BODY_TIMEOUT_SECS")]
    webhook_body_timeout_secs: Option<u64>,
    /// What this process does: `all` (the default) serves the API and runs
    /// steps; `api` and `worker` split them across processes on a shared
    /// PostgreSQL database.
    #[arg(long, env = "N8N_WORK_ROLE", value_enum)]
    role: Option<Role>,
    /// A PostgreSQL URL (`postgres://user:pass@host/db`) to share between
    /// processes, instead of the embedded SQLite file.
    #[arg(long, env = "N8N_WORK_DATABASE_URL")]
    database_url: Option<String>,
    /// A Redis URL (`redis://host:6379`): processes wake each other and
    /// share live events and the webhook replay cache through it.
    #[arg(long, env = "N8N_WORK_REDIS_URL")]
    redis_url: Option<String>,
    /// What every Redis key and channel of this deployment starts with, so
    /// deployments sharing one Redis stay apart [default: n8n-work].
    #[arg(long, env = "N8N_WORK_REDIS_PREFIX")]
    redis_prefix: Option<String>,
    /// How long a worker's claim on a step holds without a heartbeat, in
    /// milliseconds: when a worker dies, its steps run elsewhere after this
    /// [default: 30000]. Heartbeats go every third of it.
    #[arg(long, env = "N8N_WORK_LEASE_MS")]
    lease_ms: Option<u64>,
    /// API calls and webhook deliveries each tenant may make per second;
    /// more get 429, counted across replicas through Redis [default: no
    /// limit].
    #[arg(long, env = "N8N_WORK_TENANT_REQUESTS_PER_SECOND")]
    tenant_requests_per_second: Option<NonZeroU32>,
    /// Runs each tenant may have open at once; new ones get 429 [default:
    /// no limit].
    #[arg(long, env = "N8N_WORK_TENANT_RUNNING_EXECUTIONS")]
    tenant_running_executions: Option<u64>,
    /// Steps the runs each tenant starts in an hour may make; past it, new
    /// runs get 429 [default: no limit].
    #[arg(long, env = "N8N_WORK_TENANT_STEPS_PER_HOUR")]
    tenant_steps_per_hour: Option<u64>,
    /// A component file to serve as a node type, such as
    /// `me/hello@0.1.0=dist/node.wasm` (repeatable): try a node you are
    /// writing in workflows on a server without publishing it.
    #[arg(long = "node", value_name = "TYPE=FILE")]
    nodes: Vec<String>,
    #[command(flatten)]
    egress: crate::EgressArgs,
    #[command(flatten)]
    sign_in: crate::sign_in::SignInArgs,
}

/// What a `serve` process does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// The API and the worker.
    #[default]
    All,
    /// The API, webhooks and the UI; steps run elsewhere.
    Api,
    /// Runs steps and schedules; answers only /healthz, /readyz, /metrics.
    Worker,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }
}

/// The shortest step lease `--lease-ms` accepts.
const MIN_LEASE_MS: u64 = 300;

/// n8n's port, so habits carry over.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5678);

impl ServeArgs {
    /// The flags, then the configuration file, then the defaults.
    fn resolve(mut self, config: &FileConfig) -> ServeArgs {
        let defaults = n8n_work_api::WebhookLimits::default();
        self.listen = self.listen.or(config.listen).or(Some(DEFAULT_LISTEN));
        self.webhook_listen = self.webhook_listen.or(config.webhook_listen);
        self.public_webhook_url = self
            .public_webhook_url
            .or_else(|| config.public_webhook_url.clone());
        self.max_body_bytes = self
            .max_body_bytes
            .or(config.max_body_bytes)
            .or(Some(defaults.max_body_bytes));
        self.max_in_flight = self
            .max_in_flight
            .or(config.max_in_flight)
            .or(Some(defaults.max_in_flight));
        self.webhook_in_flight_per_tenant = self
            .webhook_in_flight_per_tenant
            .or(config.webhook_in_flight_per_tenant);
        self.webhook_buffered_bytes = self
            .webhook_buffered_bytes
            .or(config.webhook_buffered_bytes);
        self.webhook_body_timeout_secs = self
            .webhook_body_timeout_secs
            .or(config.webhook_body_timeout_secs);
        self.role = self.role.or(config.role);
        self.database_url = self.database_url.or_else(|| config.database_url.clone());
        self.redis_url = self.redis_url.or_else(|| config.redis_url.clone());
        self.redis_prefix = self.redis_prefix.or_else(|| config.redis_prefix.clone());
        self.lease_ms = self.lease_ms.or(config.lease_ms);
        self.tenant_requests_per_second = self
            .tenant_requests_per_second
            .or(config.tenant_requests_per_second);
        self.tenant_running_executions = self
            .tenant_running_executions
            .or(config.tenant_running_executions);
        self.tenant_steps_per_hour = self.tenant_steps_per_hour.or(config.tenant_steps_per_hour);
        if self.egress.egress_allow_private.is_empty()
            && let Some(list) = &config.egress_allow_private
        {
            self.egress.egress_allow_private = list.clone();
        }
        if self.egress.egress_rate.is_empty()
            && let Some(list) = &config.egress_rate
        {
            self.egress.egress_rate = list.clone();
        }
        self.sign_in.resolve(config);
        self
    }

    fn redis_prefix(&self) -> String {
        self.redis_prefix
            .clone()
            .unwrap_or_else(|| "n8n-work".to_owned())
    }

    fn tenant_limits(&self) -> n8n_work_api::TenantLimits {
        n8n_work_api::TenantLimits {
            requests_per_second: self.tenant_requests_per_second,
            running_executions: self.tenant_running_executions,
            steps_per_hour: self.tenant_steps_per_hour,
        }
    }

    fn webhook_limits(&self) -> n8n_work_api::WebhookLimits {
        let defaults = n8n_work_api::WebhookLimits::default();
        n8n_work_api::WebhookLimits {
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            max_in_flight: self.max_in_flight.unwrap_or(defaults.max_in_flight),
            max_in_flight_per_tenant: self.webhook_in_flight_per_tenant,
            max_buffered_bytes: self
                .webhook_buffered_bytes
                .unwrap_or(defaults.max_buffered_bytes),
            body_timeout: self
                .webhook_body_timeout_secs
                .map_or(defaults.body_timeout, std::time::Duration::from_secs),
        }
    }
}

pub(crate) async fn serve(
    args: ServeArgs,
    config: &FileConfig,
    data_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let args = args.resolve(config);
    let listen = args.listen.unwrap_or(DEFAULT_LISTEN);
    let role = args.role.unwrap_or_default();
    if let Some(ms) = args.lease_ms
        && ms < MIN_LEASE_MS
    {
        bail!(
            "lease-ms {ms}: a lease that short lapses between heartbeats on a busy machine, and steps would run twice; use {MIN_LEASE_MS} or more (the default is 30000)"
        );
    }
    private_dir(data_dir)?;
    let store = match &args.database_url {
        Some(url) => Store::open(url)
            .await
            .with_context(|| format!("opening the database at {}", redacted(url)))?,
        None => open_private_sqlite(&data_dir.join("n8n-work.db")).await?,
    };
    let shared = args.database_url.is_some();
    if !shared && role != Role::All {
        bail!(
            "--role {} needs a shared database: set --database-url (N8N_WORK_DATABASE_URL) to PostgreSQL; the embedded store serves one process",
            role.as_str()
        );
    }
    let (vault, key_file) = open_vault(&store, data_dir, &args.egress).await?;
    let registry_storage = registry_storage(data_dir).await?;
    let marketplace = {
        let dir = data_dir.join("marketplace");
        let store = n8n_work_registry::marketplace::FsMarketplaceStore::open(&dir)
            .await
            .with_context(|| format!("opening the marketplace's storage in {}", dir.display()))?;
        n8n_work_registry::Marketplace::new(Arc::clone(&registry_storage), Arc::new(store))
    };
    let catalog = crate::workflow::catalog(
        data_dir,
        &args.egress,
        &args.nodes,
        Some(Arc::new(InstalledPlugins(marketplace.clone()))),
    )
    .await?;
    let engine = crate::workflow::engine(
        &store,
        catalog,
        Arc::new(VaultCredentials(vault.clone())),
        EngineConfig {
            // With Redis, changes wake idle workers; polling is the fallback.
            idle_poll_ms: if args.redis_url.is_some() {
                5_000
            } else {
                1_000
            },
            // Ends and parks in this process tell its waiters, and Redis
            // tells them of other processes'; only processes sharing a
            // database without Redis need to look often.
            waiter_poll_ms: if !shared {
                60_000
            } else if args.redis_url.is_some() {
                10_000
            } else {
                1_000
            },
            lease_ms: args
                .lease_ms
                .map_or(EngineConfig::default().lease_ms, |ms| {
                    i64::try_from(ms).unwrap_or(i64::MAX)
                }),
            // A process that works runs the runs it starts itself; an
            // API-only one leaves them to the workers.
            starts_here: role != Role::Api,
            ..EngineConfig::default()
        },
        // Only the embedded store is this process's alone.
        !shared,
    )
    .await?;
    if role != Role::Worker && store.api_key_count().await? == 0 {
        let key = n8n_work_api::new_key();
        store
            .add_api_key(
                n8n_work_store::NewApiKey {
                    tenant: DEFAULT_TENANT.to_owned(),
                    name: "owner".to_owned(),
                    prefix: key[..12].to_owned(),
                    hash: n8n_work_api::key_hash(&key),
                    role: "owner".to_owned(),
                    scopes: vec!["*".to_owned()],
                    expires_at: None,
                },
                n8n_work_store::now_millis(),
            )
            .await?;
        let path = data_dir.join("cli.key");
        write_private(&path, &key)?;
        // Logs (a container's, a service's) keep what is printed: the key
        // goes only to a person at a terminal.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!(
                "Created the tenant `{DEFAULT_TENANT}` and its owner API key (shown once; saved for the CLI in {}):",
                path.display()
            );
            println!("  {key}");
        } else {
            println!(
                "Created the tenant `{DEFAULT_TENANT}` and its owner API key; it is not printed, as output is not a terminal: read it from {}",
                path.display()
            );
        }
    }
    let redis = match &args.redis_url {
        Some(url) => Some(
            redis::Client::open(url.as_str())
                .with_context(|| format!("the Redis URL {}", redacted(url)))?,
        ),
        None => None,
    };
    if redis.is_some() {
        engine.metrics().uses_redis();
    }
    let state = n8n_work_api::AppState::new(engine.clone(), args.webhook_limits())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let audit = audit_key()?;
    // Every process on a shared database seals one chain: a replica with a
    // key of its own would break it with its first entry, so it does not
    // start.
    if shared
        && store
            .audit_tail_sealed_by(&n8n_work_store::audit::AuditKey::new(audit))
            .await?
            == Some(false)
    {
        bail!(
            "the audit log in this database was sealed with another audit key than this process's: give every process of a deployment the same key, from one secret (N8N_WORK_AUDIT_KEY, or N8N_WORK_AUDIT_KEY_FILE), as the processes already running have"
        );
    }
    let state = state
        .with_vault(vault.clone(), key_file.as_deref())
        .with_audit(audit, audit_head_file(data_dir));
    let state = match &redis {
        Some(client) => state.with_redis(client.clone(), &args.redis_prefix()),
        None => state,
    }
    .with_tenant_limits(args.tenant_limits());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("listening on {listen}; is another server using it? Pick another with --listen")
        })?;
    let address = listener.local_addr()?;
    let state = state.with_public_url(args.sign_in.public_url());
    let hooks = match args.webhook_listen.filter(|_| role != Role::Worker) {
        Some(at) => Some(tokio::net::TcpListener::bind(at).await.with_context(|| {
            format!("listening for webhooks on {at}; is another server using it? Pick another with --webhook-listen")
        })?),
        None => None,
    };
    let state = match &hooks {
        Some(hooks) => {
            let url = match &args.public_webhook_url {
                Some(url) => url.clone(),
                None => format!("http://{}", hooks.local_addr()?),
            };
            state.with_webhooks_at(&url)
        }
        None => state,
    };
    let state = match args.sign_in.settings(address)? {
        Some(settings) => {
            let (state, redirect) = state.with_oidc(settings)?;
            println!(
                "Single sign-on with OpenID Connect is on; register {redirect} as a redirect URL with the provider"
            );
            state
        }
        None => state,
    };
    if let Some(hooks) = &hooks {
        println!(
            "webhooks are served apart, on http://{} (only there, not on {address})",
            hooks.local_addr()?
        );
    }
    println!(
        "n8n-work listening on http://{address} (role {}, data in {})",
        role.as_str(),
        match &args.database_url {
            Some(url) => redacted(url),
            None => data_dir.display().to_string(),
        }
    );
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(client) = redis {
        let (engine, shutdown, prefix) = (engine.clone(), shutdown.clone(), args.redis_prefix());
        let vault = vault.clone();
        tasks.spawn(async move {
            crate::bus::run(client, &prefix, engine, Some(vault), shutdown).await;
            Ok(())
        });
    }
    if role != Role::Api {
        let (worker, stop) = (engine.clone(), shutdown.clone());
        tasks.spawn(async move { worker.serve(stop).await });
        // Each tick's run has a fixed id, so schedulers in several workers
        // start it once.
        let (scheduler, stop) = (engine.clone(), shutdown.clone());
        tasks.spawn(async move {
            scheduler
                .run_schedules(stop, std::time::Duration::from_secs(60))
                .await
        });
    }
    if let Some(hooks) = hooks {
        let router = n8n_work_api::webhook_router(state.clone());
        let stop = shutdown.clone();
        tasks.spawn(async move {
            axum::serve(
                hooks,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .map_err(|e| {
                n8n_work_engine::EngineError::Internal(format!("the webhook listener stopped: {e}"))
            })
        });
    }
    let router = if role == Role::Worker {
        n8n_work_api::operations_router(state)
    } else {
        let realm = format!("{}/v2/token", args.sign_in.public_url_or(address));
        let registry = plugin_registry(registry_storage, &state, &audit, realm);
        n8n_work_api::router(state.clone())
            .merge(n8n_work_registry::router(registry))
            .merge(
                n8n_work_registry::marketplace_router(marketplace).route_layer(
                    axum::middleware::from_fn_with_state(state, n8n_work_api::guard_marketplace),
                ),
            )
    };
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        let shutdown = shutdown.clone();
        async move {
            stop_signal().await;
            // Whoever started us may have closed stdout already; a shutdown
            // must not fail on a message.
            let _ = writeln!(
                std::io::stdout(),
                "n8n-work stopping: finishing requests and steps in flight"
            );
            shutdown.cancel();
        }
    })
    .await?;
    shutdown.cancel();
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(ExitCode::SUCCESS)
}

/// The credential vault, with the master key from the environment or the
/// key file; a key that does not open the stored data keys stops the start.
/// The plugin registry's storage, in `data_dir/registry`.
async fn registry_storage(
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn n8n_work_registry::storage::RegistryStorage>> {
    let root = data_dir.join("registry");
    let storage = n8n_work_registry::storage::FsStorage::open(&root)
        .await
        .with_context(|| {
            format!(
                "opening the plugin registry's storage in {}",
                root.display()
            )
        })?;
    Ok(Arc::new(storage))
}

/// A tenant's installed plugins, as the engine resolves a workflow's
/// `NAMESPACE/NAME@VERSION` nodes: from the marketplace, checked again.
struct InstalledPlugins(n8n_work_registry::Marketplace);

impl n8n_work_engine::PluginSource for InstalledPlugins {
    fn installed<'a>(
        &'a self,
        tenant: &'a str,
        repository: &'a str,
        version: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Option<n8n_work_engine::InstalledComponent>, String>>
    {
        Box::pin(async move {
            let found = self
                .0
                .installed_component(tenant, repository, version)
                .await
                .map_err(|e| e.to_string())?;
            let Some((installed, wasm)) = found else {
                return Ok(None);
            };
            Ok(Some(n8n_work_engine::InstalledComponent {
                digest: installed.digest.to_string(),
                wasm,
                approved_egress: installed.capabilities.egress,
            }))
        })
    }

    fn list<'a>(
        &'a self,
        tenant: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Vec<(String, String)>, String>> {
        Box::pin(async move {
            let installed = self.0.installed(tenant).await.map_err(|e| e.to_string())?;
            Ok(installed
                .into_iter()
                .map(|i| (i.repository, i.version))
                .collect())
        })
    }
}

/// The plugin registry served at `/v2/`, its blobs in `<data dir>/registry`,
/// its logins the platform's API keys. Its tokens are signed with a key
/// derived from the audit key, so every API replica accepts the others'.
/// Clients log in at `realm` (under the public URL, never the request's
/// `Host`).
fn plugin_registry(
    storage: Arc<dyn n8n_work_registry::storage::RegistryStorage>,
    state: &n8n_work_api::AppState,
    audit_key: &[u8; 32],
    realm: String,
) -> n8n_work_registry::Registry {
    use sha2::Digest as _;
    let mut token_key = sha2::Sha256::new();
    token_key.update(b"n8n-work registry tokens\0");
    token_key.update(audit_key);
    n8n_work_registry::Registry::new(
        storage,
        n8n_work_registry::RegistryConfig {
            auth: Some(n8n_work_registry::server::AuthSettings {
                authenticator: state.registry_authenticator(),
                issuer: n8n_work_registry::server::TokenIssuer::new(
                    token_key.finalize().into(),
                    std::time::Duration::from_secs(300),
                ),
                service: "n8n-work".to_owned(),
                realm,
            }),
            ..n8n_work_registry::RegistryConfig::default()
        },
    )
}

/// The vault, and the file its master key came from (if it did).
/// OAuth2 credentials' token requests reach what nodes may: public
/// addresses, and the private ones `--egress-allow-private` names.
async fn open_vault(
    store: &Store,
    data_dir: &Path,
    egress: &crate::EgressArgs,
) -> anyhow::Result<(Arc<Vault>, Option<std::path::PathBuf>)> {
    let allowed = egress.config()?.allow_private;
    let (key, origin) = MasterKeyConfig::from_env().load()?;
    if let Some(file) = origin.file() {
        for warning in [
            key_file_warning(file, data_dir),
            key_file_permission_warning(file),
        ]
        .into_iter()
        .flatten()
        {
            tracing::warn!("{warning}");
            eprintln!("warning: {warning}");
        }
    }
    if let MasterKeyOrigin::DefaultFile {
        path,
        created: true,
    } = &origin
    {
        println!(
            "Created the master key for credentials in {} (back it up: without it stored credentials cannot be read)",
            path.display()
        );
    }
    let check: n8n_work_vault::AddressCheck = Arc::new(move |ip| {
        let why = n8n_work_runtime::egress::non_public_reason(ip)?;
        (!allowed.allows(ip))
            .then(|| format!("{why}; allow it with --egress-allow-private {ip} if it is meant"))
    });
    let vault = Arc::new(
        Vault::new(store.clone(), Arc::new(key))
            .reloading(MasterKeyConfig::from_env())
            .with_oauth2_http(n8n_work_vault::OAuth2Http::new(check)),
    );
    vault.check().await?;
    Ok((vault, origin.file().map(Path::to_path_buf)))
}

/// The audit log's HMAC key, from outside the database (see
/// `n8n_work_vault::audit_key`); says so when it is made.
pub(crate) fn audit_key() -> anyhow::Result<[u8; 32]> {
    let (key, origin, created) = n8n_work_vault::audit_key()?;
    if created {
        println!(
            "Created the audit log's HMAC key in {origin} (back it up: `n8n-work audit verify` needs it)"
        );
    }
    Ok(*key)
}

/// Where the audit log's head is checkpointed: `N8N_WORK_AUDIT_HEAD_FILE`,
/// else `audit.head` beside the audit key (outside the data directory, so
/// whoever can rewrite the database cannot as easily move the checkpoint
/// too), else in the data directory when this user has no config directory.
pub(crate) fn audit_head_file(data_dir: &Path) -> std::path::PathBuf {
    std::env::var_os("N8N_WORK_AUDIT_HEAD_FILE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(n8n_work_vault::default_audit_head_file)
        .unwrap_or_else(|| data_dir.join("audit.head"))
}

/// The engine's credentials: by name, from the vault of the run's tenant.
struct VaultCredentials(Arc<Vault>);

impl Credentials for VaultCredentials {
    fn get<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async move {
            self.0.for_node(tenant, name).await.map_err(|e| {
                tracing::warn!(error = %e, credential = name, "a credential could not be had");
                e.to_string()
            })
        })
    }
}

/// A database or Redis URL without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `n8n-work migrate`: brings the database's schema up to this binary's
/// and exits (Kubernetes runs it as a Job before rolling out).
pub(crate) async fn migrate(args: MigrateArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let target = match &args.database_url {
        Some(url) => {
            Store::open(url).await?;
            redacted(url)
        }
        None => {
            private_dir(data_dir)?;
            let path = data_dir.join("n8n-work.db");
            open_private_sqlite(&path).await?;
            path.display().to_string()
        }
    };
    println!("the schema of {target} is up to date");
    Ok(ExitCode::SUCCESS)
}

/// `n8n-work migrate`.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// The database: a PostgreSQL URL (default: the embedded store in the
    /// data directory).
    #[arg(long, env = "N8N_WORK_DATABASE_URL")]
    database_url: Option<String>,
}

/// Ctrl-C, or SIGTERM (what service managers and Kubernetes send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Writes `text` to `path`, readable by its owner only.
/// Makes directory `dir` (and its parents) readable by this user alone
/// (0700 on Unix), if it does not exist.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))
}

/// Opens the SQLite file at `path`, made first (0600 on Unix) if it does
/// not exist, so the database is this user's alone; SQLite gives its
/// journal files the same permissions.
pub(crate) async fn open_private_sqlite(path: &Path) -> anyhow::Result<Store> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("creating the database {}", path.display()));
        }
    }
    Ok(Store::open_sqlite(path).await?)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{text}")?;
    Ok(())
}
