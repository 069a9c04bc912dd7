//! The web UI in a real browser (headless Chromium driven by
//! `ui/tests/ui.mjs`) against the real `n8n-work serve`.
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
    let screenshots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("ui-screenshots");

    let run = tokio::process::Command::new("node")
        .arg(repo().join("ui/tests/ui.mjs"))
        .env("N8N_WORK_URL", &base)
        .env("N8N_WORK_KEY", &key)
        .env("N8N_WORK_SCREENSHOTS", &screenshots)
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
