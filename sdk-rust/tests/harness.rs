//! The test harness runs a real component in the real runtime.

use n8n_work_sdk::harness::TestNode;
use serde_json::json;

#[test]
fn the_harness_runs_a_node_with_items_and_credentials() {
    let node = TestNode::from_bytes(n8n_work_builtins::TEST_GUEST, "").unwrap();
    assert_eq!(node.spec().name, "test-guest");

    let items = node
        .step(json!({"mode": "echo"}))
        .items(json!([{"a": 1}]))
        .run()
        .main_items()
        .unwrap();
    assert_eq!(items[0], json!({"a": 1}));
    assert_eq!(items[1]["params"]["mode"], "echo");

    let items = node
        .step(json!({"mode": "credential", "name": "test"}))
        .credential("test", json!({"token": "t"}))
        .run()
        .main_items()
        .unwrap();
    assert_eq!(items[0]["credential"]["token"], "t");
}

#[test]
fn the_harness_reports_refusals_as_errors() {
    let node = TestNode::from_bytes(n8n_work_builtins::TEST_GUEST, "").unwrap();
    let err = node
        .step(json!({"mode": "http", "url": "http://169.254.169.254/"}))
        .grant("http://169.254.169.254")
        .run()
        .main_items()
        .unwrap_err();
    assert!(err.to_string().contains("egress"), "{err}");
}
