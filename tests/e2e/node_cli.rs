//! `n8n-work node run` and `node describe` against loopback servers.

use std::net::SocketAddr;
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
