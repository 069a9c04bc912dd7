//! `n8n-work serve`: the first start's owner key, the API behind it, and a
//! webhook answered by the run it starts.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

pub(crate) struct Server {
    pub(crate) child: tokio::process::Child,
    pub(crate) base: String,
    pub(crate) key: String,
    /// The key the start printed (the first start only).
    pub(crate) printed_key: Option<String>,
    /// Where webhooks are served, when apart (`--webhook-listen`).
    pub(crate) hooks: Option<String>,
}

impl Server {
    /// The API's base URL.
    pub(crate) fn api(&self) -> String {
        format!("{}/api/v1", self.base)
    }
}

pub(crate) async fn start(data: &Path) -> Server {
    start_with(data, &[]).await
}

/// Starts `serve` on a free port with `flags`; waits until it listens.
pub(crate) async fn start_with(data: &Path, flags: &[&str]) -> Server {
    start_env(data, flags, &[]).await
}

/// A server started with `flags` and environment variables `env`.
pub(crate) async fn start_env(data: &Path, flags: &[&str], env: &[(String, String)]) -> Server {
    start_logging(data, flags, env, Stdio::inherit()).await
}

/// A server whose log (stderr) goes to `log`.
pub(crate) async fn start_logging(
    data: &Path,
    flags: &[&str],
    env: &[(String, String)],
    log: Stdio,
) -> Server {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .env("N8N_WORK_DATA_DIR", data)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed_key = None;
    let mut hooks = None;
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("serve printed where it listens");
        if let Some(key) = line.trim().strip_prefix("nwk_") {
            // Only the first start prints a key.
            printed_key = Some(format!("nwk_{key}"));
        }
        if let Some(rest) = line.strip_prefix("webhooks are served apart, on ") {
            hooks = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("n8n-work listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Workers, and API replicas after the first, make no key.
    let key = std::fs::read_to_string(data.join("cli.key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    if let Some(printed) = &printed_key {
        assert_eq!(*printed, key, "the key printed once is the one saved");
    }
    #[cfg(unix)]
    if !key.is_empty() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("cli.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    Server {
        child,
        base,
        key,
        printed_key,
        hooks,
    }
}

pub(crate) async fn call(
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("content-type", content_type)
        .body(body);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_webhook_workflow_answers_with_its_last_node() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    assert!(
        server.printed_key.is_none(),
        "the first start prints the key only to a terminal (here stdout is a pipe)"
    );
    let api = format!("{}/api/v1", server.base);
    let hello = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.yaml"),
    )
    .unwrap();

    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{api}/workflows"),
        None,
        "application/yaml",
        hello.clone(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");

    let (status, created) = call(
        reqwest::Method::POST,
        &format!("{api}/workflows"),
        Some(&server.key),
        "application/yaml",
        hello,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();

    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/webhook/hello", server.base),
        None,
        "application/json",
        r#"{"name":"Ada"}"#.into(),
    )
    .await;
    assert_eq!(status, 404, "not active yet");

    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{api}/workflows/{id}/activate"),
        Some(&server.key),
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!((status, body["activeVersion"].clone()), (200, json!(1)));

    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/webhook/hello", server.base),
        None,
        "application/json",
        r#"{"name":"Ada"}"#.into(),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "greeting": "hello Ada" })));

    let broken = "name: broken\nnodes:\n  - {id: start, type: manual}\nconnections:\n  - {from: start, to: nowhere}\n";
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{api}/workflows"),
        Some(&server.key),
        "application/yaml",
        broken.into(),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"][0]["line"], 5, "{body}");
}

/// The run `id` as the API shows it, once `ready` holds of it (polled,
/// for at most 30 seconds).
pub(crate) async fn execution_when(
    api: &str,
    key: &str,
    id: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..3_000 {
        let url = format!("{api}/executions/{id}");
        let (_, body) = call(
            reqwest::Method::GET,
            &url,
            Some(key),
            "application/json",
            String::new(),
        )
        .await;
        if ready(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {id} never reached the expected state");
}

#[tokio::test]
async fn variables_listing_and_a_wait_resumed_over_http() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path()).await;
    let api = format!("{}/api/v1", server.base);
    let key = Some(server.key.as_str());
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{api}/variables/greeting"),
        key,
        "application/json",
        r#"{"value":"Hi"}"#.into(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(
        reqwest::Method::PUT,
        &format!("{api}/variables/no%20spaces"),
        key,
        "application/json",
        r#"{"value":"x"}"#.into(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let workflow = "
name: approvals
nodes:
  - {id: hook, type: webhook, params: {path: approve, respond: onReceived}}
  - {id: hold, type: wait, params: {resume: call}}
  - {id: done, type: set, params: {keepOnlySet: true, fields: {msg: '{{ $vars.greeting + \" \" + $json.who }}'}}}
connections:
  - {from: hook, to: hold}
  - {from: hold, to: done}
";
    let (_, created) = call(
        reqwest::Method::POST,
        &format!("{api}/workflows"),
        key,
        "application/yaml",
        workflow.into(),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    call(
        reqwest::Method::POST,
        &format!("{api}/workflows/{id}/activate"),
        key,
        "application/json",
        "{}".into(),
    )
    .await;
    let (status, accepted) = call(
        reqwest::Method::POST,
        &format!("{}/webhook/approve", server.base),
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let run = accepted["executionId"].as_str().unwrap().to_owned();

    // The run parks at `hold`; its resume URL appears once it does.
    let parked = execution_when(&api, &server.key, &run, |body| {
        body["resumeUrls"]["hold"].is_string()
    })
    .await;
    let resume_url = parked["resumeUrls"]["hold"].as_str().unwrap().to_owned();
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}{resume_url}", server.base),
        None,
        "application/json",
        r#"{"who":"Ada"}"#.into(),
    )
    .await;
    assert_eq!(status, 202);
    let (status, again) = call(
        reqwest::Method::POST,
        &format!("{}{resume_url}", server.base),
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 404, "a resume URL works once: {again}");

    let finished = execution_when(&api, &server.key, &run, |body| {
        body["execution"]["status"] == "succeeded"
    })
    .await;
    assert_eq!(
        finished["execution"]["result"]["main"][0]["json"]["msg"],
        "Hi Ada"
    );

    let (_, listed) = call(
        reqwest::Method::GET,
        &format!("{api}/executions?workflow={id}&status=succeeded&limit=1"),
        key,
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], run.as_str());
    let cursor = listed["nextCursor"].as_str().unwrap();
    let (_, rest) = call(
        reqwest::Method::GET,
        &format!("{api}/executions?workflow={id}&cursor={cursor}"),
        key,
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(rest["items"], json!([]), "one run in all");
}
