//! OAuth2 credentials against a provider the test starts on loopback: the
//! host gets, caches and refreshes access tokens, runs the authorization
//! code flow with PKCE through its callback, and a node only ever sees a
//! valid access token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::{call_flow, push, run_waited, send};
use crate::serve::{Server, start_with};

/// What the provider has seen and issued.
#[derive(Default)]
struct Provider {
    /// Each token request's grant type.
    grants: Vec<String>,
    /// The `Authorization` each call of the resource (`/me`) carried.
    calls: Vec<String>,
    /// Authorization codes issued: code → (PKCE challenge, redirect URI).
    codes: HashMap<String, (String, String)>,
    issued: u32,
}

type Shared = Arc<Mutex<Provider>>;

const SECRET: &str = "client-secret-4f1a";

fn refuse(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": error })),
    )
        .into_response()
}

async fn token(
    State(provider): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut p = provider.lock().unwrap();
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    p.grants.push(grant.clone());
    // The client authenticates with HTTP Basic, its id naming how long
    // the tokens it gets last.
    let basic = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let Some((client, secret)) = basic.split_once(':') else {
        return refuse("invalid_client");
    };
    if secret != SECRET {
        return refuse("invalid_client");
    }
    let lasts = if client == "short" { 1 } else { 3600 };
    match grant.as_str() {
        "client_credentials" => {}
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((challenge, redirect)) = p.codes.remove(&code) else {
                return refuse("invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()));
            if computed != challenge || form.get("redirect_uri") != Some(&redirect) {
                return refuse("invalid_grant");
            }
        }
        "refresh_token" => {
            if form.get("refresh_token").map(String::as_str) != Some("refresh-1") {
                return refuse("invalid_grant");
            }
        }
        _ => return refuse("unsupported_grant_type"),
    }
    p.issued += 1;
    axum::Json(json!({
        "access_token": format!("{grant}-{}", p.issued),
        "token_type": "Bearer",
        "expires_in": lasts,
        "refresh_token": "refresh-1",
    }))
    .into_response()
}

async fn authorize(
    State(provider): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return refuse("invalid_request");
    }
    let mut p = provider.lock().unwrap();
    let code = format!("code-{}", p.codes.len() + 1);
    let redirect = query["redirect_uri"].clone();
    p.codes.insert(
        code.clone(),
        (query["code_challenge"].clone(), redirect.clone()),
    );
    let back = format!("{redirect}?code={code}&state={}", query["state"]);
    Redirect::to(&back).into_response()
}

async fn me(State(provider): State<Shared>, headers: HeaderMap) -> axum::Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    provider.lock().unwrap().calls.push(auth);
    axum::Json(json!({ "id": 7 }))
}

async fn provider() -> (String, Shared) {
    let shared = Shared::default();
    let app = axum::Router::new()
        .route("/token", post(token))
        .route("/authorize", get(authorize))
        .route("/me", get(me))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), shared)
}

/// Stores OAuth2 credential `name` with `value`; its id.
async fn credential(server: &Server, name: &str, value: Value) -> String {
    let (status, made) = send(
        server,
        Method::POST,
        "/credentials",
        json!({ "name": name, "type": "oauth2", "value": value }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    made["id"].as_str().unwrap().to_owned()
}

/// Starts authorizing credential `id`: the provider's URL.
async fn start_authorizing(server: &Server, id: &str) -> String {
    let (status, started) = send(
        server,
        Method::POST,
        &format!("/credentials/{id}/oauth2/authorize"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    started["url"].as_str().unwrap().to_owned()
}

fn calls(provider: &Shared) -> Vec<String> {
    provider.lock().unwrap().calls.clone()
}

fn grants(provider: &Shared) -> Vec<String> {
    provider.lock().unwrap().grants.clone()
}

#[tokio::test]
async fn client_credentials_are_exchanged_cached_and_refreshed_by_the_host() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &["--egress-allow-private", "127.0.0.1"]).await;
    let (url, provider) = provider().await;

    let (status, bad) = send(
        &server,
        Method::POST,
        "/credentials",
        json!({ "name": "crm", "type": "oauth2", "value": { "grant": "client_credentials", "clientId": "client" } }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("tokenUrl"), "{bad}");

    for (name, client) in [("crm", "client"), ("crm-short", "short")] {
        credential(
            &server,
            name,
            json!({
                "grant": "client_credentials", "tokenUrl": format!("{url}/token"),
                "clientId": client, "clientSecret": SECRET, "scopes": ["read"],
            }),
        )
        .await;
    }

    // A long-lived token is got once and used by both runs.
    let long = push(&server, &call_flow("crm-sync", &url, Some("crm"), None)).await;
    for _ in 0..2 {
        let ran = run_waited(&server, &long).await;
        assert_eq!(ran["status"], "succeeded", "{ran}");
        assert!(!ran.to_string().contains(SECRET), "{ran}");
    }
    assert_eq!(
        calls(&provider),
        ["Bearer client_credentials-1", "Bearer client_credentials-1"]
    );
    assert_eq!(grants(&provider), ["client_credentials"]);

    // A token about to expire is replaced before the node gets it.
    let short = push(
        &server,
        &call_flow("crm-short", &url, Some("crm-short"), None),
    )
    .await;
    for _ in 0..2 {
        let ran = run_waited(&server, &short).await;
        assert_eq!(ran["status"], "succeeded", "{ran}");
    }
    let seen = calls(&provider);
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2], "Bearer client_credentials-2");
    assert_eq!(
        seen[3], "Bearer refresh_token-3",
        "refreshed with its refresh token"
    );
    assert_eq!(
        grants(&provider),
        ["client_credentials", "client_credentials", "refresh_token"]
    );

    // Neither the secret nor the tokens rest in the clear.
    let db = std::fs::read(data.path().join("n8n-work.db")).unwrap();
    for needle in [SECRET, "client_credentials-1", "refresh-1"] {
        assert!(
            !db.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is encrypted at rest"
        );
    }
}

#[tokio::test]
async fn the_authorization_code_flow_with_pkce_goes_through_the_callback_and_refreshes() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &["--egress-allow-private", "127.0.0.1"]).await;
    let (url, provider) = provider().await;
    let id = credential(
        &server,
        "crm",
        json!({
            "grant": "authorization_code", "authUrl": format!("{url}/authorize"),
            "tokenUrl": format!("{url}/token"), "clientId": "short", "clientSecret": SECRET,
        }),
    )
    .await;
    let flow = push(&server, &call_flow("crm-sync", &url, Some("crm"), None)).await;

    // Not authorized yet: the run fails and says what to do.
    let ran = run_waited(&server, &flow).await;
    assert_eq!(ran["status"], "failed", "{ran}");
    assert!(
        ran.to_string().contains("not authorized yet"),
        "the error says to authorize it: {ran}"
    );

    // The person is sent to the provider, which sends them back.
    let to_provider = &start_authorizing(&server, &id).await;
    assert!(
        to_provider.contains("code_challenge_method=S256"),
        "{to_provider}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = browser.get(to_provider).send().await.unwrap();
    assert_eq!(back.status(), 303, "the provider redirects back");
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{}/api/v1/oauth2/callback?", server.base)),
        "{callback}"
    );
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("crm is authorized"));
    let again = browser.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 400, "a state is good once");
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("unknown, used or expired")
    );

    // Its tokens last a second, inside the host's margin: each run gets a
    // fresh one with the refresh token before the node sees it.
    for _ in 0..2 {
        let ran = run_waited(&server, &flow).await;
        assert_eq!(ran["status"], "succeeded", "{ran}");
    }
    assert_eq!(
        calls(&provider),
        ["Bearer refresh_token-2", "Bearer refresh_token-3"]
    );
    assert_eq!(
        grants(&provider),
        ["authorization_code", "refresh_token", "refresh_token"]
    );
}

#[tokio::test]
async fn a_token_url_on_a_private_address_is_not_called_unless_allowed() {
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), &["--public-url", "https://n8n.example.com/"]).await;
    let (url, provider) = provider().await;
    credential(
        &server,
        "crm",
        json!({
            "grant": "client_credentials", "tokenUrl": format!("{url}/token"),
            "clientId": "client", "clientSecret": SECRET,
        }),
    )
    .await;
    let flow = push(&server, &call_flow("crm-sync", &url, Some("crm"), None)).await;
    let ran = run_waited(&server, &flow).await;
    assert_eq!(ran["status"], "failed", "{ran}");
    assert!(
        ran.to_string().contains("--egress-allow-private"),
        "the error names the setting: {ran}"
    );
    assert!(grants(&provider).is_empty(), "the provider was not called");

    // With --public-url, providers send people back under it.
    let id = credential(
        &server,
        "crm-code",
        json!({
            "grant": "authorization_code", "authUrl": format!("{url}/authorize"),
            "tokenUrl": format!("{url}/token"), "clientId": "client",
        }),
    )
    .await;
    let to_provider = reqwest::Url::parse(&start_authorizing(&server, &id).await).unwrap();
    let redirect = to_provider
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        redirect.as_deref(),
        Some("https://n8n.example.com/api/v1/oauth2/callback")
    );
}

/// A proxy that answers nothing: the first line of each request it is sent.
async fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut line = String::new();
                let _ = BufReader::new(stream).read_line(&mut line).await;
                record.lock().unwrap().push(line);
            });
        }
    });
    (format!("http://{address}"), seen)
}

#[tokio::test]
async fn token_requests_ignore_the_environments_proxy() {
    // A proxy from HTTP(S)_PROXY would resolve and connect by itself, past
    // the address checks: the token client never uses one.
    let data = tempfile::tempdir().unwrap();
    let (proxy, proxied) = recording_proxy().await;
    let env: Vec<(String, String)> = [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), proxy.clone()))
    .chain(
        ["NO_PROXY", "no_proxy"]
            .iter()
            .map(|k| ((*k).to_owned(), String::new())),
    )
    .collect();
    let server =
        crate::serve::start_env(data.path(), &["--egress-allow-private", "127.0.0.1"], &env).await;
    let (url, provider) = provider().await;
    credential(
        &server,
        "crm",
        json!({
            "grant": "client_credentials", "tokenUrl": format!("{url}/token"),
            "clientId": "client", "clientSecret": SECRET,
        }),
    )
    .await;
    let flow = push(&server, &call_flow("crm-sync", &url, Some("crm"), None)).await;
    let _ = run_waited(&server, &flow).await;
    assert_eq!(
        grants(&provider),
        ["client_credentials"],
        "the token request went straight to the provider"
    );
    let through_proxy = proxied.lock().unwrap().clone();
    assert!(
        through_proxy.iter().all(|line| !line.contains("/token")),
        "no token request went through the proxy: {through_proxy:?}"
    );
}
