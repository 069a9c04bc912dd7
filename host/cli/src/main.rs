//! The `n8n-work` binary: command-line parsing, configuration and wiring.
//! The work itself lives in the library crates (`n8n-work-runtime`, ...).

mod access;
mod bus;
mod client;
mod config;
mod import;
mod member;
mod node;
mod serve;
mod sign_in;
mod table;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

// The hot path allocates per request and per step across many threads;
// glibc's allocator spent about a fifth of W1's profile in malloc and free.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// n8n-work: workflow automation where every node is a sandboxed
/// WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "n8n-work", version, about, long_about = None)]
struct Cli {
    /// Where n8n-work keeps its data [default: ./n8n-work-data, or the
    /// configuration file's `data-dir`].
    #[arg(long, global = true, env = "N8N_WORK_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// A TOML configuration file [default: ./n8n-work.toml when it exists].
    /// Flags and N8N_WORK_* variables override it.
    #[arg(long, global = true, env = "N8N_WORK_CONFIG")]
    config: Option<PathBuf>,

    #[command(flatten)]
    server: client::ServerArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run or inspect a single node component.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Start the server: REST API, webhooks, the UI, and the worker.
    Serve(Box<serve::ServeArgs>),
    /// Bring the database's schema up to date and exit.
    Migrate(serve::MigrateArgs),
    /// Run a workflow file to completion and print its final items.
    Run(workflow::RunArgs),
    /// Convert workflows from other tools (`import n8n FILE.json`).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Check workflow files; push, list and activate them on a server.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// List, inspect, follow, cancel and retry runs on a server.
    #[command(subcommand)]
    Execution(client::ExecutionCommand),
    /// Sign, verify, publish and pull plugins (signed OCI artifacts).
    #[command(subcommand)]
    Plugin(n8n_work_registry::cli::PluginCommand),
    /// Make a tenant and its owner key (the platform owner only).
    #[command(subcommand)]
    Tenant(access::TenantCommand),
    /// Make, list and revoke API keys in your tenant.
    #[command(subcommand)]
    Key(access::KeyCommand),
    /// Add, list and remove the people who sign in to the UI with the
    /// OpenID Connect provider (`serve --oidc-issuer`).
    #[command(subcommand)]
    Member(member::MemberCommand),
    /// Read or replace your tenant's Cedar policies.
    #[command(subcommand)]
    Policy(access::PolicyCommand),
    /// Verify or export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(access::AuditCommand),
    /// Rotate the credential vault's master key through the running server.
    #[command(subcommand)]
    Vault(access::VaultCommand),
    /// Run the OCI registry on its own.
    #[command(subcommand)]
    Registry(n8n_work_registry::cli::RegistryCommand),
}

/// The operator's exceptions to the egress policy, shared by the commands
/// that run nodes.
#[derive(Debug, Default, Args)]
pub(crate) struct EgressArgs {
    /// Private addresses nodes may reach anyway: addresses or CIDRs,
    /// comma-separated, such as `127.0.0.1` or `10.0.0.0/8`.
    #[arg(
        long,
        env = "N8N_WORK_EGRESS_ALLOW_PRIVATE",
        value_name = "LIST",
        default_value = ""
    )]
    pub(crate) egress_allow_private: String,
    /// Requests per second nodes may send to a provider host: `HOST=N`,
    /// comma-separated, and `*=N` for every other host. A request over it is
    /// not sent; the node gets a 429 naming the limit [default: no limit].
    #[arg(
        long,
        env = "N8N_WORK_EGRESS_RATE",
        value_name = "LIST",
        default_value = ""
    )]
    pub(crate) egress_rate: String,
}

impl EgressArgs {
    /// The runtime's egress settings these flags make.
    pub(crate) fn config(&self) -> anyhow::Result<n8n_work_runtime::EgressConfig> {
        Ok(n8n_work_runtime::EgressConfig {
            allow_private: self.egress_allow_private.parse()?,
            rates: self.egress_rate.parse()?,
            ..n8n_work_runtime::EgressConfig::default()
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs JSON lines at info (each step's lines carry its run,
    // step and node); the other commands log errors as text.
    // `N8N_WORK_LOG` sets the filter, `N8N_WORK_LOG_FORMAT` text or json.
    let serving = matches!(cli.command, Command::Serve(_));
    let filter = tracing_subscriber::EnvFilter::try_from_env("N8N_WORK_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if serving { "info" } else { "error" })
    });
    let json = match std::env::var("N8N_WORK_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => serving,
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let config = config::load(cli.config.as_deref())?;
        let data_dir = cli
            .data_dir
            .or_else(|| config.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./n8n-work-data"));
        match cli.command {
            Command::Node(command) => node::run(command, &data_dir).await,
            Command::Serve(args) => serve::serve(*args, &config, &data_dir).await,
            Command::Migrate(args) => serve::migrate(args, &data_dir).await,
            Command::Run(args) => workflow::run(args, &data_dir).await,
            Command::Import(command) => {
                import::run(command, || client::Client::new(&cli.server, &data_dir)).await
            }
            Command::Workflow(command) => workflow::workflow(command, &data_dir, &cli.server).await,
            Command::Execution(command) => {
                let client = client::Client::new(&cli.server, &data_dir)?;
                client::execution(command, &client).await
            }
            Command::Tenant(command) => {
                access::tenant(command, &client::Client::new(&cli.server, &data_dir)?).await
            }
            Command::Key(command) => {
                access::key(command, &client::Client::new(&cli.server, &data_dir)?).await
            }
            Command::Member(command) => {
                member::member(command, &client::Client::new(&cli.server, &data_dir)?).await
            }
            Command::Policy(command) => {
                access::policy(command, &client::Client::new(&cli.server, &data_dir)?).await
            }
            Command::Vault(command) => {
                access::vault(command, &client::Client::new(&cli.server, &data_dir)?).await
            }
            Command::Audit(command) => {
                access::audit(command, &data_dir, || {
                    client::Client::new(&cli.server, &data_dir)
                })
                .await
            }
            Command::Plugin(mut command) => {
                // A marketplace served by `serve` decides with the platform's key.
                if let Some(market) = command.market_mut() {
                    market.api_key = cli.server.key(&data_dir);
                }
                command.run(&data_dir).await
            }
            Command::Registry(command) => command.run(&data_dir).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
