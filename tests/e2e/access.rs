//! Tenants, roles, keys, policies and the audit log, through the real
//! binary: the isolation matrix over every route in `openapi.json`, every
//! role against every route, scoped and expired keys, a tenant's own ABAC
//! policy, and `audit verify` finding each kind of tampering.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::serve::{Server, call, start_env};

/// The audit key lives outside the data directory, as in production, but
/// per test so tests do not share it.
pub(crate) fn audit_env(dir: &Path) -> Vec<(String, String)> {
    vec![(
        "N8N_WORK_AUDIT_KEY_FILE".into(),
        dir.join("audit.key").display().to_string(),
    )]
}

async fn send(server: &Server, method: Method, path: &str, key: &str, body: Value) -> (u16, Value) {
    call(
        method,
        &format!("{}{path}", server.api()),
        Some(key),
        "application/json",
        body.to_string(),
    )
    .await
}

async fn yaml(server: &Server, method: Method, path: &str, key: &str, body: &str) -> (u16, Value) {
    call(
        method,
        &format!("{}{path}", server.api()),
        Some(key),
        "application/yaml",
        body.to_owned(),
    )
    .await
}

fn hello(name: &str, tags: &[&str]) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.yaml"),
    )
    .unwrap();
    text.replace("name: hello", &format!("name: {name}"))
        .replace("path: hello", &format!("path: {name}"))
        .replace("tags: [example]", &format!("tags: {tags:?}"))
}

/// A second tenant and its owner key.
async fn tenant(server: &Server, name: &str) -> (String, String) {
    let (status, made) = send(
        server,
        Method::POST,
        "/tenants",
        &server.key,
        json!({ "name": name }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    (
        made["id"].as_str().unwrap().to_owned(),
        made["ownerKey"]["key"].as_str().unwrap().to_owned(),
    )
}

async fn key(server: &Server, owner: &str, role: &str, extra: Value) -> (String, String) {
    let mut body = json!({ "role": role, "name": format!("{role} key") });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, made) = send(server, Method::POST, "/keys", owner, body).await;
    assert_eq!(status, 201, "{made}");
    (
        made["id"].as_str().unwrap().to_owned(),
        made["key"].as_str().unwrap().to_owned(),
    )
}

/// Every documented route with its methods, skipping sign-in (no key).
async fn routes(server: &Server) -> Vec<(Method, String)> {
    let (status, doc) = send(
        server,
        Method::GET,
        "/openapi.json",
        &server.key,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path == "/api/v1/session" {
            continue;
        }
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_some() {
                routes.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    assert!(
        routes.len() > 30,
        "the document lists the routes: {routes:?}"
    );
    routes
}

#[tokio::test]
async fn no_route_reads_or_changes_another_tenants_data() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(data.path(), &[], &audit_env(data.path())).await;
    let (_, globex) = tenant(&server, "Globex").await;

    // Tenant B (Globex) has one of everything.
    let (status, flow) = yaml(
        &server,
        Method::POST,
        "/workflows",
        &globex,
        &hello("globex-flow", &["prod"]),
    )
    .await;
    assert_eq!(status, 201, "{flow}");
    let b_flow = flow["id"].as_str().unwrap().to_owned();
    let (status, run) = send(
        &server,
        Method::POST,
        &format!("/workflows/{b_flow}/run?wait=true"),
        &globex,
        json!({ "name": "Beatrix-7x" }),
    )
    .await;
    assert!(status < 300, "{run}");
    let b_run = run["executionId"].as_str().unwrap().to_owned();
    let (status, credential) = send(&server, Method::POST, "/credentials", &globex, json!({ "name": "globex-secret", "type": "httpHeaderAuth", "value": { "name": "x-key", "value": "globex-value" } })).await;
    assert_eq!(status, 201, "{credential}");
    let b_credential = credential["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &server,
        Method::PUT,
        "/variables/globex_var",
        &globex,
        json!({ "value": "globex" }),
    )
    .await;
    assert!(status < 300);
    let (b_key, _) = key(&server, &globex, "viewer", json!({})).await;
    let (status, member) = send(
        &server,
        Method::POST,
        "/members",
        &globex,
        json!({ "email": "beatrix@globex.example", "role": "editor" }),
    )
    .await;
    assert_eq!(status, 201, "{member}");
    let b_member = member["id"].as_str().unwrap().to_owned();

    // Tenant A (the default) has its own workflow, so its lists are not empty.
    let (status, _) = yaml(
        &server,
        Method::POST,
        "/workflows",
        &server.key,
        &hello("acme-flow", &[]),
    )
    .await;
    assert_eq!(status, 201);

    let b_ids = [&b_flow, &b_run, &b_credential, &b_key, &b_member];
    let b_names = [
        "globex-flow",
        "globex-secret",
        "globex_var",
        "globex-value",
        "Beatrix-7x",
        "beatrix@globex.example",
    ];
    for (method, path) in routes(&server).await {
        let template = path.trim_start_matches("/api/v1");
        let id = if template.starts_with("/workflows/{id}") {
            Some(&b_flow)
        } else if template.starts_with("/executions/{id}") {
            Some(&b_run)
        } else if template.starts_with("/credentials/{id}") {
            Some(&b_credential)
        } else if template.starts_with("/keys/{id}") {
            Some(&b_key)
        } else if template.starts_with("/members/{id}") {
            Some(&b_member)
        } else {
            None
        };
        let concrete = template
            .replace("{version}", "1")
            .replace("{node}", "greet")
            .replace("{seq}", "1")
            // Variables are named within a tenant: A's call names its own.
            .replace("{name}", "acme_var");
        let concrete = match id {
            Some(id) => concrete.replace("{id}", id),
            None => concrete.replace("{id}", "no-such-id"),
        };
        let body = if template == "/workflows/{id}" && method == Method::PUT {
            Value::String(hello("globex-flow", &["taken"]))
        } else {
            json!({ "name": "x", "value": "y", "version": 1, "text": "", "role": "viewer" })
        };
        let (status, answer) = match &body {
            Value::String(text) => {
                yaml(&server, method.clone(), &concrete, &server.key, text).await
            }
            _ => send(&server, method.clone(), &concrete, &server.key, body).await,
        };
        // A 404 may name the id it was asked for; that is no leak.
        let shown = match id {
            Some(id) => answer.to_string().replace(id.as_str(), ""),
            None => answer.to_string(),
        };
        for secret in b_ids.iter().map(|s| s.as_str()).chain(b_names) {
            assert!(
                !shown.contains(secret),
                "{method} {concrete} with tenant A's key shows tenant B's `{secret}`: {shown}"
            );
        }
        if id.is_some() {
            assert_eq!(
                status, 404,
                "{method} {concrete} with tenant A's key on tenant B's resource: {answer}"
            );
        }
    }

    // And nothing of B's changed.
    let (_, versions) = send(
        &server,
        Method::GET,
        &format!("/workflows/{b_flow}/versions"),
        &globex,
        Value::Null,
    )
    .await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 1, "{versions}");
    let (_, credentials) = send(&server, Method::GET, "/credentials", &globex, Value::Null).await;
    assert_eq!(
        credentials["items"][0]["id"],
        json!(b_credential),
        "{credentials}"
    );
    let (_, members) = send(&server, Method::GET, "/members", &globex, Value::Null).await;
    assert_eq!(members["items"][0]["id"], json!(b_member), "{members}");
    let (_, keys) = send(&server, Method::GET, "/keys", &globex, Value::Null).await;
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["revoked_at"].is_null()),
        "{keys}"
    );
    let (_, variables) = send(&server, Method::GET, "/variables", &globex, Value::Null).await;
    assert!(variables.to_string().contains("globex_var"), "{variables}");
}

/// The least role each route needs, by the roles' definitions (viewer <
/// operator < editor < admin < owner); `platform` for what only the
/// platform tenant's owner does (making tenants, rotating the master key,
/// setting a tenant's limits).
fn least_role(method: &Method, template: &str) -> &'static str {
    let path = template.trim_start_matches("/api/v1");
    match (method.as_str(), path) {
        ("POST", "/tenants") | ("PUT", "/limits") | (_, "/vault" | "/vault/rotate") => "platform",
        (_, "/keys" | "/keys/{id}" | "/members" | "/members/{id}" | "/policies" | "/audit") => {
            "admin"
        }
        ("GET", "/credentials") => "editor",
        (_, p) if p.starts_with("/credentials") => "editor",
        ("GET", _) | ("POST", "/workflows/validate" | "/expressions/preview") => "viewer",
        ("POST", p) if p.ends_with("/run") || p.ends_with("/executions") => "operator",
        ("POST", p)
            if p.ends_with("/cancel") || p.ends_with("/retry") || p.ends_with("/replay") =>
        {
            "operator"
        }
        _ => "editor",
    }
}

#[tokio::test]
async fn each_role_may_call_exactly_the_routes_its_role_allows() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(data.path(), &[], &audit_env(data.path())).await;
    let (_, acme) = tenant(&server, "Acme").await;
    let ranks = ["viewer", "operator", "editor", "admin", "owner"];
    let routes = routes(&server).await;
    for (rank, role) in ranks.iter().enumerate() {
        let (_, key) = key(&server, &acme, role, json!({})).await;
        for (method, path) in &routes {
            let need = least_role(method, path);
            let allowed = match need {
                // Only the owner of the platform's own tenant makes tenants.
                "platform" => false,
                need => rank >= ranks.iter().position(|r| *r == need).unwrap(),
            };
            // Ids that do not exist: an allowed call gets as far as the
            // handler (404, 400...), a denied one stops at 403.
            let concrete = path
                .trim_start_matches("/api/v1")
                .replace("{id}", "no-such-id")
                .replace("{version}", "1")
                .replace("{node}", "nope")
                .replace("{seq}", "1")
                .replace("{name}", "nope");
            let (status, answer) = send(&server, method.clone(), &concrete, &key, json!({})).await;
            assert_eq!(
                status == 403,
                !allowed,
                "a {role} key on {method} {path}: {status} {answer}"
            );
            if status == 403 {
                assert!(
                    answer["error"]["message"].as_str().unwrap().contains(role),
                    "the refusal names the role: {answer}"
                );
            }
        }
    }
}

#[tokio::test]
async fn scoped_expired_and_revoked_keys_are_refused_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(data.path(), &[], &audit_env(data.path())).await;
    let (_, reader) = key(
        &server,
        &server.key,
        "admin",
        json!({ "scopes": ["execution.read"] }),
    )
    .await;
    let (status, _) = send(&server, Method::GET, "/executions", &reader, Value::Null).await;
    assert_eq!(status, 200);
    let (status, refused) = send(&server, Method::GET, "/workflows", &reader, Value::Null).await;
    assert_eq!(status, 403);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scopes (execution.read)"),
        "{refused}"
    );

    let (status, bad) = send(
        &server,
        Method::POST,
        "/keys",
        &server.key,
        json!({ "role": "viewer", "scopes": ["workflows.*"] }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`workflows.*` names no action"),
        "{bad}"
    );

    let (_, expired) = key(
        &server,
        &server.key,
        "viewer",
        json!({ "expiresInDays": 0 }),
    )
    .await;
    let (status, answer) = send(&server, Method::GET, "/workflows", &expired, Value::Null).await;
    assert_eq!(status, 401);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{answer}"
    );

    let (editor_id, editor) = key(&server, &server.key, "editor", json!({})).await;
    let (status, answer) = send(
        &server,
        Method::POST,
        "/keys",
        &editor,
        json!({ "role": "admin" }),
    )
    .await;
    assert_eq!(
        status, 403,
        "no key makes a key above its own role: {answer}"
    );
    let (status, _) = send(
        &server,
        Method::DELETE,
        &format!("/keys/{editor_id}"),
        &server.key,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(&server, Method::GET, "/workflows", &editor, Value::Null).await;
    assert_eq!(status, 401, "a revoked key stops working");
}

#[tokio::test]
async fn a_tenant_policy_stops_editors_changing_prod_workflows() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(data.path(), &[], &audit_env(data.path())).await;
    let (_, editor) = key(&server, &server.key, "editor", json!({})).await;
    let (_, prod) = yaml(
        &server,
        Method::POST,
        "/workflows",
        &editor,
        &hello("prod-flow", &["prod"]),
    )
    .await;
    let (_, dev) = yaml(
        &server,
        Method::POST,
        "/workflows",
        &editor,
        &hello("dev-flow", &["dev"]),
    )
    .await;

    let (status, refused) = send(&server, Method::PUT, "/policies", &server.key, json!({ "text": "forbid (principal, action, resource) when { resource.colour == \"red\" };" })).await;
    assert_eq!(status, 400);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fit the schema"),
        "{refused}"
    );
    let policy = r#"forbid (principal in N8nWork::Role::"editor", action == N8nWork::Action::"workflow.write", resource)
  when { resource.tags.contains("prod") } unless { principal in N8nWork::Role::"admin" };"#;
    let (status, _) = send(
        &server,
        Method::PUT,
        "/policies",
        &server.key,
        json!({ "text": policy }),
    )
    .await;
    assert_eq!(status, 200);

    let prod_id = prod["id"].as_str().unwrap();
    let (status, refused) = yaml(
        &server,
        Method::PUT,
        &format!("/workflows/{prod_id}"),
        &editor,
        &hello("prod-flow", &["prod", "v2"]),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forbids it"),
        "{refused}"
    );
    let dev_id = dev["id"].as_str().unwrap();
    let (status, answer) = yaml(
        &server,
        Method::PUT,
        &format!("/workflows/{dev_id}"),
        &editor,
        &hello("dev-flow", &["dev", "v2"]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = send(
        &server,
        Method::POST,
        &format!("/workflows/{prod_id}/run?wait=true"),
        &editor,
        json!({ "name": "Ada" }),
    )
    .await;
    assert!(status < 300, "editors still run prod workflows: {answer}");
    let (status, _) = yaml(
        &server,
        Method::PUT,
        &format!("/workflows/{prod_id}"),
        &server.key,
        &hello("prod-flow", &["prod", "v2"]),
    )
    .await;
    assert_eq!(status, 200, "the owner still edits it");
}

fn verify(data: &Path, env: &[(String, String)]) -> (bool, String) {
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

/// A copy of the data directory with `sql` applied to its database.
async fn tampered(data: &Path, sql: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for name in ["n8n-work.db", "n8n-work.db-wal", "audit.head"] {
        if data.join(name).exists() {
            std::fs::copy(data.join(name), copy.path().join(name)).unwrap();
        }
    }
    let url = format!("sqlite://{}", copy.path().join("n8n-work.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    copy
}

#[tokio::test]
async fn the_audit_log_records_changes_and_verify_finds_tampering() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let env = audit_env(keys.path());
    let mut server = start_env(data.path(), &[], &env).await;
    let (key_id, _) = key(&server, &server.key, "viewer", json!({})).await;
    let (_, flow) = yaml(
        &server,
        Method::POST,
        "/workflows",
        &server.key,
        &hello("audited", &[]),
    )
    .await;
    let flow = flow["id"].as_str().unwrap().to_owned();
    send(
        &server,
        Method::POST,
        &format!("/workflows/{flow}/activate"),
        &server.key,
        json!({}),
    )
    .await;
    send(&server, Method::POST, "/credentials", &server.key, json!({ "name": "c", "type": "httpHeaderAuth", "value": { "name": "a", "value": "planted-9f2c" } })).await;
    send(
        &server,
        Method::DELETE,
        &format!("/keys/{key_id}"),
        &server.key,
        Value::Null,
    )
    .await;

    let (status, lines) = send(&server, Method::GET, "/audit", &server.key, Value::Null).await;
    assert_eq!(status, 200);
    let entries: Vec<Value> = lines
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    let (key_target, flow_target) = (format!("key:{key_id}"), format!("workflow:{flow}"));
    assert_eq!(
        actions[..3],
        [
            ("key.write", key_target.as_str()),
            ("workflow.write", flow_target.as_str()),
            ("workflow.activate", flow_target.as_str())
        ],
        "{lines}"
    );
    assert_eq!(actions[4], ("key.write", key_target.as_str()));
    assert!(entries[4]["before"].is_string() && entries[4]["after"].is_string());
    assert_ne!(
        entries[4]["before"], entries[4]["after"],
        "revoking changed the key"
    );
    assert!(
        entries.iter().all(|e| e["source"] == json!("127.0.0.1")),
        "{lines}"
    );
    assert!(
        !lines.to_string().contains("planted-9f2c"),
        "no secret in the log"
    );

    server.child.kill().await.unwrap();
    server.child.wait().await.unwrap();
    let (ok, said) = verify(data.path(), &env);
    assert!(ok, "{said}");
    assert!(said.contains("intact: 5 entries"), "{said}");

    for (sql, finding) in [
        (
            "UPDATE audit_log SET actor = 'someone' WHERE seq = 2",
            "entry 2 does not match",
        ),
        (
            "DELETE FROM audit_log WHERE seq = 3",
            "entry 4 follows entry 2",
        ),
        (
            "UPDATE audit_log SET seq = -2 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = -2",
            "entry 2 does not match",
        ),
        ("DELETE FROM audit_log WHERE seq = 5", "truncated"),
    ] {
        let copy = tampered(data.path(), sql).await;
        let (ok, said) = verify(copy.path(), &env);
        assert!(!ok, "`{sql}` went unnoticed: {said}");
        assert!(said.contains(finding), "`{sql}`: {said}");
    }
}

#[tokio::test]
async fn the_cli_makes_tenants_and_keys_and_only_the_platform_owner_makes_tenants() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(data.path(), &[], &audit_env(data.path())).await;
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
            .args(args)
            .args(["--server", &server.base, "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (ok, said) = cli(&["tenant", "create", "Initech Labs"]);
    assert!(ok, "{said}");
    assert!(said.contains("created tenant initech-labs"), "{said}");
    let initech = said
        .lines()
        .find_map(|l| l.trim().strip_prefix("nwk_"))
        .map(|k| format!("nwk_{k}"))
        .unwrap();

    let (ok, said) = cli(&[
        "key",
        "create",
        "--role",
        "operator",
        "--name",
        "ci",
        "--scope",
        "workflow.*",
    ]);
    assert!(ok, "{said}");
    assert!(said.contains("created a operator key"), "{said}");
    let (ok, said) = cli(&["key", "list"]);
    assert!(
        ok && said.contains("operator") && said.contains("workflow.*"),
        "{said}"
    );

    // Another tenant's owner is no platform owner.
    let (status, answer) = send(
        &server,
        Method::POST,
        "/tenants",
        &initech,
        json!({ "name": "Evil" }),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    let (ok, said) = cli(&["tenant", "create", "Initech Labs"]);
    assert!(!ok && said.contains("exists"), "{said}");
}

/// A workflow that parks on a Wait until cancelled, and one that ends at once.
const PARKED: &str = "
name: parked
nodes:
  - {id: start, type: manual}
  - {id: pause, type: wait, params: {amountMs: 3600000}}
connections:
  - {from: start, to: pause}
";
const QUICK: &str = "
name: quick
nodes:
  - {id: start, type: manual}
  - {id: set, type: set, params: {fields: {done: true}}}
connections:
  - {from: start, to: set}
";

async fn push(server: &Server, key: &str, yaml_text: &str) -> String {
    let (status, made) = yaml(server, Method::POST, "/workflows", key, yaml_text).await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_owned()
}

/// A 429 from a tenant limit: its code, and a message naming the setting.
fn assert_over(status: u16, body: &Value, setting: &str) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "limit_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(setting), "{message}");
}

#[tokio::test]
async fn a_tenant_over_its_open_runs_or_its_hourly_steps_gets_429_and_others_do_not() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(
        data.path(),
        &[
            "--tenant-running-executions",
            "1",
            "--tenant-steps-per-hour",
            "4",
        ],
        &audit_env(data.path()),
    )
    .await;
    let owner = server.key.clone();
    let parked = push(&server, &owner, PARKED).await;
    let quick = push(&server, &owner, QUICK).await;
    let run = |id: &str, wait: bool| format!("/workflows/{id}/run?wait={wait}");

    let (status, started) = send(
        &server,
        Method::POST,
        &run(&parked, false),
        &owner,
        json!({}),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let (status, refused) =
        send(&server, Method::POST, &run(&quick, true), &owner, json!({})).await;
    assert_over(status, &refused, "tenant-running-executions");

    // Another tenant has budgets of its own.
    let (_, other) = tenant(&server, "other").await;
    let other_quick = push(&server, &other, QUICK).await;
    let (status, ran) = send(
        &server,
        Method::POST,
        &run(&other_quick, true),
        &other,
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &ran["status"]),
        (200, &json!("succeeded")),
        "{ran}"
    );

    // Once the parked run ends, a run starts: 2 + 2 steps this hour.
    let parked_run = started["executionId"].as_str().unwrap();
    let (status, cancelled) = send(
        &server,
        Method::POST,
        &format!("/executions/{parked_run}/cancel"),
        &owner,
        json!({}),
    )
    .await;
    assert!(status < 300, "{cancelled}");
    let (status, ran) = send(&server, Method::POST, &run(&quick, true), &owner, json!({})).await;
    assert_eq!(
        (status, &ran["status"]),
        (200, &json!("succeeded")),
        "{ran}"
    );
    let (status, refused) =
        send(&server, Method::POST, &run(&quick, true), &owner, json!({})).await;
    assert_over(status, &refused, "tenant-steps-per-hour");
    // A webhook start is held to the same budget.
    let hook = push(&server, &owner, &hello("hooked", &[])).await;
    let (status, activated) = send(
        &server,
        Method::POST,
        &format!("/workflows/{hook}/activate"),
        &owner,
        json!({}),
    )
    .await;
    assert!(status < 300, "{activated}");
    let (status, refused) = call(
        Method::POST,
        &format!("{}/webhook/hooked", server.base),
        None,
        "application/json",
        json!({ "name": "Ada" }).to_string(),
    )
    .await;
    assert_over(status, &refused, "tenant-steps-per-hour");
}

#[tokio::test]
async fn a_tenant_over_its_request_rate_gets_429_with_retry_after_and_others_do_not() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(
        data.path(),
        &["--tenant-requests-per-second", "2"],
        &audit_env(data.path()),
    )
    .await;
    let (_, other) = tenant(&server, "other").await;
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..40 {
        let response = client
            .get(format!("{}/workflows", server.api()))
            .bearer_auth(&server.key)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("40 calls in a row go over 2 per second");
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_over(429, &body, "tenant-requests-per-second");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`default`"),
        "the message names the tenant: {body}"
    );
    let (status, listed) = send(&server, Method::GET, "/workflows", &other, Value::Null).await;
    assert_eq!(
        status, 200,
        "the other tenant's budget is its own: {listed}"
    );
}

#[tokio::test]
async fn the_platform_owner_sets_one_tenants_limits_above_or_below_the_servers() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(
        data.path(),
        &["--tenant-running-executions", "1"],
        &audit_env(data.path()),
    )
    .await;
    let owner = server.key.clone();
    let (big_id, big) = tenant(&server, "big").await;
    let start = |key: String, id: String| {
        let server = &server;
        async move {
            send(
                server,
                Method::POST,
                &format!("/workflows/{id}/run?wait=false"),
                &key,
                json!({}),
            )
            .await
        }
    };

    // Above the server's setting for `big`.
    let (status, set) = send(
        &server,
        Method::PUT,
        "/limits",
        &owner,
        json!({ "tenant": big_id, "runningExecutions": 3 }),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["limits"]["runningExecutions"], 3, "{set}");
    assert_eq!(set["settings"]["runningExecutions"], 1, "{set}");
    let parked = push(&server, &big, PARKED).await;
    for _ in 0..3 {
        let (status, started) = start(big.clone(), parked.clone()).await;
        assert_eq!(status, 202, "{started}");
    }
    let (status, refused) = start(big.clone(), parked.clone()).await;
    assert_over(status, &refused, "this tenant's own limit");
    let (status, own) = send(&server, Method::GET, "/limits", &big, Value::Null).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["usage"]["runningExecutions"], 3, "{own}");

    // The platform tenant keeps the server's setting.
    let mine = push(&server, &owner, PARKED).await;
    let (status, _) = start(owner.clone(), mine.clone()).await;
    assert_eq!(status, 202);
    let (status, refused) = start(owner.clone(), mine).await;
    assert_over(status, &refused, "tenant-running-executions");

    // A tenant's owner neither sets its own limits nor reads another's.
    let (status, refused) = send(
        &server,
        Method::PUT,
        "/limits",
        &big,
        json!({ "tenant": big_id, "runningExecutions": 100 }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, _) = send(
        &server,
        Method::GET,
        "/limits?tenant=default",
        &big,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let (status, bad) = send(
        &server,
        Method::PUT,
        "/limits",
        &owner,
        json!({ "tenant": big_id, "requestsPerSecond": 0 }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    // Below it, from the CLI: 0 stops `big`'s runs; clearing restores the setting.
    let (ok, out, err) = crate::api::cli(
        &server,
        data.path(),
        &["tenant", "limits", &big_id, "--running-executions", "0"],
    );
    assert!(
        ok && out.contains("running executions: 0 (this tenant's own, 3 used)"),
        "{out}{err}"
    );
    let (ok, out, err) = crate::api::cli(
        &server,
        data.path(),
        &["tenant", "limits", &big_id, "--clear"],
    );
    assert!(
        ok && out.contains("running executions: 1 (the server's setting"),
        "{out}{err}"
    );
    let (status, refused) = start(big.clone(), parked).await;
    assert_over(status, &refused, "tenant-running-executions");

    let (_, trail) = call(
        Method::GET,
        &format!("{}/audit", server.api()),
        Some(&owner),
        "application/json",
        String::new(),
    )
    .await;
    assert!(trail.to_string().contains("tenant.limits"), "{trail}");
}
