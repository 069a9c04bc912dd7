//! `n8n-work run` and `n8n-work workflow validate` on the examples, against
//! loopback servers; a run that survives SIGKILL; and the lists of
//! workflows and runs from a real `serve`, by name.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;
use serde_json::{Value, json};
use tokio::sync::Notify;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn command(args: &[&str], data: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"));
    cmd.args(args)
        .env("N8N_WORK_DATA_DIR", data)
        .env("N8N_WORK_EGRESS_ALLOW_PRIVATE", "127.0.0.1")
        .kill_on_drop(true);
    cmd
}

async fn n8n_work(args: &[&str]) -> Output {
    let data = tempfile::tempdir().unwrap();
    command(args, data.path())
        .output()
        .await
        .expect("the binary runs")
}

/// The final items a successful run printed.
fn items(output: &Output) -> Value {
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)))
}

#[tokio::test]
async fn hello_greets_by_name() {
    let out = n8n_work(&[
        "run",
        example("hello.yaml").to_str().unwrap(),
        "--input",
        r#"{"name":"Ada"}"#,
    ])
    .await;
    assert_eq!(items(&out), json!([{ "greeting": "hello Ada" }]));
}

#[tokio::test]
async fn fan_out_merge_and_if_examples() {
    let out = n8n_work(&[
        "run",
        example("fan-out-merge.yaml").to_str().unwrap(),
        "--input",
        r#"{"order":7}"#,
    ])
    .await;
    let sources: Vec<_> = items(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].clone())
        .collect();
    assert_eq!(
        sources,
        vec![json!("stock"), json!("billing"), json!("shipping")]
    );
    let out = n8n_work(&[
        "run",
        example("if-branch.yaml").to_str().unwrap(),
        "--input",
        r#"[{"total":250},{"total":20}]"#,
    ])
    .await;
    assert_eq!(
        items(&out),
        json!([{ "total": 250, "next": "approval" }, { "total": 20, "next": "shipping" }])
    );
}

#[tokio::test]
async fn wait_parks_and_continues() {
    let out = n8n_work(&["run", example("wait-and-resume.yaml").to_str().unwrap()]).await;
    assert_eq!(items(&out), json!([{ "waited": true }]));
}

#[tokio::test]
async fn every_example_validates_and_a_broken_file_points_at_its_line() {
    // Ours, and those converted from n8n (next to their n8n JSON).
    let yaml = |dir: std::path::PathBuf| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect::<Vec<_>>()
    };
    let files = [yaml(example("")), yaml(example("n8n"))].concat();
    assert!(files.len() > 10, "{files:?}");
    let mut args = vec!["workflow", "validate"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let out = n8n_work(&args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        files.len(),
        "one line per file"
    );
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: broken\nnodes:\n  - {id: start, type: manual}\n  - {id: greet, type: set}\nconnections:\n  - {from: start, to: gret}\n",
    )
    .unwrap();
    let out = n8n_work(&["workflow", "validate", broken.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("broken.yaml:6:"), "{stderr}");
    assert!(stderr.contains("connections[0].to"), "{stderr}");
    assert!(stderr.contains("gret"), "{stderr}");
}

/// What the loopback server saw: path, `Idempotency-Key`, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

struct Server {
    port: u16,
    seen: Seen,
    /// Told when `/hang` is first called.
    hanging: Arc<Notify>,
}

/// `/flaky` answers 503 twice, then 200; `/hang` never answers the first
/// time; everything else answers 200 with `{"ok": true}`.
async fn server() -> Server {
    #[derive(Clone)]
    struct Shared {
        seen: Seen,
        hanging: Arc<Notify>,
    }
    async fn handle(
        State(shared): State<Shared>,
        uri: Uri,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, [(&'static str, &'static str); 1], String) {
        let json = [("content-type", "application/json")];
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let path = uri.path().to_owned();
        let earlier = {
            let mut seen = shared.seen.lock().unwrap();
            let earlier = seen.iter().filter(|(p, _, _)| *p == path).count();
            seen.push((path.clone(), key, body));
            earlier
        };
        match path.as_str() {
            "/flaky" if earlier < 2 => (StatusCode::SERVICE_UNAVAILABLE, json, "{}".into()),
            "/hang" if earlier == 0 => {
                shared.hanging.notify_one();
                std::future::pending::<()>().await;
                unreachable!()
            }
            _ => (
                StatusCode::OK,
                json,
                serde_json::json!({ "ok": true, "path": path }).to_string(),
            ),
        }
    }
    let shared = Shared {
        seen: Seen::default(),
        hanging: Arc::new(Notify::new()),
    };
    let router = Router::new()
        .fallback(any(handle))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        port,
        seen: shared.seen,
        hanging: shared.hanging,
    }
}

/// A copy of an example in `dir`, pointed at `port` instead of 8765.
fn retargeted(name: &str, dir: &Path, port: u16) -> PathBuf {
    let text = std::fs::read_to_string(example(name)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text.replace("8765", &port.to_string())).unwrap();
    path
}

#[tokio::test]
async fn a_flaky_endpoint_is_retried_with_the_same_idempotency_key() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = retargeted("retry-flaky.yaml", dir.path(), server.port);
    let out = n8n_work(&["run", file.to_str().unwrap()]).await;
    assert_eq!(items(&out)[0]["ok"], true);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two failures, then success: {seen:?}");
    assert!(!seen[0].1.is_empty());
    assert!(seen.iter().all(|(_, key, _)| *key == seen[0].1), "{seen:?}");
}

#[tokio::test]
async fn a_failed_run_starts_its_error_workflow() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let handler = retargeted("error-handler.yaml", dir.path(), server.port);
    let out = n8n_work(&[
        "run",
        example("error-workflow.yaml").to_str().unwrap(),
        "--with",
        handler.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("card declined") && stderr.contains("charge"),
        "{stderr}"
    );
    // The error workflow ran before the command returned.
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (path, _, body) = &seen[0];
    assert_eq!(path, "/alert");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["node"], "charge");
    assert_eq!(body["error"], "card declined");
}

#[tokio::test]
async fn a_run_killed_mid_step_finishes_after_a_restart_without_repeating_steps() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crash.yaml");
    let call = |id: &str, path: &str| {
        format!(
            "  - id: {id}\n    type: builtin:http\n    params: {{url: 'http://127.0.0.1:{port}{path}'}}\n    egress: ['http://127.0.0.1:{port}']\n",
            port = server.port
        )
    };
    std::fs::write(
        &file,
        format!(
            "name: crash\nnodes:\n  - {{id: start, type: manual}}\n{}{}{}connections:\n  - {{from: start, to: first}}\n  - {{from: first, to: second}}\n  - {{from: second, to: third}}\n",
            call("first", "/first"),
            call("second", "/hang"),
            call("third", "/third"),
        ),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--id",
        "crash-run",
    ];
    let mut child = command(&args, data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The second step is in flight: kill the process without warning.
    server.hanging.notified().await;
    child.kill().await.unwrap();
    let out = command(&args, data.path()).output().await.unwrap();
    assert_eq!(items(&out)[0]["path"], "/third");
    let seen = server.seen.lock().unwrap().clone();
    let calls = |path: &str| -> Vec<String> {
        seen.iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, key, _)| key.clone())
            .collect()
    };
    assert_eq!(
        calls("/first").len(),
        1,
        "a completed step did not run again: {seen:?}"
    );
    let second = calls("/hang");
    assert_eq!(
        second.len(),
        2,
        "only the in-flight step repeated: {seen:?}"
    );
    assert_eq!(second[0], second[1], "with the same idempotency key");
    assert_eq!(second[0], "crash-run/second/0");
    assert_eq!(calls("/third").len(), 1);
}

#[tokio::test]
async fn an_n8n_code_node_imports_and_runs_in_the_wasm_code_node() {
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("exported.json");
    std::fs::write(
        &exported,
        json!({
            "name": "code",
            "nodes": [
                { "name": "Start", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0], "parameters": {} },
                { "name": "Double", "type": "n8n-nodes-base.code", "typeVersion": 2, "position": [200, 0],
                  "parameters": { "mode": "runOnceForEachItem", "jsCode": "console.log('doubling', $json.n);\nreturn { json: { n: $json.n * 2, first: $('Start').first().json.n } };" } }
            ],
            "connections": { "Start": { "main": [[{ "node": "Double", "type": "main", "index": 0 }]] } }
        })
        .to_string(),
    )
    .unwrap();
    let converted = dir.path().join("code.yaml");
    let out = n8n_work(&[
        "import",
        "n8n",
        exported.to_str().unwrap(),
        "--out",
        converted.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = std::fs::read_to_string(&converted).unwrap();
    assert!(yaml.contains("builtin:code"), "{yaml}");
    let out = n8n_work(&[
        "run",
        converted.to_str().unwrap(),
        "--input",
        r#"[{"n":1},{"n":5}]"#,
    ])
    .await;
    assert_eq!(
        items(&out),
        json!([{ "n": 2, "first": 1 }, { "n": 10, "first": 1 }])
    );
}

/// The table's rows (header left out), split into cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn lists_show_workflow_names_and_run_counts_and_filter_by_name() {
    let data = tempfile::tempdir().unwrap();
    let server = crate::serve::start(data.path()).await;
    let cli = |args: &[&str]| crate::api::cli(&server, data.path(), args);
    let mut ids = std::collections::HashMap::new();
    for (name, node) in [
        (
            "greeter",
            "{id: greet, type: set, params: {fields: {hi: true}}}",
        ),
        (
            "breaker",
            "{id: charge, type: stop-and-error, params: {message: card declined}}",
        ),
    ] {
        let file = data.path().join(format!("{name}.yaml"));
        std::fs::write(
            &file,
            format!("name: {name}\nnodes:\n  - {{id: start, type: manual}}\n  - {node}\nconnections:\n  - {{from: start, to: {}}}\n",
                if name == "greeter" { "greet" } else { "charge" }),
        )
        .unwrap();
        let (ok, out, err) = cli(&["workflow", "push", file.to_str().unwrap()]);
        assert!(ok, "{out}{err}");
        let id = out
            .split(" as workflow ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap()
            .to_owned();
        ids.insert(name, id);
    }
    let (greeter, breaker) = (&ids["greeter"], &ids["breaker"]);
    let failed = crate::api::run_waited(&server, breaker).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    crate::api::run_waited(&server, greeter).await;
    let succeeded = crate::api::run_waited(&server, greeter).await;
    assert_eq!(succeeded["status"], "succeeded", "{succeeded}");
    let failed_run = failed["executionId"].as_str().unwrap();
    let last_run = succeeded["executionId"].as_str().unwrap();

    // Workflows: names and run counts; the ids only with --wide and --json.
    let (ok, out, err) = cli(&["workflow", "list"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("NAME "), "{out}");
    assert!(
        !out.contains(greeter.as_str()) && !out.contains(breaker.as_str()),
        "{out}"
    );
    let listed = rows(&out);
    // NAME VERSION ACTIVE RUNS FAILED LAST RUN, by name.
    assert_eq!(
        listed[0][..6],
        ["breaker", "1", "-", "1", "1", "failed"],
        "{out}"
    );
    assert_eq!(
        listed[1][..6],
        ["greeter", "1", "-", "2", "0", "succeeded"],
        "{out}"
    );
    let (ok, out, _) = cli(&["workflow", "list", "--wide"]);
    assert!(ok && out.starts_with("ID "), "{out}");
    assert_eq!(rows(&out)[1][..2], [greeter.as_str(), "greeter"], "{out}");
    let (ok, out, _) = cli(&["workflow", "list", "--json"]);
    assert!(ok, "{out}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["items"][1]["id"], greeter.as_str(), "{json}");
    assert_eq!(
        json["items"][1]["runs"],
        json!({"total": 2, "failed": 0}),
        "{json}"
    );

    // Runs: the workflow's name where its id was.
    let (ok, out, err) = cli(&["execution", "list"]);
    assert!(ok, "{err}");
    assert!(
        !out.contains(greeter.as_str()) && !out.contains(breaker.as_str()),
        "{out}"
    );
    let listed = rows(&out);
    assert_eq!(listed.len(), 3, "{out}");
    assert_eq!(listed[0][..3], [last_run, "greeter", "succeeded"], "{out}");
    assert_eq!(listed[2][..3], [failed_run, "breaker", "failed"], "{out}");
    let (ok, out, _) = cli(&["execution", "list", "--wide"]);
    assert!(ok, "{out}");
    assert_eq!(
        rows(&out)[2][..4],
        [failed_run, "breaker", breaker.as_str(), "1"],
        "{out}"
    );
    let (ok, out, _) = cli(&["execution", "list", "--json"]);
    assert!(ok, "{out}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["items"][2]["workflow_id"], breaker.as_str(), "{json}");
    assert_eq!(json["items"][2]["workflow_name"], "breaker", "{json}");

    // Filters take the name, or the id.
    let (ok, out, _) = cli(&["execution", "list", "--workflow", "breaker"]);
    assert!(ok, "{out}");
    assert_eq!(rows(&out).len(), 1, "{out}");
    assert_eq!(rows(&out)[0][0], failed_run, "{out}");
    let (ok, out, _) = cli(&["execution", "list", "--workflow", greeter]);
    assert!(ok, "{out}");
    assert_eq!(rows(&out).len(), 2, "{out}");
    assert!(rows(&out).iter().all(|r| r[1] == "greeter"), "{out}");
    let (ok, out, _) = cli(&[
        "execution",
        "list",
        "--workflow",
        "greeter",
        "--status",
        "failed",
    ]);
    assert!(ok && rows(&out).is_empty(), "{out}");
    let (ok, out, _) = cli(&["execution", "get", failed_run]);
    assert!(
        ok && out.contains("of workflow breaker (version 1)"),
        "{out}"
    );

    // Bad input names itself and the fix.
    let (ok, _, err) = cli(&["execution", "list", "--workflow", "nope"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("no workflow is named `nope`") && err.contains("workflow list"),
        "{err}"
    );
    let (ok, _, err) = cli(&["execution", "list", "--status", "done"]);
    assert!(
        !ok && err.contains("'done'") && err.contains("succeeded"),
        "{err}"
    );
    let (ok, _, err) = cli(&["workflow", "list", "--wide", "--json"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}
