//! The `n8n-work` binary: command-line parsing, configuration and wiring.
//! The work itself lives in the library crates (`n8n-work-runtime`, ...).

mod client;
mod node;
mod serve;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// n8n-work: workflow automation where every node is a sandboxed
/// WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "n8n-work", version, about, long_about = None)]
struct Cli {
    /// Where n8n-work keeps its data (compiled components, and later the
    /// database).
    #[arg(
        long,
        global = true,
        env = "N8N_WORK_DATA_DIR",
        default_value = "./n8n-work-data"
    )]
    data_dir: PathBuf,

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
    /// Start the server: REST API, webhooks, on the embedded store.
    Serve(serve::ServeArgs),
    /// Run a workflow file to completion and print its final items.
    Run(workflow::RunArgs),
    /// Check workflow files; push, list and activate them on a server.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// List, inspect, follow, cancel and retry runs on a server.
    #[command(subcommand)]
    Execution(client::ExecutionCommand),
    /// Sign, verify, publish and pull plugins (signed OCI artifacts).
    #[command(subcommand)]
    Plugin(n8n_work_registry::cli::PluginCommand),
    /// Run the OCI registry on its own.
    #[command(subcommand)]
    Registry(n8n_work_registry::cli::RegistryCommand),
}

/// The operator's exceptions to the egress policy, shared by the commands
/// that run nodes.
#[derive(Debug, Args)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("N8N_WORK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
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
        match cli.command {
            Command::Node(command) => node::run(command, &cli.data_dir).await,
            Command::Serve(args) => serve::serve(args, &cli.data_dir).await,
            Command::Run(args) => workflow::run(args, &cli.data_dir).await,
            Command::Workflow(command) => {
                workflow::workflow(command, &cli.data_dir, &cli.server).await
            }
            Command::Execution(command) => {
                let client = client::Client::new(&cli.server, &cli.data_dir)?;
                client::execution(command, &client).await
            }
            Command::Plugin(command) => command.run(&cli.data_dir).await,
            Command::Registry(command) => command.run(&cli.data_dir).await,
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
