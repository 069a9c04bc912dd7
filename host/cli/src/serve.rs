//! `n8n-work serve`: the server on the embedded store.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use n8n_work_engine::{Engine, EngineConfig, StaticCredentials, SystemClock};
use n8n_work_store::{DEFAULT_TENANT, Store};
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;

/// `n8n-work serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen [default: 127.0.0.1:5678, n8n's port].
    #[arg(long, env = "N8N_WORK_LISTEN")]
    listen: Option<SocketAddr>,
    /// The largest webhook body accepted, in bytes (413 above) [default:
    /// 16 MiB].
    #[arg(long, env = "N8N_WORK_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Webhook runs open at once; more get 429 with Retry-After [default:
    /// 4096].
    #[arg(long, env = "N8N_WORK_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    #[command(flatten)]
    egress: crate::EgressArgs,
}

/// n8n's port, so habits carry over.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5678);

impl ServeArgs {
    /// The flags, then the configuration file, then the defaults.
    fn resolve(mut self, config: &FileConfig) -> ServeArgs {
        let defaults = n8n_work_api::WebhookLimits::default();
        self.listen = self.listen.or(config.listen).or(Some(DEFAULT_LISTEN));
        self.max_body_bytes = self
            .max_body_bytes
            .or(config.max_body_bytes)
            .or(Some(defaults.max_body_bytes));
        self.max_in_flight = self
            .max_in_flight
            .or(config.max_in_flight)
            .or(Some(defaults.max_in_flight));
        if self.egress.egress_allow_private.is_empty()
            && let Some(list) = &config.egress_allow_private
        {
            self.egress.egress_allow_private = list.clone();
        }
        self
    }

    fn webhook_limits(&self) -> n8n_work_api::WebhookLimits {
        let defaults = n8n_work_api::WebhookLimits::default();
        n8n_work_api::WebhookLimits {
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            max_in_flight: self.max_in_flight.unwrap_or(defaults.max_in_flight),
        }
    }
}

pub(crate) async fn serve(
    args: ServeArgs,
    config: &FileConfig,
    data_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let args = args.resolve(config);
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5678)));
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let store = Store::open_sqlite(&data_dir.join("n8n-work.db")).await?;
    let catalog = crate::workflow::catalog(data_dir, &args.egress.egress_allow_private).await?;
    let config = EngineConfig::default();
    let owner = config.owner.clone();
    let engine = Engine::new(
        store.clone(),
        catalog,
        Arc::new(SystemClock),
        config,
        Arc::new(StaticCredentials::default()),
    );
    // The embedded store is this process's alone: steps a previous process
    // left running go back to the queue now.
    store
        .reclaim(n8n_work_store::now_millis(), Some(&owner))
        .await?;
    if store.api_key_count().await? == 0 {
        let key = n8n_work_api::new_key();
        store
            .add_api_key(
                DEFAULT_TENANT,
                &key[..12],
                &n8n_work_api::key_hash(&key),
                "owner",
                n8n_work_store::now_millis(),
            )
            .await?;
        let path = data_dir.join("cli.key");
        write_private(&path, &key)?;
        println!(
            "Created the owner API key (shown once; saved for the CLI in {}):",
            path.display()
        );
        println!("  {key}");
    }
    let state = n8n_work_api::AppState::new(engine.clone(), args.webhook_limits())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "listening on {}; is another server using it? Pick another with --listen",
                listen
            )
        })?;
    let address = listener.local_addr()?;
    println!(
        "n8n-work listening on http://{address} (data in {})",
        data_dir.display()
    );
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn({
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        async move { engine.serve(shutdown).await }
    });
    let schedules = tokio::spawn({
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        async move {
            engine
                .run_schedules(shutdown, std::time::Duration::from_secs(60))
                .await
        }
    });
    axum::serve(listener, n8n_work_api::router(state))
        .with_graceful_shutdown({
            let shutdown = shutdown.clone();
            async move {
                stop_signal().await;
                println!("n8n-work stopping: finishing requests and steps in flight");
                shutdown.cancel();
            }
        })
        .await?;
    shutdown.cancel();
    worker.await??;
    schedules.await??;
    Ok(ExitCode::SUCCESS)
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
