//! The built-in HTTP Request node against a loopback server.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use common::*;
use n8n_work_runtime::StepError;
use serde_json::{Value, json};

/// Echoes what it received as JSON.
async fn echo(
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    axum::Json(json!({
        "method": method.as_str(),
        "query": query,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn server() -> (std::net::SocketAddr, String) {
    let router = Router::new()
        .route("/echo", any(echo))
        .route(
            "/json",
            get(|| async { axum::Json(json!({"hello": "world"})) }),
        )
        .route(
            "/array",
            get(|| async { axum::Json(json!([{"id": 1}, {"id": 2}, 3])) }),
        )
        .route("/text", get(|| async { "plain words" }))
        .route(
            "/png",
            get(|| async {
                (
                    [("content-type", "image/png")],
                    vec![0x89u8, b'P', b'N', b'G', 0, 1, 2],
                )
            }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                (
                    StatusCode::from_u16(code).unwrap(),
                    format!("status {code} body"),
                )
                    .into_response()
            }),
        )
        .route("/hang", get(std::future::pending::<String>))
        .route(
            "/big",
            get(|| async { "x".repeat(MAX_RESPONSE as usize + 1) }),
        );
    let addr = serve(router).await;
    (addr, origin(addr))
}

async fn call(
    params: Value,
    grant: &str,
    credentials: &[(&str, Value)],
) -> n8n_work_runtime::StepReport {
    run(
        http_node().await,
        request(params, &[grant.to_string()], credentials),
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
async fn get_returns_the_json_response_as_an_item() {
    let (_, base) = server().await;
    let report = call(json!({"url": format!("{base}/json")}), &base, &[]).await;
    assert_eq!(first_json(&report), json!({"hello": "world"}));
}

#[tokio::test]
async fn a_top_level_array_becomes_one_item_per_element() {
    let (_, base) = server().await;
    let report = call(json!({"url": format!("{base}/array")}), &base, &[]).await;
    let items: Vec<Value> = main_items(&report)
        .into_iter()
        .map(|i| Value::Object(i.json))
        .collect();
    assert_eq!(
        items,
        vec![json!({"id": 1}), json!({"id": 2}), json!({"value": 3})]
    );
}

#[tokio::test]
async fn query_and_headers_are_sent() {
    let (_, base) = server().await;
    let report = call(
        json!({"url": format!("{base}/echo"), "query": {"q": "a b", "n": 2}, "headers": {"X-Trace": "t-1"}}),
        &base,
        &[],
    )
    .await;
    let seen = first_json(&report);
    let query = seen["query"].as_str().unwrap();
    assert!(
        query.contains("q=a+b") || query.contains("q=a%20b"),
        "{query}"
    );
    assert!(query.contains("n=2"), "{query}");
    assert_eq!(seen["headers"]["x-trace"], "t-1");
}

#[tokio::test]
async fn post_sends_a_json_body() {
    let (_, base) = server().await;
    let report = call(
        json!({"method": "POST", "url": format!("{base}/echo"), "body": {"json": {"name": "Ada", "n": [1, 2]}}}),
        &base,
        &[],
    )
    .await;
    let seen = first_json(&report);
    assert_eq!(seen["method"], "POST");
    assert!(
        seen["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = serde_json::from_str(seen["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"name": "Ada", "n": [1, 2]}));
}

#[tokio::test]
async fn post_sends_a_form_body() {
    let (_, base) = server().await;
    let report = call(
        json!({"method": "POST", "url": format!("{base}/echo"), "body": {"form": {"a": "1", "b": "x y"}}}),
        &base,
        &[],
    )
    .await;
    let seen = first_json(&report);
    assert_eq!(
        seen["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    let body = seen["body"].as_str().unwrap();
    assert!(body == "a=1&b=x+y" || body == "a=1&b=x%20y", "{body}");
}

#[tokio::test]
async fn bearer_basic_and_header_credentials_are_applied() {
    let (_, base) = server().await;
    let url = format!("{base}/echo");
    let cases = [
        (
            json!({"type": "http-bearer", "token": "tok-1"}),
            "authorization",
            "Bearer tok-1",
        ),
        (
            json!({"type": "http-basic", "user": "ada", "password": "pw"}),
            "authorization",
            "Basic YWRhOnB3",
        ),
        (
            json!({"type": "http-header", "name": "X-Api-Key", "value": "k-9"}),
            "x-api-key",
            "k-9",
        ),
    ];
    for (credential, header, expected) in cases {
        let report = call(json!({"url": url}), &base, &[("auth", credential.clone())]).await;
        assert_eq!(
            first_json(&report)["headers"][header],
            expected,
            "{credential}"
        );
    }
}

#[tokio::test]
async fn a_404_is_a_node_error_that_is_not_retried() {
    let (_, base) = server().await;
    let report = call(json!({"url": format!("{base}/status/404")}), &base, &[]).await;
    let e = node_error(&report);
    assert_eq!(e.code.as_deref(), Some("http_404"));
    assert!(!e.retryable);
    assert!(e.message.contains("404"), "{e:?}");
}

#[tokio::test]
async fn a_500_is_a_retryable_node_error() {
    let (_, base) = server().await;
    let report = call(json!({"url": format!("{base}/status/500")}), &base, &[]).await;
    let e = node_error(&report);
    assert_eq!(e.code.as_deref(), Some("http_500"));
    assert!(e.retryable);
}

#[tokio::test]
async fn never_error_turns_a_failure_status_into_an_item() {
    let (_, base) = server().await;
    let report = call(
        json!({"url": format!("{base}/status/404"), "response": {"neverError": true, "fullResponse": true}}),
        &base,
        &[],
    )
    .await;
    let item = first_json(&report);
    assert_eq!(item["statusCode"], 404);
    assert_eq!(item["body"], "status 404 body");
}

#[tokio::test]
async fn a_slow_server_times_out_with_a_retryable_error() {
    let (_, base) = server().await;
    let report = call(
        json!({"url": format!("{base}/hang"), "timeoutMs": 300}),
        &base,
        &[],
    )
    .await;
    let e = node_error(&report);
    assert_eq!(e.code.as_deref(), Some("timeout"), "{e:?}");
    assert!(e.retryable);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused() {
    let (_, base) = server().await;
    let report = call(json!({"url": format!("{base}/big")}), &base, &[]).await;
    let e = node_error(&report);
    assert_eq!(e.code.as_deref(), Some("response_too_large"), "{e:?}");
    assert!(report.usage.egress.bytes_received <= MAX_RESPONSE);
}

#[tokio::test]
async fn text_and_binary_responses_are_handled() {
    let (_, base) = server().await;
    let report = call(json!({"url": format!("{base}/text")}), &base, &[]).await;
    assert_eq!(first_json(&report)["data"], "plain words");

    let report = call(json!({"url": format!("{base}/png")}), &base, &[]).await;
    let item = main_items(&report).remove(0);
    assert_eq!(item.json["mimeType"], "image/png");
    assert_eq!(item.binary["data"].size, 7);
    assert_eq!(&report.binaries[0].data[..4], b"\x89PNG");
}

#[tokio::test]
async fn one_request_is_sent_per_input_item() {
    let (_, base) = server().await;
    let mut req = request(
        json!({"url": format!("{base}/json")}),
        std::slice::from_ref(&base),
        &[],
    );
    req.items =
        n8n_work_runtime::Item::list_from_value(json!([{"n": 1}, {"n": 2}, {"n": 3}])).unwrap();
    let report = run(http_node().await, req).await;
    assert_eq!(main_items(&report).len(), 3);
    assert_eq!(report.usage.egress.calls, 3);
}

#[tokio::test]
async fn unknown_params_are_refused_by_name() {
    let (_, base) = server().await;
    let report = call(
        json!({"url": format!("{base}/json"), "metod": "POST"}),
        &base,
        &[],
    )
    .await;
    let e = node_error(&report);
    assert!(e.message.contains("metod"), "{e:?}");
}
