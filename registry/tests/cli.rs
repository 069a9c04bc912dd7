//! The `plugin` and `registry` subcommands, parsed as the binary parses
//! them and run against a registry on loopback.

mod common;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use common::{TestRegistry, component, spec};
use n8n_work_registry::cli::{PluginCommand, RegistryCommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    #[command(subcommand)]
    Plugin(PluginCommand),
    #[command(subcommand)]
    Registry(RegistryCommand),
}

async fn run(args: &[&str], data_dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let cli = Cli::try_parse_from(std::iter::once("n8n-work").chain(args.iter().copied()))?;
    match cli.command {
        Top::Plugin(command) => command.run(data_dir).await,
        Top::Registry(command) => command.run(data_dir).await,
    }
}

#[test]
fn commands_are_well_formed() {
    Cli::command().debug_assert();
}

#[tokio::test]
async fn keygen_publish_verify_and_pull_from_the_command_line() {
    let reg = TestRegistry::start().await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let p = |name: &str| dir.join(name).display().to_string();
    std::fs::write(dir.join("node.wasm"), component(12)).unwrap();
    std::fs::write(
        dir.join("spec.json"),
        serde_json::to_vec(&spec("1.0.0")).unwrap(),
    )
    .unwrap();
    let reference = format!("{}/plugins/slack:1.0.0", reg.host());

    run(
        &[
            "plugin",
            "keygen",
            "--out",
            &p("publisher.key"),
            "--algorithm",
            "ecdsa-p256",
        ],
        dir,
    )
    .await
    .unwrap();
    let err = run(&["plugin", "keygen", "--out", &p("publisher.key")], dir)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");

    run(
        &[
            "plugin",
            "publish",
            &p("node.wasm"),
            "--ref",
            &reference,
            "--spec",
            &p("spec.json"),
            "--key",
            &p("publisher.key"),
        ],
        dir,
    )
    .await
    .unwrap();

    // Not trusted yet: refused, naming the fix.
    let err = run(&["plugin", "verify", &reference], dir)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("by no trusted key"), "{err:#}");

    run(
        &[
            "plugin",
            "verify",
            &reference,
            "--trust",
            &p("publisher.key.pub"),
        ],
        dir,
    )
    .await
    .unwrap();
    // Keys in DATA_DIR/trusted-keys are trusted too.
    std::fs::create_dir(dir.join("trusted-keys")).unwrap();
    std::fs::copy(
        dir.join("publisher.key.pub"),
        dir.join("trusted-keys/publisher.pub"),
    )
    .unwrap();
    run(
        &["plugin", "pull", &reference, "--out", &p("pulled.wasm")],
        dir,
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(dir.join("pulled.wasm")).unwrap(),
        component(12)
    );

    let err = run(
        &[
            "plugin",
            "publish",
            &p("spec.json"),
            "--ref",
            &reference,
            "--spec",
            &p("spec.json"),
        ],
        dir,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("not WebAssembly"), "{err:#}");
}

#[tokio::test]
async fn serving_on_the_network_without_users_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let err = run(&["registry", "serve", "--listen", "0.0.0.0:0"], work.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("give --users"), "{err}");
}
