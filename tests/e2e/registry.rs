//! The plugin registry mounted by `serve` at `/v2/`, behind the platform's
//! API keys: a tenant pushes under its own name, every tenant pulls, and a
//! key without the role or the scope is granted nothing more.

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
