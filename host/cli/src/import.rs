//! `n8n-work import n8n FILE.json`: converts n8n exports to workflow YAML.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

/// Where workflows come from.
#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Convert an n8n export (one workflow, or an array of them) to
    /// n8n-work YAML; the report of what did not map goes to stderr.
    N8n(N8nArgs),
}

#[derive(Debug, Args)]
pub(crate) struct N8nArgs {
    /// The JSON that n8n exported (`n8n export:workflow`, or Download).
    file: PathBuf,
    /// Write the YAML here instead of stdout.
    #[arg(long, value_name = "FILE.yaml")]
    out: Option<PathBuf>,
    /// Store the converted workflows on the server (`--server`).
    #[arg(long)]
    push: bool,
    /// With `--push`, make each pushed version the active one.
    #[arg(long, requires = "push")]
    activate: bool,
}

pub(crate) async fn run(
    command: ImportCommand,
    client: impl FnOnce() -> anyhow::Result<crate::client::Client>,
) -> anyhow::Result<ExitCode> {
    let ImportCommand::N8n(args) = command;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let imported = n8n_work_import::import_n8n(&text)
        .with_context(|| format!("cannot import {}", args.file.display()))?;
    let yaml = imported
        .iter()
        .map(|i| n8n_work_import::workflow_yaml(&i.workflow))
        .collect::<Vec<_>>()
        .join("---\n");
    match &args.out {
        Some(path) => std::fs::write(path, &yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{yaml}"),
    }
    for i in &imported {
        eprint!("{}", i.report);
    }
    if args.push {
        let client = client()?;
        for i in &imported {
            let json = serde_json::to_string(&i.workflow)?;
            client
                .push("application/json", json, args.activate)
                .await
                .with_context(|| format!("pushing workflow `{}`", i.workflow.name))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
