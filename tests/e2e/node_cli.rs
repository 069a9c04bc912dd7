//! `n8n-work node run` and `node describe` against loopback servers; the
//! node author's loop in TypeScript from a fresh clone.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

async fn server() -> SocketAddr {
    let router = Router::new().route(
        "/x",
        get(|| async { axum::Json(json!({"answer": 42, "from": "loopback"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Runs the binary with a fresh data directory and no inherited allowlist.
async fn n8n_work(args: &[&str], allow_private: Option<&str>) -> Output {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"));
    cmd.args(args)
        .env("N8N_WORK_DATA_DIR", data.path())
        .env_remove("N8N_WORK_EGRESS_ALLOW_PRIVATE");
    if let Some(list) = allow_private {
        cmd.env("N8N_WORK_EGRESS_ALLOW_PRIVATE", list);
    }
    cmd.output().await.expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `node run builtin:http` against the test server's `/x`, with or without
/// the grant for it, plus `extra` arguments.
async fn run_http_node(
    addr: SocketAddr,
    grant: bool,
    allow_private: Option<&str>,
    extra: &[&str],
) -> Output {
    let params = json!({"url": format!("http://{addr}/x")}).to_string();
    let origin = format!("http://{addr}");
    let mut args = vec!["node", "run", "builtin:http", "--params", &params];
    if grant {
        args.extend(["--grant", origin.as_str()]);
    }
    args.extend(extra);
    n8n_work(&args, allow_private).await
}

#[tokio::test]
async fn node_run_with_a_grant_prints_the_response_as_items() {
    let addr = server().await;
    let out = run_http_node(addr, true, Some("127.0.0.1"), &[]).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(
        printed,
        json!({"main": [{"json": {"answer": 42, "from": "loopback"}}]})
    );
}

#[tokio::test]
async fn node_run_without_the_grant_is_refused_with_the_fix() {
    let addr = server().await;
    let out = run_http_node(addr, false, Some("127.0.0.1"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("egress refused"), "{stderr}");
    assert!(
        stderr.contains(&format!("add the grant `http://{addr}`")),
        "{stderr}"
    );
}

#[tokio::test]
async fn node_run_to_loopback_without_the_operator_allowlist_is_refused() {
    let addr = server().await;
    let out = run_http_node(addr, true, None, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(stderr.contains("N8N_WORK_EGRESS_ALLOW_PRIVATE"), "{stderr}");
}

#[tokio::test]
async fn node_run_report_includes_usage() {
    let addr = server().await;
    let out = run_http_node(addr, true, Some("127.0.0.1"), &["--report"]).await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"]["status"], "done");
    assert_eq!(report["usage"]["egress"]["calls"], 1);
    assert!(report["usage"]["fuel"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn node_describe_prints_the_spec() {
    for (node, name) in [("builtin:http", "http"), ("builtin:slack", "slack")] {
        let out = n8n_work(&["node", "describe", node], None).await;
        assert!(out.status.success(), "stderr: {}", text(&out.stderr));
        let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(spec["name"], name);
        assert_eq!(spec["paramsSchema"]["type"], "object", "{spec}");
    }
}

/// Asserts a usage error (exit 2) whose message contains `needle`.
async fn assert_usage_error(args: &[&str], allow_private: Option<&str>, needle: &str) {
    let out = n8n_work(args, allow_private).await;
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[tokio::test]
async fn bad_invocations_name_the_input_and_the_fix() {
    assert_usage_error(
        &["node", "describe", "builtin:nope"],
        None,
        "builtin:http, builtin:slack",
    )
    .await;
    assert_usage_error(
        &["node", "run", "builtin:http", "--params", "{not json"],
        None,
        "--params",
    )
    .await;
    assert_usage_error(
        &["node", "run", "builtin:http", "--grant", "api.example.com"],
        None,
        "the scheme is missing",
    )
    .await;
    assert_usage_error(
        &["node", "run", "builtin:http"],
        Some("127.0.0.1,localhost"),
        "`localhost`",
    )
    .await;
}

/// Copies `from` into `to`, leaving out what a clone does not hold
/// (installed packages and build output).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["node_modules", "target", "dist"].contains(&name.to_str().unwrap()) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The README's "Write a node" in TypeScript, against a copy of the
/// repository's SDKs as a fresh clone has them: no
/// `sdk-js-componentize/node_modules`. One JS build (about 30 s).
#[tokio::test]
async fn a_typescript_node_scaffolds_builds_tests_and_runs_from_a_fresh_clone() {
    let repo_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let clone = tempfile::tempdir().unwrap();
    for part in ["sdk-js-componentize", "sdk-rust", "wit"] {
        copy_tree(&repo_dir.join(part), &clone.path().join(part));
    }
    let sdk_modules = clone.path().join("sdk-js-componentize/node_modules");
    assert!(!sdk_modules.exists());
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let project = work.path().join("demo");
    let run = |args: &[&str], dir: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
            .args(args)
            .current_dir(dir)
            .env("N8N_WORK_REPO", clone.path())
            .env("N8N_WORK_DATA_DIR", &data)
            .output()
            .expect("the binary runs")
    };
    let succeeded = |out: &Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    };

    let out = run(&["node", "new", "demo", "--lang", "ts"], work.path());
    succeeded(&out, "node new");
    assert!(
        text(&out.stderr).contains("installing the JS SDK's dependencies"),
        "{}",
        text(&out.stderr)
    );
    for package in ["esbuild", "@bytecodealliance/componentize-js"] {
        assert!(sdk_modules.join(package).join("package.json").is_file());
    }

    let out = run(&["node", "build"], &project);
    succeeded(&out, "node build");
    assert!(
        text(&out.stdout).contains("precompiled `demo`"),
        "{}",
        text(&out.stdout)
    );
    assert!(project.join("dist/node.wasm").is_file());

    let out = run(&["node", "test", "--no-build"], &project);
    succeeded(&out, "node test");
    assert!(
        text(&out.stdout).contains("2 passed, 0 failed"),
        "{}",
        text(&out.stdout)
    );

    let out = run(
        &[
            "run",
            "flow.yaml",
            "--node",
            "me/demo@0.1.0=dist/node.wasm",
            "--input",
            r#"[{"name": "Ada"}]"#,
        ],
        &project,
    );
    succeeded(&out, "run flow.yaml");
    let items: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items, json!([{"name": "Ada", "message": "Hello, Ada!"}]));
}
