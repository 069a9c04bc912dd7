//! The built-in Slack node against a loopback server that answers in the
//! shapes of Slack's Web API and incoming webhooks.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use common::*;
use n8n_work_runtime::StepError;
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn post_message(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> axum::response::Response {
    let body = body.0;
    seen.lock().unwrap().push((headers.clone(), body.clone()));
    let channel = body["channel"].as_str().unwrap_or_default().to_owned();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer xoxb-good") {
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    match channel.as_str() {
        "C404" => axum::Json(json!({"ok": false, "error": "channel_not_found"})).into_response(),
        "CRATE" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "").into_response(),
        _ => axum::Json(json!({
            "ok": true,
            "channel": channel,
            "ts": "1700000000.000100",
            "message": {"text": body["text"], "type": "message"},
        }))
        .into_response(),
    }
}

async fn slack() -> (String, Seen) {
    let seen = Seen::default();
    let router = Router::new()
        .route("/api/chat.postMessage", post(post_message))
        .route("/hooks/good", post(|| async { "ok" }))
        .route(
            "/hooks/gone",
            post(|| async { (StatusCode::NOT_FOUND, "no_service") }),
        )
        .with_state(seen.clone());
    let base = origin(serve(router).await);
    (base, seen)
}

fn bot(token: &str) -> (&'static str, Value) {
    ("slack", json!({"type": "slack-bot-token", "token": token}))
}

async fn post_to(base: &str, channel: &str, token: &str) -> n8n_work_runtime::StepReport {
    let params =
        json!({"channel": channel, "text": "hello from n8n-work", "apiUrl": format!("{base}/api")});
    run(
        slack_node().await,
        request(params, &[base.to_owned()], &[bot(token)]),
    )
    .await
}

fn node_error(report: &n8n_work_runtime::StepReport) -> &n8n_work_runtime::NodeError {
    match step_error(report) {
        StepError::Node(e) => e,
        other => panic!("expected a node error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_is_posted_with_the_bot_token() {
    let (base, seen) = slack().await;
    let report = post_to(&base, "C123", "xoxb-good").await;
    let item = first_json(&report);
    assert_eq!(item["ok"], true);
    assert_eq!(item["channel"], "C123");
    assert_eq!(item["ts"], "1700000000.000100");
    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(body["text"], "hello from n8n-work");
}

#[tokio::test]
async fn slack_ok_false_names_slacks_error_code() {
    let (base, _) = slack().await;
    let report = post_to(&base, "C404", "xoxb-good").await;
    let e = node_error(&report);
    assert_eq!(e.code.as_deref(), Some("channel_not_found"));
    assert!(e.message.contains("channel_not_found"), "{e:?}");
    assert!(!e.retryable);

    let report = post_to(&base, "C123", "xoxb-bad").await;
    let e = node_error(&report);
    assert_eq!(e.code.as_deref(), Some("invalid_auth"));
    assert!(
        !e.message.contains("xoxb-bad"),
        "the token must not leak: {e:?}"
    );
}

#[tokio::test]
async fn a_429_is_retryable_and_carries_retry_after() {
    let (base, _) = slack().await;
    let report = post_to(&base, "CRATE", "xoxb-good").await;
    let e = node_error(&report);
    assert!(e.retryable);
    assert_eq!(e.retry_after_ms, Some(7000));
    assert_eq!(e.code.as_deref(), Some("ratelimited"));
}

#[tokio::test]
async fn an_incoming_webhook_is_posted_to() {
    let (base, _) = slack().await;
    let webhook = (
        "slack",
        json!({"type": "slack-webhook", "url": format!("{base}/hooks/good")}),
    );
    let report = run(
        slack_node().await,
        request(
            json!({"text": "hi"}),
            std::slice::from_ref(&base),
            &[webhook],
        ),
    )
    .await;
    assert_eq!(first_json(&report)["ok"], true);

    let gone = (
        "slack",
        json!({"type": "slack-webhook", "url": format!("{base}/hooks/gone")}),
    );
    let report = run(
        slack_node().await,
        request(json!({"text": "hi"}), std::slice::from_ref(&base), &[gone]),
    )
    .await;
    assert_eq!(node_error(&report).code.as_deref(), Some("no_service"));
}

#[tokio::test]
async fn a_missing_credential_says_how_to_grant_it() {
    let (base, _) = slack().await;
    let report = run(
        slack_node().await,
        request(
            json!({"channel": "C1", "text": "x", "apiUrl": format!("{base}/api")}),
            std::slice::from_ref(&base),
            &[],
        ),
    )
    .await;
    let e = node_error(&report);
    assert!(e.message.contains("slack"), "{e:?}");
}
