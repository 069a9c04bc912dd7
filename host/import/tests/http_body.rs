//! An imported n8n HTTP Request node sends the body n8n sends: a `jsonBody`
//! built as JSON text goes out as the object, key-value fields nest by
//! their lodash paths, and text that is not JSON fails as in n8n. The
//! workflows run on the engine with the real HTTP component, against a
//! server on loopback that records what it received. n8n 1.119.2 sent the
//! same bodies, and refused the trailing comma with "JSON parameter needs
//! to be valid JSON", when these nodes posted to an echo server.

mod common;

use std::sync::{Arc, Mutex};

use n8n_work_engine::Engine;
use n8n_work_runtime::Item;
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request the server received: path, `content-type`, body.
type Received = (String, String, String);

/// A loopback HTTP/1.1 server that records each request and answers
/// `{"ok": true}`.
async fn recording_server() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                let (mut length, mut content_type) = (0, String::new());
                loop {
                    line.clear();
                    reader.read_line(&mut line).await.unwrap();
                    let header = line.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap(),
                        "content-type" => content_type = value.trim().to_owned(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                log.lock()
                    .unwrap()
                    .push((path, content_type, String::from_utf8(body).unwrap()));
                let answer = "{\"ok\":true}";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                reader
                    .into_inner()
                    .write_all(response.as_bytes())
                    .await
                    .unwrap();
            });
        }
    });
    (origin, received)
}

/// An n8n 1.119 export: Start, then each HTTP Request node (type 4.2) fed by it.
fn n8n_workflow(id: &str, http_nodes: Vec<(&str, Value)>) -> String {
    let mut nodes = vec![json!({
        "parameters": {}, "id": "00000000-0000-4000-8000-000000000001", "name": "Start",
        "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0]
    })];
    let mut targets = Vec::new();
    for (i, (name, parameters)) in http_nodes.into_iter().enumerate() {
        nodes.push(json!({
            "parameters": parameters, "id": format!("00000000-0000-4000-8000-00000000001{i}"),
            "name": name, "type": "n8n-nodes-base.httpRequest", "typeVersion": 4.2,
            "position": [220, i * 200]
        }));
        targets.push(json!({"node": name, "type": "main", "index": 0}));
    }
    json!({
        "name": id, "id": id, "active": false, "nodes": nodes,
        "settings": {"executionOrder": "v1"},
        "connections": {"Start": {"main": [targets]}}
    })
    .to_string()
}

/// An HTTP Request node's parameters: POST `url` with `body`'s parameters.
fn post(url: &str, body: Value) -> Value {
    let mut parameters = json!({
        "method": "POST", "url": url, "sendBody": true, "options": {}
    });
    if let (Some(map), Value::Object(body)) = (parameters.as_object_mut(), body) {
        map.extend(body);
    }
    parameters
}

/// Imports `export`, runs it with one trigger item per `seqs` entry
/// (`{"body": {"seq": n}}`, as a webhook gives) and returns the run's row.
async fn run(
    engine: &Engine,
    store: &n8n_work_store::testing::TestStore,
    export: &str,
    seqs: &[u64],
) -> n8n_work_store::ExecutionRow {
    let imported = n8n_work_import::import_n8n(export).unwrap().remove(0);
    assert!(imported.report.all_mapped(), "{}", imported.report);
    let version = engine.deploy(T, &imported.workflow).await.unwrap();
    let items = seqs
        .iter()
        .flat_map(|seq| Item::list_from_value(json!({"body": {"seq": seq}})).unwrap())
        .collect();
    let id = engine.start(T, &version, items, None).await.unwrap();
    engine.run_until_idle().await.unwrap();
    store.store.execution(T, &id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_http_nodes_send_json_text_as_the_object_and_nest_key_value_fields() {
    let (origin, received) = recording_server().await;
    let (engine, store) = common::engine("http-body", Some("127.0.0.1")).await;
    let export = n8n_workflow(
        "httpbodyxxxxxxxx",
        vec![
            (
                "Post JSON",
                post(
                    &format!("{origin}/json"),
                    json!({
                        "specifyBody": "json",
                        "jsonBody": "={{ JSON.stringify({ seq: $json.body.seq }) }}"
                    }),
                ),
            ),
            (
                "Post template",
                post(
                    &format!("{origin}/template"),
                    json!({
                        "specifyBody": "json",
                        "jsonBody": "={\n  \"seq\": {{ $json.body.seq }},\n  \"kind\": \"order\"\n}"
                    }),
                ),
            ),
            (
                "Post object",
                post(
                    &format!("{origin}/object"),
                    json!({"specifyBody": "json", "jsonBody": "={{ $json.body }}"}),
                ),
            ),
            (
                "Post pairs",
                post(
                    &format!("{origin}/pairs"),
                    json!({
                        "bodyParameters": {"parameters": [
                            {"name": "seq", "value": "={{ $json.body.seq }}"},
                            {"name": "user.name", "value": "Ada"},
                            {"name": "tags[1]", "value": "x"}
                        ]}
                    }),
                ),
            ),
        ],
    );
    let row = run(&engine, &store, &export, &[1, 2]).await;
    assert_eq!(row.status, ExecutionStatus::Succeeded, "{:?}", row.error);

    let mut got: Vec<(String, Value)> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(path, content_type, body)| {
            assert_eq!(content_type, "application/json", "{path}");
            (path.clone(), serde_json::from_str(body).unwrap())
        })
        .collect();
    got.sort_by_key(|(path, body)| (path.clone(), body["seq"].as_u64()));
    let want = |path: &str, body: Value| (path.to_owned(), body);
    assert_eq!(
        got,
        vec![
            want("/json", json!({"seq": 1})),
            want("/json", json!({"seq": 2})),
            want("/object", json!({"seq": 1})),
            want("/object", json!({"seq": 2})),
            want(
                "/pairs",
                json!({"seq": 1, "user": {"name": "Ada"}, "tags": [null, "x"]})
            ),
            want(
                "/pairs",
                json!({"seq": 2, "user": {"name": "Ada"}, "tags": [null, "x"]})
            ),
            want("/template", json!({"seq": 1, "kind": "order"})),
            want("/template", json!({"seq": 2, "kind": "order"})),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_json_body_that_is_not_json_fails_with_n8ns_message() {
    let (origin, received) = recording_server().await;
    let (engine, store) = common::engine("http-body", Some("127.0.0.1")).await;
    // A trailing comma: n8n refuses it with "JSON parameter needs to be valid JSON".
    let export = n8n_workflow(
        "httpbadjsonxxxxx",
        vec![(
            "Post JSON",
            post(
                &format!("{origin}/json"),
                json!({
                    "specifyBody": "json",
                    "jsonBody": "={ \"seq\": {{ $json.body.seq }}, }"
                }),
            ),
        )],
    );
    let row = run(&engine, &store, &export, &[1]).await;
    assert_eq!(row.status, ExecutionStatus::Failed);
    let error = row.error.unwrap();
    assert_eq!(error["node"], json!("Post JSON"));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(
            "parameter `body.jsonText`: JSON parameter needs to be valid JSON (trailing comma \
             at line 1 column 13 in `{ \"seq\": 1, }`); write JSON text such as"
        ),
        "{message}"
    );
    assert!(received.lock().unwrap().is_empty(), "nothing is sent");
}
