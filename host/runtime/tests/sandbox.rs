//! The sandbox around a node: limits, the empty WASI context, credentials,
//! state, binary data, and what a step reports, with the real test node.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::*;
use n8n_work_runtime::{LimitExceeded, LogSource, StepError, StepLimits, StepOutcome};
use serde_json::json;

fn limits(f: impl FnOnce(&mut StepLimits)) -> Option<StepLimits> {
    let mut limits = runtime().config().default_limits;
    f(&mut limits);
    Some(limits)
}

#[tokio::test]
async fn describe_reports_the_test_node_spec() {
    let node = test_guest().await;
    assert_eq!(node.spec().name, "test-guest");
    assert!(node.digest().starts_with("sha256-"));
}

#[tokio::test]
async fn an_infinite_loop_stops_with_a_fuel_error() {
    let mut request = request(json!({"mode": "loop"}), &[], &[]);
    request.limits = limits(|l| l.fuel = 20_000_000);
    let report = run(test_guest().await, request).await;
    assert_eq!(
        *step_error(&report),
        StepError::Limit(LimitExceeded::Fuel { limit: 20_000_000 })
    );
    assert_eq!(report.usage.fuel, 20_000_000);
}

#[tokio::test]
async fn an_infinite_loop_with_ample_fuel_stops_at_the_deadline() {
    let mut request = request(json!({"mode": "loop"}), &[], &[]);
    request.limits = limits(|l| {
        l.fuel = u64::MAX / 2;
        l.timeout = Duration::from_millis(300);
    });
    let report = run(test_guest().await, request).await;
    assert_eq!(
        *step_error(&report),
        StepError::Limit(LimitExceeded::Deadline { timeout_ms: 300 })
    );
}

#[tokio::test]
async fn a_memory_bomb_stops_at_the_cap() {
    let mut request = request(json!({"mode": "alloc", "mib": 512}), &[], &[]);
    request.limits = limits(|l| l.memory_bytes = 32 * 1024 * 1024);
    let report = run(test_guest().await, request).await;
    match step_error(&report) {
        StepError::Limit(LimitExceeded::Memory {
            limit_bytes,
            requested_bytes,
        }) => {
            assert_eq!(*limit_bytes, 32 * 1024 * 1024);
            assert!(*requested_bytes > *limit_bytes);
        }
        other => panic!("expected the memory limit, got {other:?}"),
    }
    assert!(report.usage.peak_memory_bytes <= 32 * 1024 * 1024);
}

#[tokio::test]
async fn memory_under_the_cap_is_allocated_and_reported() {
    let report = run(
        test_guest().await,
        request(json!({"mode": "alloc", "mib": 8}), &[], &[]),
    )
    .await;
    assert_eq!(first_json(&report)["allocatedMib"], 8);
    assert!(
        report.usage.peak_memory_bytes >= 8 * 1024 * 1024,
        "{:?}",
        report.usage
    );
}

#[tokio::test]
async fn a_guest_blocked_in_a_host_call_stops_at_the_deadline() {
    // A server that accepts the request and never answers.
    let addr = serve(Router::new().route("/hang", get(std::future::pending::<String>))).await;
    let mut request = request(
        json!({"mode": "http", "url": format!("http://{addr}/hang")}),
        &[origin(addr)],
        &[],
    );
    request.limits = limits(|l| l.timeout = Duration::from_millis(400));
    let report = run(test_guest().await, request).await;
    assert_eq!(
        *step_error(&report),
        StepError::Limit(LimitExceeded::Deadline { timeout_ms: 400 })
    );
    assert_eq!(report.usage.egress.calls, 1);
}

#[tokio::test]
async fn a_step_waiting_on_the_network_can_be_cancelled() {
    let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel::<()>();
    let arrived_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(arrived_tx)));
    let addr = serve(Router::new().route(
        "/hold",
        get(move || {
            if let Some(tx) = arrived_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            std::future::pending::<String>()
        }),
    ))
    .await;
    let request = request(
        json!({"mode": "http", "url": format!("http://{addr}/hold")}),
        &[origin(addr)],
        &[],
    );
    let cancel = request.cancel.clone();
    tokio::spawn(async move {
        arrived_rx.await.unwrap();
        cancel.cancel();
    });
    let report = run(test_guest().await, request).await;
    assert_eq!(*step_error(&report), StepError::Cancelled);
}

#[tokio::test]
async fn a_running_loop_can_be_cancelled() {
    let mut request = request(json!({"mode": "loop"}), &[], &[]);
    request.limits = limits(|l| l.fuel = u64::MAX / 2);
    request.cancel.cancel();
    let report = run(test_guest().await, request).await;
    assert_eq!(*step_error(&report), StepError::Cancelled);
}

#[tokio::test]
async fn a_panic_is_a_trap_not_a_node_error() {
    let report = run(
        test_guest().await,
        request(json!({"mode": "trap"}), &[], &[]),
    )
    .await;
    match step_error(&report) {
        StepError::Trap { message } => assert!(
            message.contains("unreachable") || message.contains("wasm"),
            "{message}"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(!step_error(&report).is_retryable());
}

#[tokio::test]
async fn a_node_error_keeps_its_message_code_and_retry_flag() {
    let report = run(
        test_guest().await,
        request(
            json!({"mode": "fail", "message": "vendor said no", "retryable": true, "code": "nope"}),
            &[],
            &[],
        ),
    )
    .await;
    match step_error(&report) {
        StepError::Node(e) => {
            assert_eq!(e.message, "vendor said no");
            assert_eq!(e.code.as_deref(), Some("nope"));
            assert!(e.retryable);
        }
        other => panic!("expected a node error, got {other:?}"),
    }
}

#[tokio::test]
async fn output_over_the_cap_is_a_limit_error() {
    let mut request = request(json!({"mode": "big-output", "bytes": 20_000}), &[], &[]);
    request.limits = limits(|l| l.output_bytes = 10_000);
    let report = run(test_guest().await, request).await;
    match step_error(&report) {
        StepError::Limit(LimitExceeded::Output {
            limit_bytes,
            actual_bytes,
        }) => {
            assert_eq!(*limit_bytes, 10_000);
            assert!(*actual_bytes > 20_000);
        }
        other => panic!("expected the output limit, got {other:?}"),
    }
}

#[tokio::test]
async fn the_wasi_context_is_empty() {
    // The test process itself has environment variables and a readable
    // /etc/passwd, so what the guest sees empty is the sandbox's doing.
    assert!(std::env::vars().next().is_some());
    let report = run(
        test_guest().await,
        request(json!({"mode": "sandbox", "port": 5432}), &[], &[]),
    )
    .await;
    let seen = first_json(&report);
    assert_eq!(seen["env"], json!([]), "{seen}");
    assert_eq!(seen["stdin"], json!(""), "{seen}");
    for refused in ["readRoot", "readEtcPasswd", "writeFile", "tcpConnect"] {
        let text = seen[refused].as_str().unwrap_or_default();
        assert!(
            text.starts_with("error"),
            "{refused} should be refused: {seen}"
        );
    }
}

#[tokio::test]
async fn a_granted_credential_reaches_the_guest() {
    let report = run(
        test_guest().await,
        request(
            json!({"mode": "credential", "name": "api"}),
            &[],
            &[("api", json!({"token": "s3cret"}))],
        ),
    )
    .await;
    assert_eq!(
        first_json(&report)["credential"],
        json!({"token": "s3cret"})
    );
}

#[tokio::test]
async fn an_ungranted_credential_is_refused() {
    let report = run(
        test_guest().await,
        request(
            json!({"mode": "credential", "name": "other"}),
            &[],
            &[("api", json!({"token": "s3cret"}))],
        ),
    )
    .await;
    match step_error(&report) {
        StepError::Node(e) => {
            assert!(
                e.message.contains("credential `other` is not granted"),
                "{e:?}"
            );
            assert!(!e.message.contains("s3cret"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn state_changes_are_reported_for_the_engine_to_commit() {
    let mut request = request(json!({"mode": "state"}), &[], &[]);
    request.state.insert("counter".into(), b"41".to_vec());
    let report = run(test_guest().await, request).await;
    assert_eq!(first_json(&report)["counter"], 42);
    assert_eq!(
        report.state_changes.get("counter"),
        Some(&Some(b"42".to_vec()))
    );
}

#[tokio::test]
async fn binary_data_is_written_and_read_back_by_reference() {
    let report = run(
        test_guest().await,
        request(json!({"mode": "binary", "text": "hello binary"}), &[], &[]),
    )
    .await;
    let items = main_items(&report);
    assert_eq!(items[0].json["roundTrip"], "hello binary");
    let reference = &items[0].binary["data"];
    assert_eq!(reference.size, 12);
    assert_eq!(report.binaries.len(), 1);
    assert_eq!(report.binaries[0].reference, *reference);
    assert_eq!(&report.binaries[0].data[..], b"hello binary");
}

#[tokio::test]
async fn a_pending_step_resumes_with_its_state() {
    let node = test_guest().await;
    let report = run(
        node,
        request(json!({"mode": "pending", "afterMs": 25}), &[], &[]),
    )
    .await;
    let state = match &report.result {
        Ok(StepOutcome::Pending { poll_after, state }) => {
            assert_eq!(*poll_after, Duration::from_millis(25));
            state.clone()
        }
        other => panic!("expected pending, got {other:?}"),
    };
    let mut again = request(json!({"mode": "pending"}), &[], &[]);
    again.resume = Some(state);
    let report = run(node, again).await;
    assert_eq!(first_json(&report)["resumedWith"], "1");
}

#[tokio::test]
async fn prints_and_logs_land_in_the_step_log() {
    let report = run(
        test_guest().await,
        request(json!({"mode": "print"}), &[], &[]),
    )
    .await;
    main_items(&report);
    let has = |source: LogSource, text: &str| {
        report
            .logs
            .iter()
            .any(|l| l.source == source && l.message.contains(text))
    };
    assert!(has(LogSource::Stdout, "to stdout"), "{:#?}", report.logs);
    assert!(has(LogSource::Stderr, "to stderr"), "{:#?}", report.logs);
    assert!(
        report.logs.iter().any(|l| l.source == LogSource::Node),
        "{:#?}",
        report.logs
    );
}

#[tokio::test]
async fn items_and_context_pass_through_and_usage_is_reported() {
    let mut request = request(json!({"mode": "echo", "k": "v"}), &[], &[]);
    request.items =
        n8n_work_runtime::Item::list_from_value(json!([{"a": 1}, {"b": [1, 2]}])).unwrap();
    request.attempt = 3;
    let report = run(test_guest().await, request).await;
    let items = main_items(&report);
    assert_eq!(items[0].json["a"], 1);
    assert_eq!(items[1].json["b"], json!([1, 2]));
    assert_eq!(items[2].json["params"]["k"], "v");
    assert_eq!(items[2].json["attempt"], 3);
    assert!(report.usage.fuel > 0);
    assert!(report.usage.duration_us > 0);
    assert!(report.usage.peak_memory_bytes > 0);
}

#[tokio::test]
async fn multiple_ports_are_kept_apart() {
    let report = run(
        test_guest().await,
        request(json!({"mode": "ports"}), &[], &[]),
    )
    .await;
    match &report.result {
        Ok(StepOutcome::Done { outputs }) => {
            assert_eq!(outputs["true"].len(), 1);
            assert_eq!(outputs["false"].len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invalid_bytes_are_refused_with_a_clear_error() {
    let err = runtime()
        .load(b"not wasm at all")
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("not a valid wasm component"),
        "{err}"
    );
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = || n8n_work_runtime::RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        max_instances: 2,
        ..Default::default()
    };
    let first = n8n_work_runtime::Runtime::new(config()).unwrap();
    let node = first.load(n8n_work_builtins::HTTP).await.unwrap();
    assert_eq!(node.cache_hit(), n8n_work_runtime::CacheHit::Compiled);
    drop(first);
    let second = n8n_work_runtime::Runtime::new(config()).unwrap();
    let node = second.load(n8n_work_builtins::HTTP).await.unwrap();
    assert_eq!(node.cache_hit(), n8n_work_runtime::CacheHit::Disk);
    assert_eq!(node.spec().name, "http");
}
