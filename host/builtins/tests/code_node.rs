//! The Code node, built from source, run by the real runtime: n8n-style
//! snippets in both modes, its errors, its limits, and escape attempts that
//! must find nothing to escape to.

use std::sync::OnceLock;
use std::time::Duration;

use n8n_work_runtime::{
    Item, LimitExceeded, LoadedNode, LogLevel, LogSource, Runtime, RuntimeConfig, StepError,
    StepLimits, StepOutcome, StepReport, StepRequest,
};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            max_instances: 8,
            ..RuntimeConfig::default()
        })
        .expect("runtime starts")
    })
}

async fn code_node() -> &'static LoadedNode {
    static NODE: OnceCell<LoadedNode> = OnceCell::const_new();
    NODE.get_or_init(|| async {
        runtime()
            .load(n8n_work_builtins::get("builtin:code").expect("builtin:code exists"))
            .await
            .expect("the Code node loads")
    })
    .await
}

async fn run_with(params: Value, input: Value, limits: StepLimits) -> StepReport {
    let mut request = StepRequest::new("code", params);
    request.items = Item::list_from_value(input).unwrap();
    request.limits = Some(limits);
    runtime().run_step(code_node().await, request).await
}

async fn run(params: Value, input: Value) -> StepReport {
    run_with(params, input, StepLimits::default()).await
}

fn output(report: &StepReport) -> Vec<Value> {
    match &report.result {
        Ok(StepOutcome::Done { outputs }) => outputs
            .get("main")
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|i| Value::Object(i.json))
            .collect(),
        other => panic!("expected items, got {other:?}\nlogs: {:#?}", report.logs),
    }
}

fn error(report: &StepReport) -> &StepError {
    match &report.result {
        Err(e) => e,
        Ok(outcome) => panic!("expected an error, got {outcome:?}"),
    }
}

fn node_error(report: &StepReport) -> (String, String) {
    match error(report) {
        StepError::Node(e) => (e.message.clone(), e.code.clone().unwrap_or_default()),
        other => panic!("expected the node's own error, got {other:?}"),
    }
}

#[tokio::test]
async fn once_for_all_items_maps_input_all() {
    let code = "return $input.all().map(item => ({ json: { name: item.json.name.toUpperCase(), total: items.length } }));";
    let report = run(
        json!({ "code": code }),
        json!([{ "name": "ada" }, { "name": "grace" }]),
    )
    .await;
    assert_eq!(
        output(&report),
        vec![
            json!({ "name": "ADA", "total": 2 }),
            json!({ "name": "GRACE", "total": 2 })
        ]
    );
}

#[tokio::test]
async fn the_legacy_items_array_can_be_changed_in_place_and_returned() {
    let code = "for (const item of items) { item.json.seen = true; }\nreturn items;";
    let report = run(json!({ "jsCode": code }), json!([{ "a": 1 }, { "a": 2 }])).await;
    assert_eq!(
        output(&report),
        vec![
            json!({ "a": 1, "seen": true }),
            json!({ "a": 2, "seen": true })
        ]
    );
}

#[tokio::test]
async fn once_for_each_item_sees_json_and_input_item() {
    let code = "if ($json.skip) return;\nreturn { doubled: $json.n * 2, same: $input.item.json.n === $json.n, index: $itemIndex };";
    let report = run(
        json!({ "code": code, "mode": "runOnceForEachItem" }),
        json!([{ "n": 1 }, { "n": 5, "skip": true }, { "n": 21 }]),
    )
    .await;
    assert_eq!(
        output(&report),
        vec![
            json!({ "doubled": 2, "same": true, "index": 0 }),
            json!({ "doubled": 42, "same": true, "index": 2 })
        ]
    );
}

#[tokio::test]
async fn earlier_nodes_are_read_with_dollar_and_node() {
    let code = "const fetched = $('Fetch');\nreturn [{ json: { first: fetched.first().json.id, last: fetched.last().json.id, count: fetched.all().length, old: $node['Fetch'].json.id } }];";
    let params = json!({
        "code": code,
        "nodes": { "Fetch": [{ "id": 7 }, { "id": 8 }, { "id": 9 }] },
    });
    let report = run(params, json!([{}])).await;
    assert_eq!(
        output(&report),
        vec![json!({ "first": 7, "last": 9, "count": 3, "old": 7 })]
    );

    let report = run(json!({ "code": "return $('Nope').all();" }), json!([])).await;
    let (message, _) = node_error(&report);
    assert!(
        message.contains("no node named \"Nope\""),
        "the error names the missing node: {message}"
    );
}

#[tokio::test]
async fn console_output_goes_to_the_step_log() {
    let code = "console.log('items:', items.length, { ok: true });\nconsole.warn('careful');\nreturn items;";
    let report = run(json!({ "code": code }), json!([{ "a": 1 }])).await;
    output(&report);
    let lines: Vec<_> = report
        .logs
        .iter()
        .filter(|l| l.source == LogSource::Node)
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (LogLevel::Info, "items: 1 {\"ok\":true}"),
            (LogLevel::Warn, "careful")
        ]
    );
}

#[tokio::test]
async fn await_works_as_in_n8n() {
    let code = "const n = await Promise.resolve(41);\nreturn { n: n + 1 };";
    let report = run(json!({ "code": code }), json!([])).await;
    assert_eq!(output(&report), vec![json!({ "n": 42 })]);
}

#[tokio::test]
async fn errors_name_the_users_line_and_column() {
    let report = run(
        json!({ "code": "const a = 1;\nconst b = undefined;\nreturn b.name;" }),
        json!([]),
    )
    .await;
    let (message, code) = node_error(&report);
    assert_eq!(code, "runtime");
    assert!(message.contains("TypeError"), "{message}");
    assert!(message.contains("line 3, column"), "{message}");

    let report = run(json!({ "code": "const ok = 1;\nreturn {;" }), json!([])).await;
    let (message, code) = node_error(&report);
    assert_eq!(code, "syntax");
    assert!(message.contains("line 2, column"), "{message}");

    let report = run(json!({ "code": "return 5;" }), json!([])).await;
    let (message, code) = node_error(&report);
    assert_eq!(code, "output");
    assert!(message.contains("a number, not an object"), "{message}");
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_fuel_limit() {
    let limits = StepLimits {
        fuel: 300_000_000,
        ..StepLimits::default()
    };
    let report = run_with(json!({ "code": "while (true) {}" }), json!([]), limits).await;
    assert!(
        matches!(
            error(&report),
            StepError::Limit(LimitExceeded::Fuel { limit: 300_000_000 })
        ),
        "{:?}",
        report.result
    );
    assert!(error(&report).to_string().contains("fuel limit"));
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_deadline() {
    let limits = StepLimits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(300),
        ..StepLimits::default()
    };
    let report = run_with(json!({ "code": "for (;;) {}" }), json!([]), limits).await;
    assert!(
        matches!(
            error(&report),
            StepError::Limit(LimitExceeded::Deadline { .. })
        ),
        "{:?}",
        report.result
    );
}

#[tokio::test]
async fn memory_exhaustion_is_stopped_by_the_memory_limit() {
    let limits = StepLimits {
        memory_bytes: 48 * 1024 * 1024,
        ..StepLimits::default()
    };
    // Each string is 4 Mi characters, made by native code: memory runs out
    // long before fuel does.
    let code = "const hoard = [];\nwhile (true) hoard.push('x'.repeat(1 << 22) + hoard.length);";
    let report = run_with(json!({ "code": code }), json!([]), limits).await;
    assert!(
        matches!(
            error(&report),
            StepError::Limit(LimitExceeded::Memory { .. })
        ),
        "{:?}",
        report.result
    );
}

#[tokio::test]
async fn the_function_constructor_finds_no_process() {
    let report = run(
        json!({ "code": "return this.constructor.constructor('return process')();" }),
        json!([]),
    )
    .await;
    let (message, _) = node_error(&report);
    assert!(message.contains("process is not defined"), "{message}");

    let report = run(
        json!({ "code": "const f = (() => {}).constructor('return globalThis')();\nreturn { keys: Object.getOwnPropertyNames(f).filter(k => /process|require|Deno|Bun|fetch/.test(k)) };" }),
        json!([]),
    )
    .await;
    assert_eq!(output(&report), vec![json!({ "keys": [] })]);
}

#[tokio::test]
async fn require_process_and_import_are_not_there() {
    for (code, expected) in [
        ("return require('fs');", "require is not defined"),
        ("return { env: process.env };", "process is not defined"),
        ("return { v: globalThis.process.env };", "TypeError"),
    ] {
        let report = run(json!({ "code": code }), json!([])).await;
        let (message, _) = node_error(&report);
        assert!(message.contains(expected), "{code}: {message}");
    }
    let report = run(json!({ "code": "return import('fs');" }), json!([])).await;
    assert!(
        report.result.is_err(),
        "dynamic import must fail: {:?}",
        report.result
    );
}

#[tokio::test]
async fn prototype_pollution_does_not_outlive_its_step() {
    let polluter = "Object.prototype.polluted = 'yes';\nArray.prototype.map = () => 'hijacked';\nreturn { polluted: ({}).polluted };";
    let report = run(json!({ "code": polluter }), json!([])).await;
    assert_eq!(output(&report), vec![json!({ "polluted": "yes" })]);

    let check = "return { polluted: ({}).polluted ?? null, map: [1, 2].map(x => x * 2) };";
    let report = run(json!({ "code": check }), json!([])).await;
    assert_eq!(
        output(&report),
        vec![json!({ "polluted": null, "map": [2, 4] })]
    );
}
