//! Egress policy, end to end: a real node asks for real URLs over wasi:http
//! and the host refuses what is not granted or not public.

mod common;

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Query;
use axum::response::Redirect;
use axum::routing::get;
use common::*;
use n8n_work_runtime::{LoadedNode, Runtime, RuntimeConfig, StepError, StepReport};
use serde_json::json;
use tokio::sync::OnceCell;

/// A runtime whose operator allows no private address at all.
fn strict_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            max_instances: 8,
            ..RuntimeConfig::default()
        })
        .unwrap()
    })
}

async fn strict_guest() -> &'static LoadedNode {
    static NODE: OnceCell<LoadedNode> = OnceCell::const_new();
    NODE.get_or_init(|| async {
        strict_runtime()
            .load(n8n_work_builtins::TEST_GUEST)
            .await
            .unwrap()
    })
    .await
}

async fn target_server() -> std::net::SocketAddr {
    serve(Router::new().route("/ok", get(|| async { "fine" })).route(
        "/redirect",
        get(
            |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                Redirect::temporary(&q["to"])
            },
        ),
    ))
    .await
}

/// Asserts the step was refused by the egress policy, and that the host's
/// log names the URL and the reason.
fn assert_refused(report: &StepReport, url_part: &str, reason: &str) {
    match step_error(report) {
        StepError::Node(e) => assert_eq!(e.code.as_deref(), Some("egress_refused"), "{e:?}"),
        other => panic!("expected an egress refusal, got {other:?}"),
    }
    assert_eq!(report.usage.egress.refused, 1, "{:?}", report.usage);
    let line = report
        .logs
        .iter()
        .find(|l| l.message.starts_with("egress refused"))
        .unwrap_or_else(|| panic!("no refusal in the log: {:#?}", report.logs));
    assert!(line.message.contains(url_part), "{}", line.message);
    assert!(line.message.contains(reason), "{}", line.message);
}

fn http(url: &str) -> serde_json::Value {
    json!({"mode": "http", "url": url})
}

#[tokio::test]
async fn a_granted_allowlisted_origin_is_reached() {
    let addr = target_server().await;
    let report = run(
        test_guest().await,
        request(http(&format!("http://{addr}/ok")), &[origin(addr)], &[]),
    )
    .await;
    let seen = first_json(&report);
    assert_eq!(seen["status"], 200);
    assert_eq!(seen["body"], "fine");
    assert_eq!(report.usage.egress.calls, 1);
    assert_eq!(report.usage.egress.bytes_received, 4);
}

#[tokio::test]
async fn an_ungranted_host_is_refused() {
    let addr = target_server().await;
    let other = "http://127.0.0.1:1".to_string();
    let report = run(
        test_guest().await,
        request(http(&format!("http://{addr}/ok")), &[other], &[]),
    )
    .await;
    assert_refused(
        &report,
        &format!("http://{addr}/ok"),
        "is not granted to this node",
    );
    assert_eq!(report.usage.egress.calls, 0);
}

#[tokio::test]
async fn loopback_is_refused_without_the_operator_allowlist() {
    let addr = target_server().await;
    let mut req = request(http(&format!("http://{addr}/ok")), &[origin(addr)], &[]);
    req.limits = None;
    let report = strict_runtime().run_step(strict_guest().await, req).await;
    assert_refused(&report, &addr.to_string(), "loopback");
}

#[tokio::test]
async fn the_metadata_address_is_refused() {
    let grant = "http://169.254.169.254".to_string();
    let report = run(
        test_guest().await,
        request(
            http("http://169.254.169.254/latest/meta-data/"),
            &[grant],
            &[],
        ),
    )
    .await;
    assert_refused(&report, "169.254.169.254", "cloud metadata");
}

#[tokio::test]
async fn the_metadata_address_as_ipv4_mapped_ipv6_is_refused() {
    let grant = "http://[::ffff:169.254.169.254]".to_string();
    let report = run(
        test_guest().await,
        request(
            http("http://[::ffff:169.254.169.254]/latest/meta-data/"),
            &[grant],
            &[],
        ),
    )
    .await;
    assert_refused(&report, "::ffff:a9fe:a9fe", "cloud metadata");
}

#[tokio::test]
async fn a_redirect_from_a_granted_host_to_a_private_address_is_refused() {
    let addr = target_server().await;
    // 127.0.0.2 is granted to the node but not allowed by the operator.
    let private = format!("http://127.0.0.2:{}", addr.port());
    let url = format!("http://{addr}/redirect?to={private}/ok");
    let report = run(
        test_guest().await,
        request(http(&url), &[origin(addr), private.clone()], &[]),
    )
    .await;
    assert_refused(&report, &private, "loopback");
    assert_eq!(report.usage.egress.calls, 1, "the first hop was sent");
}

#[tokio::test]
async fn a_redirect_to_an_ungranted_host_is_refused() {
    let addr = target_server().await;
    let url = format!("http://{addr}/redirect?to=http://example.com/");
    let report = run(
        test_guest().await,
        request(http(&url), &[origin(addr)], &[]),
    )
    .await;
    assert_refused(&report, "http://example.com/", "is not granted");
}

#[tokio::test]
async fn a_granted_hostname_that_resolves_to_a_private_address_is_refused() {
    let addr = target_server().await;
    let grant = format!("http://localhost:{}", addr.port());
    let report = strict_runtime()
        .run_step(
            strict_guest().await,
            request(
                http(&format!("{grant}/ok")),
                std::slice::from_ref(&grant),
                &[],
            ),
        )
        .await;
    assert_refused(&report, &grant, "`localhost` resolves to");
}
