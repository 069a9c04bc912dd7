//! The REST API over a real server: workflow versions and activation, manual
//! runs, running one node, retries, the UI's session cookie, live events
//! over SSE, webhook authentication and limits, and schedules.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::Mac;
use reqwest::Method;
use serde_json::{Value, json};

use crate::serve::{Server, call, execution_when, start, start_with};

pub(crate) async fn get(server: &Server, path: &str) -> (u16, Value) {
    call(
        Method::GET,
        &format!("{}{path}", server.api()),
        Some(&server.key),
        "application/json",
        String::new(),
    )
    .await
}

pub(crate) async fn send(server: &Server, method: Method, path: &str, body: Value) -> (u16, Value) {
    call(
        method,
        &format!("{}{path}", server.api()),
        Some(&server.key),
        "application/json",
        body.to_string(),
    )
    .await
}

pub(crate) async fn push(server: &Server, yaml: &str) -> String {
    let (status, created) = call(
        Method::POST,
        &format!("{}/workflows", server.api()),
        Some(&server.key),
        "application/yaml",
        yaml.to_owned(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// Pushes the workflow `yaml` and activates it; its id.
pub(crate) async fn push_active(server: &Server, yaml: &str) -> String {
    let id = push(server, yaml).await;
    let (status, body) = send(
        server,
        Method::POST,
        &format!("/workflows/{id}/activate"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    id
}

const GREET: &str = "
name: greet
tags: [demo]
nodes:
  - {id: start, type: manual}
  - {id: shape, type: set, params: {keepOnlySet: true, fields: {greeting: 'hello {{ $json.name }}'}}}
connections:
  - {from: start, to: shape}
";

#[tokio::test]
async fn versions_activation_runs_and_one_node_on_pinned_input() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let id = push(&server, GREET).await;

    // A new version under the same id, renamed.
    let v2 = GREET
        .replace("name: greet", "name: greeter")
        .replace("hello", "hi");
    let (status, updated) = call(
        Method::PUT,
        &format!("{}/workflows/{id}", server.api()),
        Some(&server.key),
        "application/yaml",
        v2,
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["id"].as_str(), updated["version"].as_i64()),
        (Some(id.as_str()), Some(2))
    );
    let (_, versions) = get(&server, &format!("/workflows/{id}/versions")).await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2, "{versions}");
    let (_, first) = get(&server, &format!("/workflows/{id}/versions/1")).await;
    assert_eq!(first["definition"]["name"], "greet");

    // Activation picks the version that runs, and can be undone.
    let (_, active) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/activate"),
        json!({ "version": 1 }),
    )
    .await;
    assert_eq!(active["activeVersion"], 1);
    let (_, listed) = get(&server, "/workflows?search=demo").await;
    assert_eq!(listed["items"][0]["name"], "greeter", "{listed}");
    assert_eq!(listed["items"][0]["activeVersion"], 1);
    let (status, ran) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/run?wait=true"),
        json!({ "name": "Ada" }),
    )
    .await;
    assert_eq!(status, 200, "{ran}");
    assert_eq!(
        ran["output"],
        json!([{ "greeting": "hello Ada" }]),
        "version 1 runs"
    );
    send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/deactivate"),
        json!({}),
    )
    .await;
    let (_, ran) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/run?wait=true"),
        json!({ "name": "Ada" }),
    )
    .await;
    assert_eq!(
        ran["output"],
        json!([{ "greeting": "hi Ada" }]),
        "the latest runs when none is active"
    );
    let (_, one) = get(&server, &format!("/workflows/{id}")).await;
    assert_eq!(
        (
            one["activeVersion"].clone(),
            one["lastRun"]["status"].clone()
        ),
        (Value::Null, json!("succeeded"))
    );

    // One node, on pinned items; nothing is stored.
    let (status, node) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/nodes/shape/run"),
        json!({ "items": [{ "name": "Bo" }, { "name": "Cy" }] }),
    )
    .await;
    assert_eq!(status, 200, "{node}");
    assert_eq!(
        node["outputs"]["main"],
        json!([{ "greeting": "hi Bo" }, { "greeting": "hi Cy" }])
    );
    let (_, runs) = get(&server, &format!("/executions?workflow={id}")).await;
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        2,
        "the node run left no run behind"
    );

    // The preview evaluates against a step's input in a past run.
    let run = ran["executionId"].as_str().unwrap();
    let (_, preview) = send(
        &server,
        Method::POST,
        "/expressions/preview",
        json!({ "template": "{{ $json.name.toUpperCase() }}", "executionId": run, "node": "shape" }),
    )
    .await;
    assert_eq!(preview, json!({ "value": "ADA" }));
    let (_, broken) = send(
        &server,
        Method::POST,
        "/expressions/preview",
        json!({ "template": "{{ $json. }}" }),
    )
    .await;
    assert!(broken["error"].is_string(), "{broken}");

    // Step data, and validation that points at the node.
    let (_, detail) = get(&server, &format!("/executions/{run}")).await;
    let seq = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node_id"] == "shape")
        .unwrap()["seq"]
        .clone();
    let (_, step) = get(&server, &format!("/executions/{run}/steps/{seq}")).await;
    assert_eq!(step["input"], json!([{ "name": "Ada" }]));
    assert_eq!(step["outputs"]["main"], json!([{ "greeting": "hi Ada" }]));
    let (_, problems) = call(
        Method::POST,
        &format!("{}/workflows/validate", server.api()),
        Some(&server.key),
        "application/yaml",
        "name: x\nnodes:\n  - {id: start, type: manual}\n  - {id: tick, type: schedule, params: {every: soon}}\nconnections: []\n".into(),
    )
    .await;
    assert_eq!(problems["problems"][0]["node"], "tick", "{problems}");
    assert_eq!(problems["problems"][0]["line"], 4, "{problems}");

    let (_, nodes) = get(&server, "/nodes").await;
    let types: Vec<&str> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(
        types.contains(&"builtin:http") && types.contains(&"set"),
        "{types:?}"
    );
}

#[tokio::test]
async fn a_failed_run_retries_from_its_failed_step_or_from_the_start() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    // Fails until the variable is set; then succeeds.
    let id = push_active(
        &server,
        "
name: picky
nodes:
  - {id: start, type: manual}
  - {id: check, type: if, params: {condition: '{{ $vars.ready == \"yes\" }}'}}
  - {id: fail, type: stop-and-error, params: {message: not ready}}
  - {id: ok, type: set, params: {fields: {done: true}}}
connections:
  - {from: start, to: check}
  - {from: check, port: 'true', to: ok}
  - {from: check, port: 'false', to: fail}
",
    )
    .await;
    let (_, ran) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/run?wait=true"),
        json!({ "n": 1 }),
    )
    .await;
    assert_eq!(ran["status"], "failed", "{ran}");
    let run = ran["executionId"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &server,
        Method::PUT,
        "/variables/ready",
        json!({ "value": "yes" }),
    )
    .await;
    assert_eq!(status, 200);

    // From the failed step: `fail` runs again and still fails, in the same run.
    let (status, retried) = send(
        &server,
        Method::POST,
        &format!("/executions/{run}/retry"),
        json!({ "from": "failed" }),
    )
    .await;
    assert_eq!(
        (status, retried["executionId"].as_str()),
        (202, Some(run.as_str())),
        "{retried}"
    );
    let again = execution_when(&server.api(), &server.key, &run, |b| {
        b["execution"]["status"] == "failed"
    })
    .await;
    assert_eq!(again["execution"]["error"]["message"], "not ready");

    // From the start: a new run with the same input takes the other branch.
    let (status, fresh) = send(
        &server,
        Method::POST,
        &format!("/executions/{run}/retry"),
        json!({ "from": "start" }),
    )
    .await;
    assert_eq!(status, 202, "{fresh}");
    let new_run = fresh["executionId"].as_str().unwrap();
    assert_ne!(new_run, run);
    let done = execution_when(&server.api(), &server.key, new_run, |b| {
        b["execution"]["status"] == "succeeded"
    })
    .await;
    assert_eq!(
        done["execution"]["result"]["main"][0]["json"],
        json!({ "n": 1, "done": true })
    );

    let (status, refused) = send(
        &server,
        Method::POST,
        &format!("/executions/{new_run}/retry"),
        json!({}),
    )
    .await;
    assert_eq!(
        status, 409,
        "a run that succeeded has no failed step: {refused}"
    );
}

#[tokio::test]
async fn the_ui_session_cookie_needs_the_csrf_header_to_write() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.api());
    let refused = client
        .post(url("/session"))
        .json(&json!({ "key": "nwk_wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let signed = client
        .post(url("/session"))
        .json(&json!({ "key": server.key }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let read = client
        .get(url("/workflows"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let forged = client
        .post(url("/workflows"))
        .header("cookie", &session)
        .header("content-type", "application/yaml")
        .body(GREET)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "a cookie alone cannot write");
    let marked = client
        .post(url("/workflows"))
        .header("cookie", &session)
        .header("x-requested-with", "n8n-work")
        .header("content-type", "application/yaml")
        .body(GREET)
        .send()
        .await
        .unwrap();
    assert_eq!(marked.status(), 201);

    // The API's description is public and covers the routes above.
    let doc: Value = client
        .get(url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/session",
        "/api/v1/workflows",
        "/api/v1/executions/{id}/events",
        "/api/v1/workflows/{id}/nodes/{node}/run",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );

    let out = client
        .delete(url("/session"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = client
        .get(url("/workflows"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "signed out");
}

/// Reads SSE events (name, data) until `last` names one, within 30 s.
async fn events_until(response: &mut reqwest::Response, last: &str) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the events came in time")
            .unwrap()
            .expect("the stream stayed open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if name.is_empty() {
                continue; // a keep-alive comment
            }
            let done = name == last;
            events.push((name, serde_json::from_str(&data).unwrap()));
            if done {
                return events;
            }
        }
    }
}

#[tokio::test]
async fn sse_replays_the_events_so_far_then_follows_live() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let id = push(
        &server,
        "
name: paused
nodes:
  - {id: start, type: manual}
  - {id: hold, type: wait, params: {resume: call}}
  - {id: after, type: set, params: {fields: {resumed: true}}}
connections:
  - {from: start, to: hold}
  - {from: hold, to: after}
",
    )
    .await;
    let (_, started) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/run"),
        json!({}),
    )
    .await;
    let run = started["executionId"].as_str().unwrap().to_owned();
    let parked = execution_when(&server.api(), &server.key, &run, |b| {
        b["resumeUrls"]["hold"].is_string()
    })
    .await;

    // A late subscriber: the events so far, in order.
    let mut stream = reqwest::Client::new()
        .get(format!("{}/executions/{run}/events", server.api()))
        .bearer_auth(&server.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let so_far = events_until(&mut stream, "step.finished").await;
    let names: Vec<&str> = so_far.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["run.started", "step.started", "step.finished"],
        "{so_far:?}"
    );
    assert_eq!(so_far[1].1["node"], "start");
    let more = events_until(&mut stream, "step.finished").await;
    assert_eq!(
        (more[1].1["node"].as_str(), more[1].1["status"].as_str()),
        (Some("hold"), Some("waiting")),
        "{more:?}"
    );

    // Then live: resuming sends the rest, and the stream ends with the run.
    resume_hold(&server, &parked).await;
    let rest = events_until(&mut stream, "run.finished").await;
    let finished: Vec<(&str, &str)> = rest
        .iter()
        .filter(|(n, _)| n == "step.finished")
        .map(|(_, d)| (d["node"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(finished, [("hold", "done"), ("after", "done")], "{rest:?}");
    let (_, end) = rest.last().unwrap();
    assert_eq!(end["status"], "succeeded");
    assert!(
        stream.chunk().await.unwrap().is_none(),
        "the stream ends after run.finished"
    );
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn webhook_signatures_are_checked_and_replays_refused() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = [7u8; 24];
    let whsec = format!("whsec_{}", b64.encode(secret));
    send(
        &server,
        Method::PUT,
        "/variables/GH_SECRET",
        json!({ "value": "gh-s3cret" }),
    )
    .await;
    for yaml in [
        format!("name: sw\nnodes:\n  - {{id: hook, type: webhook, params: {{path: sw, auth: {{type: standard-webhooks, secret: '{whsec}'}}}}}}\nconnections: []\n"),
        "name: gh\nnodes:\n  - {id: hook, type: webhook, params: {path: gh, auth: {type: github, secretVar: GH_SECRET}}}\nconnections: []\n".to_owned(),
    ] {
        let id = push(&server, &yaml).await;
        send(&server, Method::POST, &format!("/workflows/{id}/activate"), json!({})).await;
    }
    let client = reqwest::Client::new();
    let body = r#"{"event":"paid"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let standard = |id: &str, ts: i64, key: &[u8]| {
        let sig = b64.encode(hmac(
            key,
            &[
                id.as_bytes(),
                b".",
                ts.to_string().as_bytes(),
                b".",
                body.as_bytes(),
            ],
        ));
        client
            .post(format!("{}/webhook/sw", server.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", format!("v1,{sig}"))
            .body(body)
    };
    let good = standard("msg_1", now, &secret).send().await.unwrap();
    assert_eq!(good.status(), 200);
    let replay = standard("msg_1", now, &secret).send().await.unwrap();
    assert_eq!(replay.status(), 401);
    assert!(replay.text().await.unwrap().contains("replay"));
    let forged = standard("msg_2", now, b"another key").send().await.unwrap();
    assert_eq!(forged.status(), 401);
    assert!(forged.text().await.unwrap().contains("no signature"));
    let stale = standard("msg_3", now - 3600, &secret).send().await.unwrap();
    assert_eq!(stale.status(), 401);
    assert!(stale.text().await.unwrap().contains("stale"));

    let github = |key: &[u8]| {
        client
            .post(format!("{}/webhook/gh", server.base))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(hmac(key, &[body.as_bytes()]))),
            )
            .body(body)
    };
    assert_eq!(github(b"gh-s3cret").send().await.unwrap().status(), 200);
    let bad = github(b"wrong").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.text().await.unwrap().contains("X-Hub-Signature-256"));

    // Only the accepted deliveries started runs.
    let (_, runs) = get(&server, "/executions").await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 2, "{runs}");
}

#[tokio::test]
async fn bodies_past_the_limit_get_413_and_a_flood_past_admission_gets_429() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(
        data.path(),
        &[
            "--max-body-bytes",
            "1024",
            "--max-in-flight",
            "2",
            "--egress-allow-private",
            "127.0.0.1",
        ],
    )
    .await;
    let (vendor, release) = held_vendor().await;
    push_active(
        &server,
        &format!(
            "
name: held
nodes:
  - {{id: hook, type: webhook, params: {{path: held, respond: onReceived}}}}
  - {{id: call, type: 'builtin:http', params: {{url: '{vendor}/slow'}}, egress: ['{vendor}']}}
connections:
  - {{from: hook, to: call}}
"
        ),
    )
    .await;
    let hook = format!("{}/webhook/held", server.base);
    let (status, body) = call(
        Method::POST,
        &hook,
        None,
        "application/json",
        format!("{{\"x\":\"{}\"}}", "a".repeat(2048)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );

    // Each accepted run is at work (its call is held by the vendor) and
    // keeps its admission place.
    let (accepted, refused) = post_five(&hook).await;
    assert_eq!((accepted.len(), refused), (2, 3));
    // Every accepted run completes once the vendor answers.
    release.add_permits(accepted.len());
    for run in &accepted {
        execution_when(&server.api(), &server.key, run, |b| {
            b["execution"]["status"] == "succeeded"
        })
        .await;
    }
}

#[tokio::test]
async fn runs_parked_on_a_wait_give_back_their_admission_place() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &["--max-in-flight", "2"]).await;
    push_active(
        &server,
        "
name: parked
nodes:
  - {id: hook, type: webhook, params: {path: parked, respond: onReceived}}
  - {id: hold, type: wait, params: {resume: call}}
connections:
  - {from: hook, to: hold}
",
    )
    .await;
    let hook = format!("{}/webhook/parked", server.base);
    // Each run parks, and gives its place back, before the next request
    // is sent: two places admit them all, one after the other.
    let mut accepted = Vec::new();
    for _ in 0..5 {
        let (status, body) = call(Method::POST, &hook, None, "application/json", "{}".into()).await;
        assert_eq!(status, 202, "a parked run holds no admission place: {body}");
        let run = body["executionId"].as_str().unwrap().to_owned();
        execution_when(&server.api(), &server.key, &run, |b| {
            b["resumeUrls"]["hold"].is_string()
        })
        .await;
        admitted_falls_to_zero(&server).await;
        accepted.push(run);
    }
    for run in &accepted {
        let (_, parked) = get(&server, &format!("/executions/{run}")).await;
        resume_hold(&server, &parked).await;
        execution_when(&server.api(), &server.key, run, |b| {
            b["execution"]["status"] == "succeeded"
        })
        .await;
    }
}

#[tokio::test]
async fn clients_that_hang_up_leave_no_run_idle_under_this_process_lease() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    // A lease far longer than the test: a run left held under it would
    // stay running for the whole test.
    let server = start_with(data.path(), &["--lease-ms", "600000"]).await;
    for (path, respond) in [("gone-async", "onReceived"), ("gone-sync", "lastNode")] {
        push_active(
            &server,
            &format!(
                "
name: {path}
nodes:
  - {{id: hook, type: webhook, params: {{path: {path}, respond: {respond}}}}}
  - {{id: shape, type: set, params: {{fields: {{seen: true}}}}}}
connections:
  - {{from: hook, to: shape}}
"
            ),
        )
        .await;
    }
    let address = server.base.trim_start_matches("http://").to_owned();
    // Each request is sent whole, then its connection closed at once: the
    // server may have started the run when it notices.
    let mut sockets = Vec::new();
    for i in 0..40 {
        let path = if i % 2 == 0 {
            "gone-async"
        } else {
            "gone-sync"
        };
        let body = "{}";
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket
            .write_all(
                format!(
                    "POST /webhook/{path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        sockets.push(socket);
    }
    drop(sockets);
    // Every run that was started ends now, not when a lease lapses.
    for _ in 0..3_000 {
        let (_, running) = get(&server, "/executions?status=running").await;
        if running["items"].as_array().unwrap().is_empty() {
            let (_, all) = get(&server, "/executions").await;
            for run in all["items"].as_array().unwrap() {
                assert_eq!(run["status"], "succeeded", "{run}");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("runs whose client hung up stay running under this process's lease");
}

/// Resumes the run `parked` (its view) at its Wait node `hold`, with `{}`.
async fn resume_hold(server: &Server, parked: &Value) {
    let resume = parked["resumeUrls"]["hold"].as_str().unwrap();
    let (status, body) = call(
        Method::POST,
        &format!("{}{resume}", server.base),
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert!(status < 300, "{status} {body}");
}

/// Waits until no webhook request or run holds an admission place.
async fn admitted_falls_to_zero(server: &Server) {
    for _ in 0..3_000 {
        if crate::chaos::metric(server, "n8n_work_webhook_admitted").await == Some(0.0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("a parked run still holds its admission place");
}

/// Posts `{}` to `hook` five times: the runs accepted (202), and how many
/// were refused with 429 (and `retry-after: 1`).
async fn post_five(hook: &str) -> (Vec<String>, usize) {
    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..5 {
        let response = reqwest::Client::new()
            .post(hook)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            202 => accepted.push(
                response.json::<Value>().await.unwrap()["executionId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            429 => {
                assert_eq!(response.headers()["retry-after"], "1");
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    (accepted, refused)
}

/// A request's bytes up to the end of its head; `None` if the peer hung up
/// before.
async fn request_head(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    Some(request)
}

/// A vendor that reads each request and answers `{}` only once the test
/// adds a permit to the semaphore returned.
async fn held_vendor() -> (String, Arc<tokio::sync::Semaphore>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let permits = release.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let permits = permits.clone();
            tokio::spawn(async move {
                if request_head(&mut socket).await.is_none() {
                    return;
                }
                let Ok(permit) = permits.acquire().await else {
                    return;
                };
                permit.forget();
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .await;
            });
        }
    });
    (format!("http://{address}"), release)
}

/// The ticks of a workflow's runs, oldest first, once there are `n`.
async fn ticks(server: &Server, id: &str, n: usize) -> Vec<i64> {
    for _ in 0..3_000 {
        let (_, runs) = get(
            server,
            &format!("/executions?workflow={id}&status=succeeded"),
        )
        .await;
        let items = runs["items"].as_array().unwrap();
        if items.len() >= n {
            let mut ticks: Vec<i64> = items
                .iter()
                .map(|r| r["result"]["main"][0]["json"]["tick"].as_i64().unwrap())
                .collect();
            ticks.sort_unstable();
            return ticks;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the schedule did not fire {n} times");
}

#[tokio::test]
async fn a_schedule_fires_once_per_tick_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let yaml = "
name: every-second
nodes:
  - {id: tick, type: schedule, params: {every: 1s}}
  - {id: keep, type: noop}
connections:
  - {from: tick, to: keep}
";
    let id = {
        let server = start(data.path()).await;
        let id = push(&server, yaml).await;
        send(
            &server,
            Method::POST,
            &format!("/workflows/{id}/activate"),
            json!({}),
        )
        .await;
        let first = ticks(&server, &id, 2).await;
        assert_eq!(first[1] - first[0], 1000, "consecutive ticks: {first:?}");
        id
    };
    // The server is gone (killed on drop); the next one goes on.
    let server = start(data.path()).await;
    let (_, before) = get(&server, &format!("/executions?workflow={id}")).await;
    let count = before["items"].as_array().unwrap().len();
    let all = ticks(&server, &id, count + 2).await;
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(unique, all, "no tick fired twice: {all:?}");
    assert!(
        all.iter().all(|t| t % 1000 == 0),
        "ticks align to the interval: {all:?}"
    );
}

#[tokio::test]
async fn a_stopped_server_leaves_accepted_runs_for_the_next_to_finish() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start(data.path()).await;
    push_active(
        &server,
        "
name: slow
nodes:
  - {id: hook, type: webhook, params: {path: slow, respond: onReceived}}
  - {id: pause, type: wait, params: {amountMs: 1500}}
  - {id: after, type: set, params: {fields: {finished: true}}}
connections:
  - {from: hook, to: pause}
  - {from: pause, to: after}
",
    )
    .await;
    let mut accepted = Vec::new();
    for i in 0..3 {
        let (status, body) = call(
            Method::POST,
            &format!("{}/webhook/slow", server.base),
            None,
            "application/json",
            format!("{{\"i\":{i}}}"),
        )
        .await;
        assert_eq!(status, 202);
        accepted.push(body["executionId"].as_str().unwrap().to_owned());
    }
    // SIGTERM: the server drains and exits cleanly, runs unfinished.
    let pid = server.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "a clean exit: {exit:?}");

    let server = start(data.path()).await;
    for run in &accepted {
        let done = execution_when(&server.api(), &server.key, run, |b| {
            b["execution"]["status"] == "succeeded"
        })
        .await;
        assert_eq!(
            done["execution"]["result"]["main"][0]["json"]["finished"],
            true
        );
    }
}

/// Runs the CLI against `server` with its data dir (so `cli.key` signs in).
pub(crate) fn cli(
    server: &Server,
    data: &std::path::Path,
    args: &[&str],
) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(args)
        .args(["--server", &server.base])
        .env("N8N_WORK_DATA_DIR", data)
        .env_remove("N8N_WORK_API_KEY")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_readme_path_push_activate_call_and_list_from_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.yaml");
    let (ok, out, err) = cli(
        &server,
        data.path(),
        &["workflow", "push", hello, "--activate"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("activated version 1"), "{out}");

    let (status, body) = call(
        Method::POST,
        &format!("{}/webhook/hello", server.base),
        None,
        "application/json",
        r#"{"name":"Ada"}"#.into(),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "greeting": "hello Ada" })));

    let (ok, out, _) = cli(&server, data.path(), &["workflow", "list"]);
    assert!(
        ok && out.contains("hello") && out.contains("succeeded"),
        "{out}"
    );
    let (ok, out, _) = cli(&server, data.path(), &["execution", "list"]);
    assert!(ok, "{out}");
    let run = out
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (ok, out, _) = cli(&server, data.path(), &["execution", "get", &run]);
    assert!(
        ok && out.contains("succeeded") && out.contains("greet"),
        "{out}"
    );
    let (ok, out, _) = cli(&server, data.path(), &["execution", "tail", &run]);
    assert!(
        ok && out.contains("▶ greet") && out.contains("succeeded"),
        "{out}"
    );

    // A bad file names the line; a wrong key says what to do.
    let bad = data.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nnodes:\n  - {id: a, type: manual}\nconnections:\n  - {from: a, to: b}\n",
    )
    .unwrap();
    let (ok, _, err) = cli(
        &server,
        data.path(),
        &["workflow", "push", bad.to_str().unwrap()],
    );
    assert!(!ok && err.contains("line 5"), "{err}");
    let (ok, _, err) = cli(
        &server,
        data.path(),
        &["workflow", "list", "--api-key", "nwk_nope"],
    );
    assert!(!ok && err.contains("unknown, expired or revoked"), "{err}");
}

/// A workflow `name` whose node `call` (builtin:http) calls `{url}/me`, with
/// the bearer credential `credential` if given, after a Wait of `pause_ms`
/// if given.
pub(crate) fn call_flow(
    name: &str,
    url: &str,
    credential: Option<&str>,
    pause_ms: Option<u64>,
) -> String {
    let credentials = credential.map_or(String::new(), |c| format!(", credentials: {{auth: {c}}}"));
    let (pause, first) = match pause_ms {
        Some(ms) => (
            format!("  - {{id: pause, type: wait, params: {{amountMs: {ms}}}}}\n"),
            "pause",
        ),
        None => (String::new(), "start"),
    };
    let wait_edge = if pause_ms.is_some() {
        "  - {from: start, to: pause}\n"
    } else {
        ""
    };
    format!(
        "name: {name}\nnodes:\n  - {{id: start, type: manual}}\n{pause}  - {{id: call, type: 'builtin:http', params: {{url: '{url}/me'}}{credentials}, egress: ['{url}']}}\nconnections:\n{wait_edge}  - {{from: {first}, to: call}}\n"
    )
}

/// Runs workflow `id` with `{}` and waits for its outcome.
pub(crate) async fn run_waited(server: &Server, id: &str) -> Value {
    send(
        server,
        Method::POST,
        &format!("/workflows/{id}/run?wait=true"),
        json!({}),
    )
    .await
    .1
}

/// A one-route HTTP server on loopback that answers each request with the
/// `Authorization` header it got, as JSON; and the headers it got.
async fn echo_authorization() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let counted = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let Some(request) = request_head(&mut socket).await else {
                    return;
                };
                let text = String::from_utf8_lossy(&request).to_string();
                let auth = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or_else(|| l.strip_prefix("Authorization: "))
                    })
                    .unwrap_or("")
                    .to_owned();
                counted.lock().unwrap().push(auth.clone());
                let body = json!({ "authorization": auth }).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{address}"), requests)
}

#[tokio::test]
async fn credentials_are_stored_encrypted_never_shown_and_given_to_the_node() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &["--egress-allow-private", "127.0.0.1"]).await;
    let (echo, received) = echo_authorization().await;
    let (status, created) = send(
        &server,
        Method::POST,
        "/credentials",
        json!({ "name": "crm", "type": "http-bearer", "value": { "token": "s3cret-token" } }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, dup) = send(
        &server,
        Method::POST,
        "/credentials",
        json!({ "name": "crm", "type": "http-bearer", "value": { "token": "x" } }),
    )
    .await;
    assert_eq!(status, 409, "{dup}");
    let (status, bad) = send(
        &server,
        Method::POST,
        "/credentials",
        json!({ "name": "bad", "type": "http-bearer", "value": "s3cret" }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    let id = push(&server, &call_flow("crm-sync", &echo, Some("crm"), None)).await;
    let ran = run_waited(&server, &id).await;
    assert_eq!(ran["status"], "succeeded", "{ran}");
    assert_eq!(
        *received.lock().unwrap(),
        ["Bearer s3cret-token"],
        "the node sent the credential"
    );
    assert_eq!(
        ran["output"][0]["authorization"], "Bearer [redacted]",
        "the vendor's echo of it is scrubbed from the run: {ran}"
    );

    let (_, listed) = get(&server, "/credentials").await;
    let text = listed.to_string();
    assert!(
        !text.contains("s3cret-token"),
        "values never come back: {text}"
    );
    assert_eq!(
        listed["items"][0]["usedBy"][0]["name"], "crm-sync",
        "{listed}"
    );
    // Nothing in the database file holds the value in the clear.
    let db = std::fs::read(data.path().join("n8n-work.db")).unwrap();
    assert!(
        !db.windows(12).any(|w| w == b"s3cret-token"),
        "the value is encrypted at rest"
    );

    let cred = created["id"].as_str().unwrap();
    let (status, _) = send(
        &server,
        Method::DELETE,
        &format!("/credentials/{cred}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    let ran = run_waited(&server, &id).await;
    assert_eq!(ran["status"], "failed");
    assert!(
        ran["error"]["message"]
            .as_str()
            .unwrap()
            .contains("credential `crm`"),
        "{ran}"
    );
}

#[tokio::test]
async fn a_host_over_its_egress_rate_is_not_called_and_the_node_hears_429() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(
        data.path(),
        &[
            "--egress-allow-private",
            "127.0.0.1",
            "--egress-rate",
            "127.0.0.1=1/m",
        ],
    )
    .await;
    let (echo, requests) = echo_authorization().await;
    let id = push(&server, &call_flow("rated", &echo, None, None)).await;
    let run = format!("/workflows/{id}/run?wait=true");
    let (_, first) = send(&server, Method::POST, &run, json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let (_, second) = send(&server, Method::POST, &run, json!({})).await;
    assert_eq!(second["status"], "failed", "{second}");
    let message = second["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("429") && message.contains("1 requests per minute"),
        "the node's error carries the host's 429 and names the limit: {message}"
    );
    assert_eq!(
        requests.lock().unwrap().len(),
        1,
        "the request over the limit was never sent"
    );
    let execution = second["executionId"].as_str().unwrap();
    let (_, detail) = get(&server, &format!("/executions/{execution}")).await;
    let seq = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node_id"] == "call")
        .unwrap()["seq"]
        .clone();
    let (_, step) = get(&server, &format!("/executions/{execution}/steps/{seq}")).await;
    assert!(
        step.to_string().contains("egress held back"),
        "the step's log says why: {step}"
    );
}

/// A vendor that fails every call with 500, echoing the bearer token it got
/// back raw and base64-encoded; and the tokens it got.
async fn leaky_vendor() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let tokens = Arc::new(std::sync::Mutex::new(Vec::new()));
    let got = tokens.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let got = got.clone();
            tokio::spawn(async move {
                let Some(request) = request_head(&mut socket).await else {
                    return;
                };
                let text = String::from_utf8_lossy(&request).to_string();
                let token = text
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(": ")?;
                        name.eq_ignore_ascii_case("authorization")
                            .then(|| value.trim_start_matches("Bearer ").to_owned())
                    })
                    .unwrap_or_default();
                got.lock().unwrap().push(token.clone());
                let body = json!({
                    "error": "bad token",
                    "raw": token,
                    "b64": base64::engine::general_purpose::STANDARD.encode(&token),
                })
                .to_string();
                let response = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{address}"), tokens)
}

/// Every file under `dir`, as bytes, with its path.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

#[tokio::test]
async fn a_planted_secret_never_reaches_the_database_the_log_or_any_answer() {
    let data = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(logs.path().join("serve.log")).unwrap();
    let server = crate::serve::start_logging(
        data.path(),
        &["--egress-allow-private", "127.0.0.1"],
        &[],
        log.into(),
    )
    .await;
    let (vendor, tokens) = leaky_vendor().await;
    let planted = format!("pl4nted-{}", uuid::Uuid::new_v4().simple());
    let forms = [
        planted.clone(),
        base64::engine::general_purpose::STANDARD.encode(&planted),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&planted),
    ];
    let mut answers = Vec::new();

    let (status, created) = send(
        &server,
        Method::POST,
        "/credentials",
        json!({ "name": "vendor", "type": "http-bearer", "value": { "token": planted } }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    answers.push(created);
    let id = push(&server, &call_flow("leaky", &vendor, Some("vendor"), None)).await;
    let ran = run_waited(&server, &id).await;
    assert_eq!(ran["status"], "failed", "{ran}");
    assert_eq!(
        *tokens.lock().unwrap(),
        vec![planted.clone()],
        "the vendor got the token"
    );
    assert!(
        ran.to_string().contains("[redacted]"),
        "the echo is in the error, scrubbed: {ran}"
    );
    let execution = ran["executionId"].as_str().unwrap().to_owned();
    answers.push(ran);
    let (_, detail) = get(&server, &format!("/executions/{execution}")).await;
    for step in detail["steps"].as_array().unwrap() {
        let (_, step) = get(
            &server,
            &format!("/executions/{execution}/steps/{}", step["seq"]),
        )
        .await;
        answers.push(step);
    }
    answers.push(detail);
    for path in [
        "/executions",
        "/credentials",
        "/workflows",
        "/audit",
        "/dead-letters",
    ] {
        answers.push(get(&server, path).await.1);
    }
    for answer in &answers {
        let text = answer.to_string();
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "an answer holds `{form}`: {text}"
            );
        }
    }

    let mut server = server;
    server.child.kill().await.unwrap();
    let mut scanned = files_under(data.path());
    scanned.extend(files_under(logs.path()));
    assert!(
        scanned
            .iter()
            .any(|(path, _)| path.ends_with("n8n-work.db")),
        "the database is among the files"
    );
    for (path, bytes) in &scanned {
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "{} holds `{form}`",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn the_master_key_rotates_while_runs_go_on_and_the_old_key_opens_nothing() {
    let data = tempfile::tempdir().unwrap();
    // The master key file in a config directory of the test's own.
    let config = tempfile::tempdir().unwrap();
    let env = vec![(
        "XDG_CONFIG_HOME".to_owned(),
        config.path().display().to_string(),
    )];
    let flags = ["--egress-allow-private", "127.0.0.1"];
    let server = crate::serve::start_env(data.path(), &flags, &env).await;
    let key_file = config.path().join("n8n-work").join("master.key");
    let old_key = std::fs::read(&key_file).unwrap();
    let (echo, received) = echo_authorization().await;
    let (status, created) = send(
        &server,
        Method::POST,
        "/credentials",
        json!({ "name": "crm", "type": "http-bearer", "value": { "token": "rotating-token" } }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // Each run waits a little before its call, so runs are in flight
    // across the rotation.
    let id = push(
        &server,
        &call_flow("in-flight", &echo, Some("crm"), Some(300)),
    )
    .await;
    let mut runs = Vec::new();
    for _ in 0..8 {
        let (status, started) = send(
            &server,
            Method::POST,
            &format!("/workflows/{id}/run"),
            json!({}),
        )
        .await;
        assert_eq!(status, 202, "{started}");
        runs.push(started["executionId"].as_str().unwrap().to_owned());
    }

    let rotated = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args([
            "vault",
            "rotate",
            "--server",
            &server.base,
            "--api-key",
            &server.key,
        ])
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success() && said.contains("Rotated the master key"),
        "{said}{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert_ne!(
        std::fs::read(&key_file).unwrap(),
        old_key,
        "a new key in the file"
    );
    // Sent again, the same rotation is refused: it names a key no longer in use.
    let (_, status) = get(&server, "/vault").await;
    let (code, again) = send(
        &server,
        Method::POST,
        "/vault/rotate",
        json!({ "from": "not-in-use" }),
    )
    .await;
    assert_eq!(code, 409, "{again}");
    assert!(
        again
            .to_string()
            .contains(status["masterKeyId"].as_str().unwrap()),
        "{again}"
    );

    for run in &runs {
        let done = execution_when(&server.api(), &server.key, run, |b| {
            b["execution"]["status"] != "running"
        })
        .await;
        assert_eq!(done["execution"]["status"], "succeeded", "{done}");
    }
    assert_eq!(
        *received.lock().unwrap(),
        vec!["Bearer rotating-token"; runs.len()],
        "every run decrypted its credential"
    );
    drop(server);

    // The old key alone opens nothing: a server given it refuses to start.
    let old_file = config.path().join("old.key");
    std::fs::write(&old_file, &old_key).unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("N8N_WORK_DATA_DIR", data.path())
            .env("N8N_WORK_MASTER_KEY_FILE", &old_file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("a server with the old key stops at once")
    .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("wrapped by master key"),
        "{said}"
    );
    // The new one, where the key file is, does.
    let server = crate::serve::start_env(data.path(), &flags, &env).await;
    let ran = run_waited(&server, &id).await;
    assert_eq!(ran["status"], "succeeded", "{ran}");
}

#[tokio::test]
async fn each_trigger_of_a_workflow_starts_its_runs_at_itself() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let id = push(
        &server,
        "
name: three-doors
nodes:
  - {id: by-hand, type: manual}
  - {id: hook, type: webhook, params: {path: doors}}
  - {id: tick, type: schedule, params: {every: 1s}}
  - {id: from-hand, type: set, params: {keepOnlySet: true, fields: {door: hand}}}
  - {id: from-hook, type: set, params: {keepOnlySet: true, fields: {door: hook}}}
  - {id: from-tick, type: set, params: {keepOnlySet: true, fields: {door: tick}}}
connections:
  - {from: by-hand, to: from-hand}
  - {from: hook, to: from-hook}
  - {from: tick, to: from-tick}
",
    )
    .await;
    let (status, activated) = send(
        &server,
        Method::POST,
        &format!("/workflows/{id}/activate"),
        json!({}),
    )
    .await;
    assert!(status < 300, "{activated}");

    let (status, answer) = call(
        Method::POST,
        &format!("{}/webhook/doors", server.base),
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["door"], "hook",
        "the webhook's run starts at the webhook: {answer}"
    );
    let ran = run_waited(&server, &id).await;
    assert_eq!(ran["output"], json!([{ "door": "hand" }]), "{ran}");
    // The schedule's runs start at the schedule node.
    for _ in 0..3_000 {
        let (_, runs) = get(
            &server,
            &format!("/executions?workflow={id}&status=succeeded"),
        )
        .await;
        if let Some(tick) = runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["result"].to_string().contains("\"tick\""))
        {
            assert!(
                tick["result"].to_string().contains("\"door\":\"tick\""),
                "{tick}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the schedule never started a run");
}

const DOUBLE: &str = "
name: double
nodes:
  - {id: start, type: manual}
  - {id: twice, type: set, params: {keepOnlySet: true, fields: {n: '{{ $json.n * 2 }}'}}}
connections:
  - {from: start, to: twice}
";

const REFUSE: &str = "
name: refuse
nodes:
  - {id: start, type: manual}
  - {id: no, type: stop-and-error, params: {message: 'the child says no'}}
connections:
  - {from: start, to: no}
";

/// A parent that hands its items to sub-workflow `child` (a name or an
/// id), waiting for it or not, then marks what it got.
fn parent(name: &str, child: &str, wait: bool) -> String {
    format!(
        "
name: {name}
nodes:
  - {{id: start, type: manual}}
  - {{id: sub, type: execute-workflow, params: {{workflow: '{child}', wait: {wait}}}}}
  - {{id: after, type: set, params: {{fields: {{parent: seen}}}}}}
connections:
  - {{from: start, to: sub}}
  - {{from: sub, to: after}}
"
    )
}

/// Runs workflow `id` on `items` and waits for its end.
async fn run_waiting(server: &Server, id: &str, items: Value) -> Value {
    let (status, body) = send(
        server,
        Method::POST,
        &format!("/workflows/{id}/run?wait=true"),
        items,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_sub_workflow_takes_the_parents_items_and_gives_back_its_own() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let double = push(&server, DOUBLE).await;
    push(&server, REFUSE).await;
    let input = json!([{ "n": 1 }, { "n": 20 }]);
    // By name and by id, the parent goes on with the child's output.
    for child in ["double", double.as_str()] {
        let by = push(&server, &parent(&format!("by-{child}"), child, true)).await;
        let body = run_waiting(&server, &by, input.clone()).await;
        assert_eq!(body["status"], "succeeded", "{body}");
        assert_eq!(
            body["output"],
            json!([{ "n": 2, "parent": "seen" }, { "n": 40, "parent": "seen" }]),
            "{body}"
        );
        // The child run names the step that waited for it.
        let run = body["executionId"].as_str().unwrap();
        let (_, list) = get(&server, &format!("/executions?workflow={double}&limit=1")).await;
        let child_run = list["items"][0]["id"].as_str().unwrap().to_owned();
        let (_, view) = get(&server, &format!("/executions/{child_run}")).await;
        assert_eq!(view["execution"]["parent"]["execution_id"], run, "{view}");
        assert_eq!(view["execution"]["status"], "succeeded");
    }
    // Without waiting, the parent goes on with its own items at once and
    // the child runs on its own.
    let fire = push(&server, &parent("fire-and-forget", "double", false)).await;
    let body = run_waiting(&server, &fire, input.clone()).await;
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(
        body["output"],
        json!([{ "n": 1, "parent": "seen" }, { "n": 20, "parent": "seen" }]),
        "{body}"
    );
    let started = format!("{}-sub-", body["executionId"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let child = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the child run never ended"
        );
        let (_, list) = get(&server, &format!("/executions?workflow={double}&limit=10")).await;
        let child = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"].as_str().unwrap().starts_with(&started))
            .cloned();
        if let Some(child) = child.filter(|c| c["status"] != "running") {
            break child;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        child["status"], "succeeded",
        "the child ran on its own: {child}"
    );
    // A failing child fails the parent's step with the child's error, and
    // names the child run.
    let refused = push(&server, &parent("refused", "refuse", true)).await;
    let body = run_waiting(&server, &refused, input).await;
    assert_eq!(body["status"], "failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the child says no"), "{message}");
    let (_, list) = get(&server, "/executions?status=failed&limit=10").await;
    let child_run = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] != body["executionId"])
        .expect("the child run failed too")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&child_run),
        "the parent's error names the child run: {message}"
    );
    assert_eq!(body["error"]["subExecution"], child_run, "{body}");
}
