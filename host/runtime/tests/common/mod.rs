//! Shared set-up for the runtime's integration tests: one runtime per test
//! binary, the real components built from source, and loopback servers.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use n8n_work_runtime::{
    EgressConfig, Grant, Item, LoadedNode, Runtime, RuntimeConfig, StepError, StepLimits,
    StepOutcome, StepReport, StepRequest,
};
use serde_json::Value;
use tokio::sync::OnceCell;

/// The operator allowlist the tests run under: the loopback servers live on
/// 127.0.0.1, nothing else private is allowed.
pub const ALLOW_PRIVATE: &str = "127.0.0.1";

/// Largest response body the tests' egress accepts.
pub const MAX_RESPONSE: u64 = 1024 * 1024;

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            max_instances: 32,
            egress: EgressConfig {
                allow_private: ALLOW_PRIVATE.parse().unwrap(),
                max_response_bytes: MAX_RESPONSE,
                ..EgressConfig::default()
            },
            default_limits: StepLimits {
                timeout: Duration::from_secs(20),
                ..StepLimits::default()
            },
            ..RuntimeConfig::default()
        })
        .expect("runtime starts")
    })
}

async fn load(cell: &'static OnceCell<LoadedNode>, wasm: &'static [u8]) -> &'static LoadedNode {
    cell.get_or_init(|| async { runtime().load(wasm).await.expect("component loads") })
        .await
}

pub async fn test_guest() -> &'static LoadedNode {
    static NODE: OnceCell<LoadedNode> = OnceCell::const_new();
    load(&NODE, n8n_work_builtins::TEST_GUEST).await
}

pub async fn http_node() -> &'static LoadedNode {
    static NODE: OnceCell<LoadedNode> = OnceCell::const_new();
    load(&NODE, n8n_work_builtins::HTTP).await
}

pub async fn slack_node() -> &'static LoadedNode {
    static NODE: OnceCell<LoadedNode> = OnceCell::const_new();
    load(&NODE, n8n_work_builtins::SLACK).await
}

/// A step request with params, grants and credentials.
pub fn request(params: Value, grants: &[String], credentials: &[(&str, Value)]) -> StepRequest {
    let mut request = StepRequest::new("test-node", params);
    request.grants = grants.iter().map(|g| g.parse::<Grant>().unwrap()).collect();
    request.credentials = credentials
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect::<BTreeMap<_, _>>();
    request
}

pub async fn run(node: &LoadedNode, request: StepRequest) -> StepReport {
    runtime().run_step(node, request).await
}

/// The items on port `main`, or a panic that shows the step's error and log.
pub fn main_items(report: &StepReport) -> Vec<Item> {
    match &report.result {
        Ok(StepOutcome::Done { outputs }) => outputs.get("main").cloned().unwrap_or_default(),
        other => panic!(
            "expected output items, got {other:?}\nlogs: {:#?}",
            report.logs
        ),
    }
}

pub fn first_json(report: &StepReport) -> Value {
    Value::Object(
        main_items(report)
            .into_iter()
            .next()
            .expect("one item")
            .json,
    )
}

pub fn step_error(report: &StepReport) -> &StepError {
    match &report.result {
        Err(e) => e,
        Ok(outcome) => panic!(
            "expected an error, got {outcome:?}\nlogs: {:#?}",
            report.logs
        ),
    }
}

/// Serves `router` on a loopback port; returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

pub fn origin(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
