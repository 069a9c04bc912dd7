//! The workflows in `examples/n8n/`, imported and run on n8n-work's engine,
//! give the outputs that n8n 1.119.2 gave (`<case>.expected.json`, recorded
//! by `tests/n8n-compat/record.sh`): every node's items on every output, or
//! the same failing node and message.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use n8n_work_model::Workflow;
use n8n_work_runtime::Item;
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus};
use serde_json::{Value, json};

/// The cases whose name does not start with `prefix`.
fn cases_except(prefix: &str) -> Vec<(String, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/n8n");
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            let case = name.strip_suffix(".json")?;
            (!case.ends_with(".expected") && !case.starts_with(prefix))
                .then(|| (case.to_owned(), path.clone()))
        })
        .collect();
    cases.sort();
    cases
}

/// n8n's output index → the imported node's port.
fn ports(workflow: &Workflow, node: &str) -> Vec<String> {
    let Some(node) = workflow.node(node) else {
        return vec![];
    };
    match node.node_type.to_string().as_str() {
        "if" => vec!["true".into(), "false".into()],
        "filter" => vec!["main".into(), "discarded".into()],
        "loop" => vec!["done".into(), "loop".into()],
        "switch" => {
            if let Some(n) = node.params.get("outputs").and_then(Value::as_u64) {
                return (0..n).map(|i| i.to_string()).collect();
            }
            let rules = node.params["rules"].as_array().map_or(0, Vec::len);
            let mut ports: Vec<String> = (0..rules).map(|i| i.to_string()).collect();
            if node.params["fallback"] == json!("fallback") {
                ports.push("fallback".into());
            }
            ports
        }
        _ => vec!["main".into()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_workflows_give_the_answers_n8n_gave() {
    let (engine, store) = common::engine("compat", None).await;
    let mut failures = Vec::new();
    let mut compared = 0;
    for (case, path) in cases_except("webhook-")
        .into_iter()
        .filter(|(case, _)| !case.starts_with("convert-"))
    {
        let expected_path = path.with_extension("expected.json");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
                panic!("{case}: no recording; run tests/n8n-compat/record.sh {case}")
            }),
        )
        .unwrap();
        let imported = n8n_work_import::import_n8n(&std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .remove(0);
        assert!(imported.report.all_mapped(), "{case}: {}", imported.report);
        let workflow = imported.workflow;
        let version = engine.deploy(T, &workflow).await.unwrap();
        let id = engine
            .start(T, &version, vec![Item::default()], None)
            .await
            .unwrap();
        engine.run_until_idle().await.unwrap();
        let row = store.store.execution(T, &id).await.unwrap();
        let outputs: BTreeMap<String, Value> = store
            .store
            .outputs(T, &id)
            .await
            .unwrap()
            .into_iter()
            .collect();
        let mut problems = Vec::new();
        if let Some(error) = expected.get("error") {
            let got = row.error.clone().unwrap_or(Value::Null);
            if row.status != ExecutionStatus::Failed
                || got["node"] != error["node"]
                || got["message"] != error["message"]
            {
                problems.push(format!(
                    "expected failure at {} with {}, got {:?} {got}",
                    error["node"], error["message"], row.status
                ));
            }
        } else if row.status != ExecutionStatus::Succeeded {
            problems.push(format!("run {:?}: {:?}", row.status, row.error));
        }
        let n8n_nodes = expected["nodes"].as_object().unwrap();
        for (node, n8n_outputs) in n8n_nodes {
            let Some(ours) = outputs.get(node) else {
                // n8n records a failing node with no output; so does a failed step here.
                if expected["error"]["node"] != json!(node) {
                    problems.push(format!("node `{node}` ran in n8n, not here"));
                }
                continue;
            };
            for (index, port) in ports(&workflow, node).iter().enumerate() {
                let want = n8n_outputs.get(index).cloned().unwrap_or(json!([]));
                let got: Vec<Value> = ours
                    .get(port)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|item| item["json"].clone())
                    .collect();
                if want != Value::Array(got.clone()) {
                    problems.push(format!(
                        "node `{node}` output {index} (port `{port}`):\n    n8n:  {want}\n    here: {}",
                        Value::Array(got)
                    ));
                }
            }
        }
        for node in outputs.keys() {
            if !n8n_nodes.contains_key(node) {
                problems.push(format!("node `{node}` ran here, not in n8n"));
            }
        }
        compared += 1;
        if !problems.is_empty() {
            failures.push(format!("{case}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(compared >= 20, "only {compared} cases");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn webhook_cases() -> Vec<(String, PathBuf)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/n8n");
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            let case = name.strip_suffix(".json")?;
            (case.starts_with("webhook-") && !case.ends_with(".expected"))
                .then(|| (case.to_owned(), path.clone()))
        })
        .collect();
    cases.sort();
    cases
}

/// Webhook workflows answer as n8n did: a Respond to Webhook node gives the
/// same status, headers and body; with "last node", the last node's items
/// and the webhook's code are what the server answers with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_workflows_answer_as_n8n_did() {
    let (engine, store) = common::engine("compat", None).await;
    let mut failures = Vec::new();
    let cases = webhook_cases();
    assert!(cases.len() >= 5);
    for (case, path) in cases {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("expected.json")).unwrap(),
        )
        .unwrap();
        let workflow = n8n_work_import::import_n8n(&std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .remove(0)
            .workflow;
        let hook = workflow.nodes[0].params.clone();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let item = json!({ "body": expected["request"], "headers": {}, "query": {}, "params": {} });
        let items = Item::list_from_value(item).unwrap();
        let id = engine.start(T, &version, items, None).await.unwrap();
        engine.run_until_idle().await.unwrap();
        let row = store.store.execution(T, &id).await.unwrap();
        let (status, headers, body) = if hook["respond"] == "responseNode" {
            let response = row.response.clone().unwrap_or(Value::Null);
            (
                response["status"].clone(),
                response["headers"].clone(),
                response["body"].clone(),
            )
        } else {
            let items: Vec<Value> = row.result.as_ref().unwrap()["main"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["json"].clone())
                .collect();
            let body = if hook["responseData"] == "allEntries" {
                Value::Array(items)
            } else {
                items.first().cloned().unwrap_or(json!({}))
            };
            let status = hook.get("responseCode").cloned().unwrap_or(json!(200));
            (status, json!({ "content-type": "application/json" }), body)
        };
        if status != expected["status"] || body != expected["body"] {
            failures.push(format!(
                "{case}: n8n {} {} | here {status} {body}",
                expected["status"], expected["body"]
            ));
        }
        for (name, value) in expected["headers"].as_object().unwrap() {
            // n8n's server adds `; charset=utf-8` to the type a workflow sets.
            let media = |v: &Value| {
                v.as_str()
                    .unwrap_or("")
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            };
            // Without a content type of its own, the server sends JSON bodies as JSON.
            let json_type = json!("application/json");
            let ours = match &headers[name.as_str()] {
                Value::Null if name == "content-type" && !body.is_string() => &json_type,
                other => other,
            };
            let agrees = if name == "content-type" {
                media(ours) == media(value)
            } else {
                ours == value
            };
            if !agrees {
                failures.push(format!("{case}: header {name}: n8n {value} | here {ours}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The converted integrations (HTTP Request, Slack, Wait, Execute
/// Workflow, schedules) pass the engine's checks: credential slots, egress
/// grants, schedule rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converted_integrations_deploy() {
    let (engine, _store) = common::engine("compat", None).await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/n8n");
    for name in ["convert-integrations", "convert-schedule"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        for imported in n8n_work_import::import_n8n(&text).unwrap() {
            if let Err(e) = engine.deploy(T, &imported.workflow).await {
                panic!("{name}: {e}");
            }
        }
    }
}
