//! `n8n-work run` and `n8n-work workflow validate`: workflows from files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use n8n_work_engine::{Catalog, Credentials, Engine, EngineConfig, StaticCredentials, SystemClock};
use n8n_work_model::{ControlKind, Workflow};
use n8n_work_runtime::{Item, Runtime, RuntimeConfig};
use n8n_work_store::{DEFAULT_TENANT, ExecutionStatus, Store};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::node::{parse_credentials, read_json};

/// `n8n-work run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The workflow: a YAML or JSON file.
    file: PathBuf,
    /// The trigger's input: JSON, `@file.json` or `-` for stdin. A webhook
    /// trigger gets it as `body`, as n8n's webhook does.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Another workflow the run may start (an error workflow, a
    /// sub-workflow), by file (repeatable).
    #[arg(long = "with", value_name = "FILE")]
    with: Vec<PathBuf>,
    /// A stored credential the workflow names: `NAME=JSON` (repeatable).
    #[arg(long = "credential", value_name = "NAME=JSON")]
    credentials: Vec<String>,
    /// A component file for a plugin type the workflow uses, such as
    /// `me/hello@0.1.0=dist/node.wasm` (repeatable): run a node you are
    /// writing without publishing it.
    #[arg(long = "node", value_name = "TYPE=FILE")]
    nodes: Vec<String>,
    /// Keep the run in this directory instead of a temporary store. Running
    /// again with the same `--store` and `--id` continues that run after a
    /// crash instead of starting another.
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The run's id (default: a new one).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    egress: crate::EgressArgs,
}

/// `n8n-work workflow ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCommand {
    /// Check a workflow file: types, connections, cycles, credentials and
    /// grants. Prints each problem with its path and line.
    Validate {
        /// The workflows: YAML or JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    #[command(flatten)]
    Remote(crate::client::RemoteWorkflow),
}

fn read_workflow(file: &Path) -> anyhow::Result<Workflow> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let is_json = file.extension().is_some_and(|e| e == "json");
    let parsed = if is_json {
        Workflow::from_json(&text)
    } else {
        Workflow::from_yaml(&text)
    };
    parsed.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// The built-in components, and the local component files `nodes` names
/// (`TYPE=FILE`), under the egress settings `egress`; and each tenant's
/// installed plugins from `plugins`, if given.
pub(crate) async fn catalog(
    data_dir: &Path,
    egress: &crate::EgressArgs,
    nodes: &[String],
    plugins: Option<Arc<dyn n8n_work_engine::PluginSource>>,
) -> anyhow::Result<Arc<Catalog>> {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(n8n_work_runtime::shared_cache_dir(data_dir)),
        egress: egress.config()?,
        max_instances: 64,
        ..RuntimeConfig::default()
    })?;
    let mut catalog = Catalog::builtins(Arc::new(runtime)).await?;
    for entry in nodes {
        let (node_type, file) = entry.split_once('=').with_context(|| {
            format!(
                "--node `{entry}`: write it as TYPE=FILE, such as me/hello@0.1.0=dist/node.wasm"
            )
        })?;
        let wasm = std::fs::read(file).with_context(|| format!("--node: reading {file}"))?;
        catalog
            .add(node_type, &wasm)
            .await
            .with_context(|| format!("--node: loading {file}"))?;
    }
    Ok(Arc::new(match plugins {
        Some(source) => catalog.with_plugins(source),
        None => catalog,
    }))
}

/// An engine over `store` with the components of `catalog`. With `exclusive`
/// (a store only this process uses), steps a previous process left
/// running go back to the queue at once instead of when their lease ends.
pub(crate) async fn engine(
    store: &Store,
    catalog: Arc<Catalog>,
    credentials: Arc<dyn Credentials>,
    config: EngineConfig,
    exclusive: bool,
) -> anyhow::Result<Engine> {
    let owner = config.owner.clone();
    let engine = Engine::new(
        store.clone(),
        catalog,
        Arc::new(SystemClock),
        config,
        credentials,
    );
    if exclusive {
        store
            .reclaim(n8n_work_store::now_millis(), Some(&owner))
            .await?;
    }
    Ok(engine)
}

pub(crate) async fn workflow(
    command: WorkflowCommand,
    data_dir: &Path,
    server: &crate::client::ServerArgs,
) -> anyhow::Result<ExitCode> {
    match command {
        WorkflowCommand::Remote(command) => {
            let client = crate::client::Client::new(server, data_dir)?;
            crate::client::workflow(command, &client).await
        }
        WorkflowCommand::Validate { files } => {
            let catalog = catalog(data_dir, &crate::EgressArgs::default(), &[], None).await?;
            let mut failed = false;
            for file in &files {
                failed |= !validate_file(file, &catalog);
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Prints `file: valid`, or each problem as `file:line:column: path:
/// message`; whether the file is valid.
fn validate_file(file: &Path, catalog: &Catalog) -> bool {
    let workflow = match read_workflow(file) {
        Ok(workflow) => workflow,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    let Err(errors) = n8n_work_engine::validate(&workflow, catalog) else {
        println!("{}: valid", file.display());
        return true;
    };
    for error in &errors {
        match &error.location {
            Some(at) => eprintln!(
                "{}:{}:{}: {}: {}",
                file.display(),
                at.line,
                at.column,
                error.path,
                error.message
            ),
            None => eprintln!("{}: {}: {}", file.display(), error.path, error.message),
        }
    }
    eprintln!("{} problem(s) in {}", errors.len(), file.display());
    false
}

pub(crate) async fn run(args: RunArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let workflow = read_workflow(&args.file)?;
    let input = read_json(&args.input).context("--input")?;
    let credentials = parse_credentials(&args.credentials)?;
    let temporary;
    let dir = match &args.store {
        Some(dir) => {
            crate::serve::private_dir(dir)?;
            dir.clone()
        }
        None => {
            temporary = tempfile::tempdir().context("creating a temporary store")?;
            temporary.path().to_path_buf()
        }
    };
    let store = crate::serve::open_private_sqlite(&dir.join("n8n-work.db")).await?;
    let catalog = catalog(data_dir, &args.egress, &args.nodes, None).await?;
    let engine = engine(
        &store,
        catalog,
        Arc::new(StaticCredentials(credentials)),
        EngineConfig::default(),
        true,
    )
    .await?;
    for file in &args.with {
        let other = read_workflow(file)?;
        engine
            .deploy(DEFAULT_TENANT, &other)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    let version = engine
        .deploy(DEFAULT_TENANT, &workflow)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let webhook = workflow
        .nodes
        .iter()
        .find(|n| n.node_type.is_trigger())
        .map(|n| n.node_type.control())
        == Some(Some(ControlKind::Webhook));
    let input = if webhook {
        json!({ "body": input, "headers": {}, "query": {}, "params": {} })
    } else {
        input
    };
    let items = Item::list_from_value(input).map_err(|e| anyhow::anyhow!("--input: {e}"))?;
    let id = engine
        .start(DEFAULT_TENANT, &version, items, args.id.clone())
        .await?;
    let shutdown = CancellationToken::new();
    let mut worker = tokio::spawn({
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        async move { engine.serve(shutdown).await }
    });
    let row = tokio::select! {
        row = engine.wait(DEFAULT_TENANT, &id) => row?,
        result = &mut worker => {
            result??;
            bail!("the engine stopped before run {id} ended");
        }
    };
    shutdown.cancel();
    worker.await??;
    // Runs this one started (its error workflow) finish before the store goes.
    engine.run_until_idle().await?;
    let items = row.output();
    match row.status {
        ExecutionStatus::Succeeded => {
            println!("{}", serde_json::to_string_pretty(&items)?);
            Ok(ExitCode::SUCCESS)
        }
        status => {
            let message = row
                .error
                .as_ref()
                .map(|e| {
                    format!(
                        "{} (node `{}`)",
                        e["message"].as_str().unwrap_or("?"),
                        e["node"].as_str().unwrap_or("?")
                    )
                })
                .unwrap_or_default();
            eprintln!("error: run {id} {}: {message}", status.as_str());
            Ok(ExitCode::FAILURE)
        }
    }
}
