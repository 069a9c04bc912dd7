//! `n8n-work node …`: run or describe one node component on its own, and
//! the node author's loop (`new`, `build`, `test`, `docs`, `publish`).

mod js_sdk;
mod project;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use n8n_work_runtime::{
    Grant, Item, LogLine, Runtime, RuntimeConfig, StepOutcome, StepReport, StepRequest,
};

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// Run one step of a node and print its output items as JSON.
    Run(RunArgs),
    /// Print a node's spec (parameters schema, credentials, egress, ports).
    Describe(NodeArgs),
    /// Create a node project: source, a test, a README and its build files.
    New(project::NewArgs),
    /// Build a node project into dist/node.wasm and precompile it.
    Build(project::ProjectArgs),
    /// Build a node project, run its tests, then its tests/cases.json
    /// through the real runtime.
    Test(project::TestArgs),
    /// Write a node's reference (Markdown) from its spec.
    Docs(project::DocsArgs),
    /// Publish a node project's component as a plugin (as `plugin publish`).
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    project: project::ProjectArgs,
    /// Publish this component instead of the project's build: a `.wasm`
    /// file, or a built-in (`builtin:slack`).
    #[arg(long, value_name = "FILE.wasm|builtin:NAME")]
    component: Option<String>,
    /// Where to publish it.
    #[arg(long = "ref", value_name = "HOST/NS/NAME:VERSION")]
    reference: String,
    /// Sign with this private key.
    #[arg(long, value_name = "KEY")]
    key: Option<std::path::PathBuf>,
    /// How to log in to the registry.
    #[command(flatten)]
    login: n8n_work_registry::cli::RegistryLogin,
}

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// A component file (`node.wasm`) or a built-in (`builtin:http`, `builtin:slack`).
    node: String,

    #[command(flatten)]
    egress: crate::EgressArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    node: NodeArgs,

    /// The node's parameters: JSON, `@file.json`, or `-` for stdin.
    #[arg(long, default_value = "{}")]
    params: String,

    /// Input items: a JSON object (one item), an array of objects, `@file.json`, or `-`.
    #[arg(long, default_value = "[]")]
    input: String,

    /// Grant a credential to the node: `NAME=JSON` (repeatable).
    #[arg(long = "credential", value_name = "NAME=JSON")]
    credentials: Vec<String>,

    /// Let the node reach an origin, such as `https://api.slack.com` (repeatable).
    #[arg(long = "grant", value_name = "ORIGIN")]
    grants: Vec<String>,

    /// Fuel for the step (about one unit per wasm instruction).
    #[arg(long)]
    fuel: Option<u64>,

    /// Memory for the step, in MiB.
    #[arg(long, value_name = "MIB")]
    memory: Option<usize>,

    /// Wall-clock limit for the step, in milliseconds.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,

    /// Print the whole step report (outcome, usage, logs) as JSON.
    #[arg(long)]
    report: bool,
}

pub(crate) async fn run(command: NodeCommand, data_dir: &Path) -> anyhow::Result<ExitCode> {
    match command {
        NodeCommand::Describe(args) => {
            let (runtime, wasm) = prepare(&args, data_dir)?;
            let node = runtime
                .load(&wasm)
                .await
                .with_context(|| format!("loading `{}`", args.node))?;
            println!("{}", serde_json::to_string_pretty(node.spec())?);
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Run(args) => run_step(args, data_dir).await,
        NodeCommand::New(args) => project::new(&args),
        NodeCommand::Build(args) => project::build(&args, data_dir).await,
        NodeCommand::Test(args) => project::test(&args, data_dir).await,
        NodeCommand::Docs(args) => project::docs(&args, data_dir).await,
        NodeCommand::Publish(args) => publish(args, data_dir).await,
    }
}

/// `node publish`: `plugin publish` for the project's built component (or
/// the one `--component` names), with the spec it describes.
async fn publish(args: PublishArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    // A named component is written beside its spec in a scratch folder; a
    // project's build is read from, and its spec written to, `dist/`.
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let (runtime, bytes, dist) = match &args.component {
        Some(component) => {
            let node = NodeArgs {
                node: component.clone(),
                egress: crate::EgressArgs::default(),
            };
            let (runtime, bytes) = prepare(&node, data_dir)?;
            std::fs::write(scratch.path().join("node.wasm"), &bytes)?;
            (runtime, bytes, scratch.path().to_owned())
        }
        None => {
            let dist = args.project.dir.join("dist");
            let wasm = dist.join("node.wasm");
            let bytes = std::fs::read(&wasm).with_context(|| {
                format!(
                    "reading {}; run `n8n-work node build` first, or name a component with --component",
                    wasm.display()
                )
            })?;
            (
                runtime(data_dir, &crate::EgressArgs::default())?,
                bytes,
                dist,
            )
        }
    };
    let node = runtime.load(&bytes).await?;
    let wasm = dist.join("node.wasm");
    let spec = dist.join("spec.json");
    std::fs::write(&spec, serde_json::to_string_pretty(node.spec())?)?;
    n8n_work_registry::cli::PluginCommand::Publish {
        file: wasm,
        reference: args.reference,
        spec,
        key: args.key,
        login: args.login,
    }
    .run(data_dir)
    .await
}

fn prepare(args: &NodeArgs, data_dir: &Path) -> anyhow::Result<(Runtime, Vec<u8>)> {
    let wasm = match args.node.strip_prefix("builtin:") {
        Some(name) => n8n_work_builtins::get(name)
            .with_context(|| {
                let known: Vec<_> = n8n_work_builtins::BUILTINS
                    .iter()
                    .map(|(n, _)| format!("builtin:{n}"))
                    .collect();
                format!(
                    "there is no built-in node `{}`; the built-ins are {}",
                    args.node,
                    known.join(", ")
                )
            })?
            .to_vec(),
        None => std::fs::read(&args.node).with_context(|| {
            format!(
                "reading the component `{}` (a .wasm file or builtin:NAME)",
                args.node
            )
        })?,
    };
    Ok((runtime(data_dir, &args.egress)?, wasm))
}

/// A runtime for one step at a time, caching compiled components in the
/// data directory.
fn runtime(data_dir: &Path, egress: &crate::EgressArgs) -> anyhow::Result<Runtime> {
    let config = RuntimeConfig {
        cache_dir: Some(n8n_work_runtime::shared_cache_dir(data_dir)),
        egress: egress.config()?,
        // One step at a time: no need to reserve a large pool.
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    Ok(Runtime::new(config)?)
}

async fn run_step(args: RunArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let (runtime, wasm) = prepare(&args.node, data_dir)?;
    let params = read_json(&args.params).context("--params")?;
    if !params.is_object() {
        bail!("--params must be a JSON object, such as '{{\"url\": \"https://example.com\"}}'");
    }
    let input = read_json(&args.input).context("--input")?;
    let items = Item::list_from_value(input).map_err(|e| anyhow::anyhow!("--input: {e}"))?;
    let credentials = parse_credentials(&args.credentials)?;
    let grants = args
        .grants
        .iter()
        .map(|g| g.parse::<Grant>())
        .collect::<Result<Vec<_>, _>>()?;

    let node = runtime
        .load(&wasm)
        .await
        .with_context(|| format!("loading `{}`", args.node.node))?;
    let mut limits = runtime.config().default_limits;
    if let Some(fuel) = args.fuel {
        limits.fuel = fuel;
    }
    if let Some(mib) = args.memory {
        limits.memory_bytes = mib * 1024 * 1024;
    }
    if let Some(ms) = args.timeout {
        limits.timeout = Duration::from_millis(ms);
    }
    let mut request = StepRequest::new(node.spec().name.clone(), params);
    request.items = items;
    request.credentials = credentials;
    request.grants = grants;
    request.limits = Some(limits);
    let report = runtime.run_step(&node, request).await;

    if args.report {
        println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
    } else {
        for line in &report.logs {
            eprintln!("{}", format_log(line));
        }
        match &report.result {
            Ok(StepOutcome::Done { outputs }) => {
                println!("{}", serde_json::to_string_pretty(outputs)?)
            }
            Ok(pending @ StepOutcome::Pending { .. }) => {
                println!("{}", serde_json::to_string_pretty(pending)?)
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    Ok(if report.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report_json(report: &StepReport) -> serde_json::Value {
    let (outcome, error) = match &report.result {
        Ok(outcome) => (
            serde_json::to_value(outcome).unwrap_or_default(),
            serde_json::Value::Null,
        ),
        Err(e) => (
            serde_json::Value::Null,
            serde_json::json!({ "message": e.to_string(), "detail": e, "retryable": e.is_retryable() }),
        ),
    };
    serde_json::json!({
        "outcome": outcome,
        "error": error,
        "usage": report.usage,
        "logs": report.logs,
        "stateChanges": report.state_changes.iter().map(|(k, v)| {
            (k.clone(), v.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()))
        }).collect::<BTreeMap<_, _>>(),
        "binaries": report.binaries.iter().map(|b| &b.reference).collect::<Vec<_>>(),
    })
}

fn format_log(line: &LogLine) -> String {
    let level = serde_json::to_value(line.level).unwrap_or_default();
    let source = serde_json::to_value(line.source).unwrap_or_default();
    format!(
        "[{:>6} ms {} {}] {}",
        line.at_ms,
        level.as_str().unwrap_or("?"),
        source.as_str().unwrap_or("?"),
        line.message
    )
}

/// JSON from an argument: inline, `@file`, or `-` for stdin.
/// Credentials given as `NAME=JSON`, by name.
pub(crate) fn parse_credentials(
    entries: &[String],
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut credentials = BTreeMap::new();
    for entry in entries {
        let (name, json) = entry.split_once('=').with_context(|| {
            format!(
                "--credential `{entry}`: write it as NAME=JSON, such as auth='{{\"token\":\"…\"}}'"
            )
        })?;
        let value: serde_json::Value = serde_json::from_str(json)
            .with_context(|| format!("--credential `{name}`: the value is not valid JSON"))?;
        credentials.insert(name.to_owned(), value);
    }
    Ok(credentials)
}

/// A JSON argument: inline, `@file.json`, or `-` for stdin.
pub(crate) fn read_json(arg: &str) -> anyhow::Result<serde_json::Value> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
    } else {
        arg.to_owned()
    };
    serde_json::from_str(&text).context("not valid JSON")
}
