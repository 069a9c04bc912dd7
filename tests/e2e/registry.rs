//! The plugin registry mounted by `serve` at `/v2/`, behind the platform's
//! API keys: a tenant pushes under its own name, every tenant pulls, and a
//! key without the role or the scope is granted nothing more.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::serve::{Server, call, start_env};

/// A registry token for `scope`, logging in with `key` (if any).
async fn token(server: &Server, key: Option<&str>, scope: &str) -> (String, Value) {
    let mut request = Client::new()
        .get(format!("{}/v2/token", server.base))
        .query(&[("service", "n8n-work"), ("scope", scope)]);
    if let Some(key) = key {
        request = request.basic_auth("key", Some(key));
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a token for {scope}");
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    // The grant is readable in the token's payload.
    let payload = token.split('.').next().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    (token, claims["access"][0]["actions"].clone())
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Pushes one blob and a manifest naming it as `repository:tag`; the
/// status of the manifest upload (or of the first refused step).
async fn push(server: &Server, token: &str, repository: &str, tag: &str) -> StatusCode {
    let client = Client::new();
    let layer = b"\0asm\x0d\0\x01\0 not really a component".to_vec();
    let config = b"{}".to_vec();
    for blob in [&layer, &config] {
        let response = client
            .post(format!(
                "{}/v2/{repository}/blobs/uploads/?digest={}",
                server.base,
                digest(blob)
            ))
            .bearer_auth(token)
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        if !response.status().is_success() {
            return response.status();
        }
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": digest(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/wasm", "digest": digest(&layer), "size": layer.len() }],
    });
    client
        .put(format!("{}/v2/{repository}/manifests/{tag}", server.base))
        .bearer_auth(token)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

async fn pull(server: &Server, token: &str, repository: &str, tag: &str) -> StatusCode {
    Client::new()
        .get(format!("{}/v2/{repository}/manifests/{tag}", server.base))
        .bearer_auth(token)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .status()
}

/// A server (its audit key beside its data) with a second tenant, `acme`;
/// and acme's owner key.
async fn with_acme(data: &std::path::Path) -> (Server, String) {
    let server = start_env(data, &[], &crate::access::audit_env(data)).await;
    let (status, acme) = call(
        reqwest::Method::POST,
        &format!("{}/tenants", server.api()),
        Some(&server.key),
        "application/json",
        json!({ "name": "acme" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{acme}");
    let key = acme["ownerKey"]["key"].as_str().unwrap().to_owned();
    (server, key)
}

/// A viewer key that `owner` makes in its own tenant.
async fn viewer(server: &Server, owner: &str) -> String {
    let (status, viewer) = call(
        reqwest::Method::POST,
        &format!("{}/keys", server.api()),
        Some(owner),
        "application/json",
        json!({ "role": "viewer", "name": "reader" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{viewer}");
    viewer["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_registry_lets_a_tenant_publish_under_its_own_name_and_every_tenant_read() {
    let data = tempfile::tempdir().unwrap();
    let (server, acme_key) = with_acme(data.path()).await;
    let viewer_key = viewer(&server, &server.key).await;

    // The registry asks for a token, naming where to get it.
    let challenge = Client::new()
        .get(format!("{}/v2/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let www = challenge.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.contains("/v2/token") && www.contains("service=\"n8n-work\""),
        "{www}"
    );

    let scope = "repository:default/hello:pull,push";
    let (owner, granted) = token(&server, Some(&server.key), scope).await;
    assert_eq!(granted, json!(["pull", "push"]));
    assert_eq!(
        push(&server, &owner, "default/hello", "0.1.0").await,
        StatusCode::CREATED
    );

    // Another tenant reads what `default` published, but cannot publish there.
    let (other, granted) = token(&server, Some(&acme_key), scope).await;
    assert_eq!(granted, json!(["pull"]));
    assert_eq!(
        pull(&server, &other, "default/hello", "0.1.0").await,
        StatusCode::OK
    );
    assert_eq!(
        push(&server, &other, "default/hello", "0.2.0").await,
        StatusCode::UNAUTHORIZED
    );
    let (own, granted) = token(&server, Some(&acme_key), "repository:acme/hello:push").await;
    assert_eq!(granted, json!(["push"]), "under its own name it may");
    assert_eq!(
        push(&server, &own, "acme/hello", "0.1.0").await,
        StatusCode::CREATED
    );

    // A viewer reads; nobody anonymous gets anything; a wrong key is refused.
    let (_, granted) = token(&server, Some(&viewer_key), scope).await;
    assert_eq!(granted, json!(["pull"]));
    let (anonymous, granted) = token(&server, None, scope).await;
    assert_eq!(granted, json!([]));
    assert_eq!(
        pull(&server, &anonymous, "default/hello", "0.1.0").await,
        StatusCode::UNAUTHORIZED
    );
    let refused = Client::new()
        .get(format!("{}/v2/token", server.base))
        .query(&[("service", "n8n-work"), ("scope", scope)])
        .basic_auth("key", Some("nwk_wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

/// A marketplace call with `key` (if any) and a claimed actor.
async fn market(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Client::new()
        .request(method, format!("{}/v2/_marketplace{path}", server.base))
        .header("x-n8n-work-actor", "mallory");
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_marketplace_in_serve_answers_to_keys_within_their_tenant() {
    let data = tempfile::tempdir().unwrap();
    let (server, acme_key) = with_acme(data.path()).await;
    let api = server.api();
    let viewer_key = viewer(&server, &acme_key).await;
    use reqwest::Method;

    let (status, _) = market(&server, Method::GET, "/search", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no key, no marketplace");
    let (status, found) = market(&server, Method::GET, "/search", Some(&viewer_key), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(found["plugins"].is_array(), "{found}");

    // Another tenant's settings are out of reach, whatever the role.
    let (status, refused) = market(
        &server,
        Method::GET,
        "/tenants/default/policy",
        Some(&acme_key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let policy = json!({ "trustedKeys": [], "allowUnsigned": false });
    let (status, refused) = market(
        &server,
        Method::PUT,
        "/tenants/acme/policy",
        Some(&viewer_key),
        Some(policy.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused.to_string().contains("plugin.approve"), "{refused}");

    // The tenant's owner sets it; the marketplace records the key, not the
    // actor the request claimed, and so does the platform's audit log.
    let (status, set) = market(
        &server,
        Method::PUT,
        "/tenants/acme/policy",
        Some(&acme_key),
        Some(policy),
    )
    .await;
    assert!(status.is_success(), "{status} {set}");
    let (_, audit) = market(
        &server,
        Method::GET,
        "/tenants/acme/audit",
        Some(&acme_key),
        None,
    )
    .await;
    let text = audit.to_string();
    assert!(text.contains("key:") && !text.contains("mallory"), "{text}");
    let (_, trail) = call(
        reqwest::Method::GET,
        &format!("{api}/audit"),
        Some(&acme_key),
        "application/json",
        String::new(),
    )
    .await;
    assert!(
        trail.to_string().contains("plugin.approve"),
        "the platform's audit log has the change: {trail}"
    );
}

#[tokio::test]
async fn a_registry_token_ends_with_its_key_and_the_realm_is_the_public_url() {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(
        data.path(),
        &["--public-url", "https://n8n.example.test/"],
        &crate::access::audit_env(data.path()),
    )
    .await;

    // Clients are sent to log in at the configured URL, whatever Host says.
    let challenge = Client::new()
        .get(format!("{}/v2/", server.base))
        .header("host", "evil.example")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
    let www = challenge.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with("Bearer realm=\"https://n8n.example.test/v2/token\""),
        "{www}"
    );

    // An editor's key logs in and pushes; once revoked, its token, not yet
    // expired, pushes and pulls nothing.
    let (status, made) = call(
        reqwest::Method::POST,
        &format!("{}/keys", server.api()),
        Some(&server.key),
        "application/json",
        json!({ "role": "editor", "name": "publisher" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (id, editor) = (made["id"].as_str().unwrap(), made["key"].as_str().unwrap());
    let scope = "repository:default/hello:pull,push";
    let (token, granted) = token(&server, Some(editor), scope).await;
    assert_eq!(granted, json!(["pull", "push"]));
    assert_eq!(
        push(&server, &token, "default/hello", "0.1.0").await,
        StatusCode::CREATED
    );
    assert_eq!(
        pull(&server, &token, "default/hello", "0.1.0").await,
        StatusCode::OK
    );
    let (status, revoked) = call(
        reqwest::Method::DELETE,
        &format!("{}/keys/{id}", server.api()),
        Some(&server.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(
        push(&server, &token, "default/hello", "0.2.0").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        pull(&server, &token, "default/hello", "0.1.0").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_tenant_can_neither_take_another_tenants_publisher_name_nor_read_its_trust() {
    use n8n_work_registry::client::{ClientOptions, RegistryClient, UploadProgress};
    use n8n_work_registry::signature::{KeyAlgorithm, SigningKey};
    use reqwest::Method;
    let data = tempfile::tempdir().unwrap();
    let (server, acme_key) = with_acme(data.path()).await;

    // `default` publishes a plugin signed by a vendor only it knows it trusts.
    let vendor = SigningKey::generate(KeyAlgorithm::Ed25519);
    let spec = serde_json::from_value(json!({
        "name": "notify", "version": "1.0.0", "displayName": "Notify",
        "description": "Sends a notice", "paramsSchema": {"type": "object"},
    }))
    .unwrap();
    let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
    wasm.extend_from_slice(b"not really a component");
    let artifact = n8n_work_registry::plugin::PluginArtifact::build(wasm.into(), spec).unwrap();
    let host = server.base.trim_start_matches("http://");
    RegistryClient::new(ClientOptions {
        credentials: Some(("key".into(), server.key.clone())),
        plain_http: true,
        chunk_size: 0,
    })
    .publish(
        &n8n_work_registry::client::parse_reference(&format!("{host}/default/notify:1.0.0"))
            .unwrap(),
        &artifact,
        Some(&vendor),
        Arc::new(|_: &UploadProgress| {}),
    )
    .await
    .unwrap();
    let vendor_pem = vendor.public_key().to_pem();
    let policy = json!({ "trustedKeys": [{ "name": "default-private-vendor", "publicKeyPem": vendor_pem }] });
    let (status, set) = market(
        &server,
        Method::PUT,
        "/tenants/default/policy",
        Some(&server.key),
        Some(policy),
    )
    .await;
    assert!(status.is_success(), "{status} {set}");

    // acme asks for the index as `default` sees it: refused, nothing shown.
    for path in [
        "/search?tenant=default",
        "/plugin?repository=default/notify&tenant=default",
    ] {
        let (status, answer) = market(&server, Method::GET, path, Some(&acme_key), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
        assert!(
            !answer.to_string().contains("default-private-vendor"),
            "{answer}"
        );
    }
    let (status, found) = market(&server, Method::GET, "/search", Some(&acme_key), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["plugins"][0]["versions"][0]["verified"], false,
        "{found}"
    );
    let (_, found) = market(&server, Method::GET, "/search", Some(&server.key), None).await;
    assert_eq!(
        found["plugins"][0]["versions"][0]["verified"], true,
        "{found}"
    );

    // acme names itself Slack first; `default` cannot take the name over.
    let slack = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let claim = |name: &str, key: &SigningKey| {
        Some(json!({ "name": name, "publicKeyPem": key.public_key().to_pem() }))
    };
    let (status, claimed) = market(
        &server,
        Method::POST,
        "/publishers",
        Some(&acme_key),
        claim("Slack", &slack),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let (status, refused) = market(
        &server,
        Method::POST,
        "/publishers",
        Some(&server.key),
        claim("Slack", &vendor),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (_, found) = market(&server, Method::GET, "/search", Some(&acme_key), None).await;
    assert!(
        found["plugins"][0]["versions"][0]["publisher"].is_null(),
        "default's plugin is not shown as Slack's: {found}"
    );
}

/// Runs the CLI with `key` as its API key and the server's data dir.
fn cli_as(server: &Server, data: &std::path::Path, key: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(args)
        .args(["--server", &server.base, "--api-key", key])
        .env("N8N_WORK_DATA_DIR", data)
        .env_remove("N8N_WORK_API_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The value of header `name` in a request's `head`.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// A stand-in for Slack's Web API on loopback: `chat.postMessage` answers
/// as Slack does; every request's `Authorization` and body are kept.
async fn fake_slack() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                let (head, body) = loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&request[..end]).into_owned();
                    let length: usize = header(&head, "content-length")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break (head, request[end + 4..end + 4 + length].to_vec());
                    }
                };
                let auth = header(&head, "authorization").unwrap_or_default();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                kept.lock().unwrap().push((auth, body.clone()));
                let answer = json!({
                    "ok": true,
                    "channel": body["channel"],
                    "ts": "1700000000.000100",
                    "message": { "text": body["text"] },
                })
                .to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{address}"), seen)
}

/// Node type `node_type` as `GET /nodes` lists it for `key`'s tenant.
async fn listed_node(api: &str, key: &str, node_type: &str) -> Option<Value> {
    let url = format!("{api}/nodes");
    let (status, nodes) = call(
        reqwest::Method::GET,
        &url,
        Some(key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{nodes}");
    nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == node_type)
        .cloned()
}

/// POSTs a workflow (`yaml`) to `path` of the API with `key`.
async fn post_yaml(api: &str, path: &str, key: &str, yaml: String) -> (u16, Value) {
    call(
        reqwest::Method::POST,
        &format!("{api}{path}"),
        Some(key),
        "application/yaml",
        yaml,
    )
    .await
}

/// POSTs `{}` to `path` of the API with `key`.
async fn post_empty(api: &str, path: &str, key: &str) -> (u16, Value) {
    call(
        reqwest::Method::POST,
        &format!("{api}{path}"),
        Some(key),
        "application/json",
        "{}".into(),
    )
    .await
}

/// The workflow acme runs: a manual start, then the plugin posting to Slack.
fn slack_flow(plugin: &str, slack: &str) -> String {
    format!(
        "name: notify\nnodes:\n  - {{id: start, type: manual}}\n  - id: post\n    type: '{plugin}'\n    params: {{channel: '#ops', text: 'deployed', apiUrl: '{slack}/api'}}\n    credentials: {{slack: slack-bot}}\n    egress: ['https://slack.com', 'https://hooks.slack.com', '{slack}']\nconnections:\n  - {{from: start, to: post}}\n"
    )
}

#[tokio::test]
async fn the_signed_builtin_slack_installs_in_another_tenant_runs_there_and_a_tampered_layer_is_refused()
 {
    let data = tempfile::tempdir().unwrap();
    let server = start_env(
        data.path(),
        &["--egress-allow-private", "127.0.0.1"],
        &crate::access::audit_env(data.path()),
    )
    .await;
    let (slack, seen) = fake_slack().await;
    let api = server.api();
    let host = server.base.trim_start_matches("http://").to_owned();
    let registry = server.base.clone();
    let tenant = |name: &str| {
        let api = api.clone();
        let owner = server.key.clone();
        let name = name.to_owned();
        async move {
            let (status, made) = call(
                reqwest::Method::POST,
                &format!("{api}/tenants"),
                Some(&owner),
                "application/json",
                json!({ "name": name }).to_string(),
            )
            .await;
            assert_eq!(status, 201, "{made}");
            made["ownerKey"]["key"].as_str().unwrap().to_owned()
        }
    };
    let acme = tenant("acme").await;
    let beta = tenant("beta").await;
    // The version the component describes is the one workflows name.
    let (ok, described) = cli_as(
        &server,
        data.path(),
        &server.key,
        &["node", "describe", "builtin:slack"],
    );
    assert!(ok, "{described}");
    let described: Value = serde_json::from_str(&described).unwrap();
    let version = described["version"].as_str().unwrap().to_owned();
    let plugin = format!("default/slack@{version}");

    // The publisher (tenant `default`) signs and publishes the built-in Slack node.
    let signing = data.path().join("publisher.key");
    let (ok, out) = cli_as(
        &server,
        data.path(),
        &server.key,
        &["plugin", "keygen", "--out", signing.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let reference = format!("{host}/default/slack:{version}");
    let (ok, out) = cli_as(
        &server,
        data.path(),
        &server.key,
        &[
            "node",
            "publish",
            "--component",
            "builtin:slack",
            "--ref",
            &reference,
            "--key",
            signing.to_str().unwrap(),
            "--username",
            "key",
            "--password",
            &server.key,
        ],
    );
    assert!(ok, "{out}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{reference}@")))
        .unwrap_or_else(|| panic!("publish prints REF@DIGEST: {out}"))
        .trim()
        .to_owned();

    // Before acme installs it, a workflow naming it does not save, and says why.
    let yaml = slack_flow(&plugin, &slack);
    let (status, refused) = post_yaml(&api, "/workflows", &acme, yaml.clone()).await;
    assert_eq!(status, 422, "{refused}");
    let said = refused.to_string();
    assert!(
        said.contains("not installed in tenant `acme`") && said.contains("plugin install"),
        "{said}"
    );

    // acme trusts the publisher, asks, and its owner approves the origins
    // the plugin asks for plus acme's own Slack endpoint.
    let market = |key: &str, args: &[&str]| {
        let mut all: Vec<&str> = vec!["plugin"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--registry", &registry]);
        cli_as(&server, data.path(), key, &all)
    };
    let public = format!("{}.pub", signing.display());
    let (ok, out) = market(&acme, &["policy", "--trust", &public, "--tenant", "acme"]);
    assert!(ok && out.contains("trusts publisher"), "{out}");
    let install = format!("default/slack:{version}");
    let (ok, out) = market(&acme, &["install", &install, "--tenant", "acme"]);
    assert!(ok && out.contains("pending"), "{out}");
    let (ok, out) = market(
        &acme,
        &[
            "approve",
            "1",
            "--reason",
            "ops notifications",
            "--egress",
            "https://slack.com",
            "--egress",
            "https://hooks.slack.com",
            "--egress",
            &slack,
            "--tenant",
            "acme",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = market(&acme, &["list", "--tenant", "acme"]);
    assert!(ok && out.contains(&digest), "installed, pinned: {out}");

    // The editor's node list offers it to acme, with its parameters' schema.
    let listed = listed_node(&api, &acme, &plugin)
        .await
        .expect("acme's node list has the plugin");
    assert_eq!(listed["plugin"], true, "{listed}");
    assert!(
        listed["params"]["properties"]["channel"].is_object(),
        "{listed}"
    );
    assert!(
        listed_node(&api, &server.key, &plugin).await.is_none(),
        "not installed in default"
    );

    // Now it saves, activates pinned to the published digest, and runs.
    let (status, credential) = call(
        reqwest::Method::POST,
        &format!("{api}/credentials"),
        Some(&acme),
        "application/json",
        json!({ "name": "slack-bot", "type": "slack-bot-token", "value": { "token": "xoxb-acme" } })
            .to_string(),
    )
    .await;
    assert_eq!(status, 201, "{credential}");
    let (status, saved) = post_yaml(&api, "/workflows", &acme, yaml.clone()).await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().unwrap().to_owned();
    let (status, active) = post_empty(&api, &format!("/workflows/{id}/activate"), &acme).await;
    assert_eq!(status, 200, "{active}");
    assert_eq!(active["plugins"][&plugin], json!(digest), "{active}");
    let (status, run) = post_empty(&api, &format!("/workflows/{id}/run?wait=true"), &acme).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    let posted = seen.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].0, "Bearer xoxb-acme");
    assert_eq!(posted[0].1["channel"], "#ops");
    assert_eq!(posted[0].1["text"], "deployed");

    // A grant beyond what acme approved is refused by name.
    let wider = yaml.replace("egress: [", "egress: ['https://evil.example', ");
    let (status, refused) = post_yaml(&api, "/workflows/validate", &acme, wider).await;
    assert_eq!(status, 200, "{refused}");
    assert!(
        refused.to_string().contains("not `https://evil.example`"),
        "{refused}"
    );

    // Tenant `default` published it but did not install it: not there.
    let (status, refused) = post_yaml(&api, "/workflows/validate", &server.key, yaml.clone()).await;
    assert_eq!(status, 200);
    assert!(
        refused
            .to_string()
            .contains("not installed in tenant `default`"),
        "{refused}"
    );

    // One byte of the stored component changed: installing it fails and
    // says why, and so does resolving acme's workflow again.
    let (token, _) = token(&server, Some(&beta), "repository:default/slack:pull").await;
    let manifest: Value = Client::new()
        .get(format!(
            "{}/v2/default/slack/manifests/{version}",
            server.base
        ))
        .bearer_auth(&token)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let hex = layer.trim_start_matches("sha256:");
    let blob = data
        .path()
        .join("registry/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();

    let (ok, out) = market(&beta, &["policy", "--trust", &public, "--tenant", "beta"]);
    assert!(ok, "{out}");
    let (ok, out) = market(&beta, &["install", &install, "--tenant", "beta"]);
    assert!(!ok, "a tampered plugin must not install: {out}");
    assert!(
        out.contains("component") && out.contains(layer),
        "the refusal names the component and its digest: {out}"
    );
    let (status, refused) = post_yaml(&api, "/workflows/validate", &acme, yaml).await;
    assert_eq!(status, 200);
    assert!(
        refused.to_string().contains("cannot be used") && refused.to_string().contains(layer),
        "{refused}"
    );

    // Removing the plugin stops the workflow that was running it.
    let (ok, out) = market(&acme, &["remove", "default/slack", "--tenant", "acme"]);
    assert!(ok, "{out}");
    let (status, refused) =
        post_empty(&api, &format!("/workflows/{id}/run?wait=true"), &acme).await;
    assert_ne!(status, 200, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("not installed in tenant `acme`"),
        "{refused}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "Slack heard nothing more");
}
