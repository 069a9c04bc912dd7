//! The web UI in a real browser (headless Chromium driven by
//! `ui/tests/ui.mjs`) against the real `n8n-work serve`. For the
//! Marketplace page, the built-in Slack node is first published, signed, to
//! the server's registry with the real CLI (0.1.0, and a 0.2.0 asking for
//! more); the browser then trusts the publisher's key, asks to install it,
//! approves it, and upgrades it.
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM`) and `npm install` in `ui/`.
//! Without them the test says why and passes, unless
//! `N8N_WORK_REQUIRE_UI_TESTS=1` (as `.ci/run` sets) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tools(chromium: &Path) -> Option<String> {
    if !chromium.exists() {
        return Some(format!(
            "no browser at {}; install it with `apt-get install -y chromium` or set CHROMIUM",
            chromium.display()
        ));
    }
    if !repo().join("ui/node_modules/playwright-core").exists() {
        return Some("ui/node_modules/playwright-core is missing; run `npm install` in ui/".into());
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Some("`node` is not on PATH; install Node.js 18 or later".into());
    }
    None
}

/// What the CLI published for the marketplace part of the browser test.
struct Published {
    /// `default/slack`.
    repository: String,
    /// 0.1.0's manifest digest, as `node publish` printed it.
    digest: String,
    /// 0.2.0's, as `plugin publish` printed it: the same component with a
    /// spec that asks for one more origin, and has a category and a tag.
    upgrade_digest: String,
    /// The publisher's public key, PEM: what the browser adds to the trust policy.
    public_key: String,
}

/// Runs the CLI with `args` (its own data directory in `dir`); its stdout.
async fn cli(dir: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(args)
        .env("N8N_WORK_DATA_DIR", dir.join("cli-data"))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "n8n-work {}: {stdout}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The digest in the `REFERENCE@DIGEST` line a publish printed.
fn published_digest(stdout: &str, reference: &str) -> String {
    let digest = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{reference}@")))
        .unwrap_or_else(|| panic!("publishing printed {reference}@DIGEST: {stdout}"))
        .to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    digest
}

/// Publishes the built-in Slack node as `default/slack`, signed with a
/// fresh key, to the running server's registry with the real CLI, logging
/// in with `key`: 0.1.0 with `node publish --component builtin:slack`, then
/// 0.2.0 (its component pulled back, its spec asking for more) with
/// `plugin publish`.
async fn publish_slack(base: &str, key: &str, dir: &Path) -> Published {
    let signing = dir.join("signing.key").display().to_string();
    cli(dir, &["plugin", "keygen", "--out", &signing]).await;
    let public = format!("{signing}.pub");
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let login = ["--username", "key", "--password", key];

    let first = format!("{host}/default/slack:0.1.0");
    let mut args = vec![
        "node",
        "publish",
        "--component",
        "builtin:slack",
        "--ref",
        &first,
        "--key",
        &signing,
    ];
    args.extend(login);
    let digest = published_digest(&cli(dir, &args).await, &first);

    let wasm = dir.join("slack.wasm").display().to_string();
    let mut args = vec!["plugin", "pull", &first, "--out", &wasm, "--trust", &public];
    args.extend(login);
    cli(dir, &args).await;
    let mut spec: serde_json::Value =
        serde_json::from_str(&cli(dir, &["node", "describe", "builtin:slack"]).await).unwrap();
    spec["version"] = "0.2.0".into();
    spec["egress"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "origin": "https://files.slack.com",
            "reason": "Slack file uploads"
        }));
    spec["categories"] = serde_json::json!(["communication"]);
    spec["tags"] = serde_json::json!(["chat"]);
    let spec_path = dir.join("spec-0.2.0.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let spec_path = spec_path.display().to_string();
    let second = format!("{host}/default/slack:0.2.0");
    let mut args = vec![
        "plugin", "publish", &wasm, "--spec", &spec_path, "--ref", &second, "--key", &signing,
    ];
    args.extend(login);
    let upgrade_digest = published_digest(&cli(dir, &args).await, &second);

    Published {
        repository: "default/slack".into(),
        digest,
        upgrade_digest,
        public_key: std::fs::read_to_string(&public).expect("keygen wrote KEY.pub"),
    }
}

#[tokio::test]
async fn the_ui_signs_in_shows_runs_and_edits_workflows_in_a_browser() {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if let Some(why) = missing_tools(&chromium) {
        assert!(
            std::env::var("N8N_WORK_REQUIRE_UI_TESTS").as_deref() != Ok("1"),
            "N8N_WORK_REQUIRE_UI_TESTS=1 but the UI test cannot run: {why}"
        );
        eprintln!("skipping the UI browser test: {why}");
        return;
    }

    let data = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("N8N_WORK_DATA_DIR", data.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("serve printed where it listens");
        if let Some(rest) = line.strip_prefix("n8n-work listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let key = std::fs::read_to_string(data.path().join("cli.key"))
        .unwrap()
        .trim()
        .to_owned();
    let plugin_dir = tempfile::tempdir().unwrap();
    let plugin = publish_slack(&base, &key, plugin_dir.path()).await;
    let screenshots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("ui-screenshots");

    let run = tokio::process::Command::new("node")
        .arg(repo().join("ui/tests/ui.mjs"))
        .env("N8N_WORK_URL", &base)
        .env("N8N_WORK_KEY", &key)
        .env("N8N_WORK_SCREENSHOTS", &screenshots)
        .env("N8N_WORK_PLUGIN_REPOSITORY", &plugin.repository)
        .env("N8N_WORK_PLUGIN_DIGEST", &plugin.digest)
        .env("N8N_WORK_PLUGIN_UPGRADE_DIGEST", &plugin.upgrade_digest)
        .env("N8N_WORK_PLUGIN_PUBLIC_KEY", &plugin.public_key)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the browser test finished within 5 minutes")
        .unwrap();
    assert!(
        status.success(),
        "ui/tests/ui.mjs failed (its output is above); screenshots in {}",
        screenshots.display()
    );
}
