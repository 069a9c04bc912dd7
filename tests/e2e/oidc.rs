//! Single sign-on with OpenID Connect, through the real binary against an
//! OpenID provider this test starts on loopback: discovery, a JWKS, an
//! authorization endpoint that signs a configured person in, and a token
//! endpoint that checks the PKCE verifier and returns an RS256 ID token. The
//! provider misbehaves on demand (another nonce, another audience, a token
//! signed by a key it did not publish) and refuses a code used twice.
//!
//! The browser is reqwest without redirects, carrying cookies by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::url::Url;
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::access::audit_env;
use crate::serve::{Server, call, start_env};

const CLIENT_ID: &str = "n8n-work-ui";

/// How the provider answers its next token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Honest,
    WrongNonce,
    WrongAudience,
    ForgedSignature,
}

/// Who the provider signs in.
#[derive(Clone, Debug)]
struct Person {
    subject: String,
    email: Option<String>,
    email_verified: Option<bool>,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
    person: Person,
    used: bool,
}

struct ProviderState {
    issuer: String,
    key: CoreRsaPrivateSigningKey,
    /// A key with the same id that the JWKS does not publish.
    forger: CoreRsaPrivateSigningKey,
    redirect_uri: Option<String>,
    person: Person,
    answer: Answer,
    grants: HashMap<String, Grant>,
    token_requests: usize,
}

#[derive(Clone)]
struct Provider(Arc<Mutex<ProviderState>>);

impl Provider {
    fn issuer(&self) -> String {
        self.0.lock().unwrap().issuer.clone()
    }

    fn set(&self, change: impl FnOnce(&mut ProviderState)) {
        change(&mut self.0.lock().unwrap());
    }
}

/// A fresh 2048-bit RSA key with the id `k1`.
fn rsa_key() -> CoreRsaPrivateSigningKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
}

async fn start_provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (key, forger) = tokio::task::spawn_blocking(|| (rsa_key(), rsa_key()))
        .await
        .unwrap();
    let provider = Provider(Arc::new(Mutex::new(ProviderState {
        issuer,
        key,
        forger,
        redirect_uri: None,
        person: Person {
            subject: "ada-1815".into(),
            email: Some("ada@example.com".into()),
            email_verified: Some(true),
        },
        answer: Answer::Honest,
        grants: HashMap::new(),
        token_requests: 0,
    })));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    provider
}

async fn discovery(State(provider): State<Provider>) -> axum::Json<Value> {
    let issuer = provider.issuer();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(provider): State<Provider>) -> axum::Json<CoreJsonWebKeySet> {
    let state = provider.0.lock().unwrap();
    axum::Json(CoreJsonWebKeySet::new(vec![
        state.key.as_verification_key(),
    ]))
}

fn refuse(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Signs the configured person in at once and sends the browser back with a
/// code, as a provider does after its own login page.
async fn authorize(
    State(provider): State<Provider>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = provider.0.lock().unwrap();
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let checks = [
        (param("client_id") == CLIENT_ID, "unknown client_id"),
        (
            param("response_type") == "code",
            "response_type must be code",
        ),
        (
            param("scope").split(' ').any(|s| s == "openid"),
            "the openid scope is missing",
        ),
        (
            param("code_challenge_method") == "S256",
            "PKCE with S256 is required",
        ),
        (!param("code_challenge").is_empty(), "no code_challenge"),
        (!param("state").is_empty(), "no state"),
        (!param("nonce").is_empty(), "no nonce"),
        (
            state.redirect_uri.as_deref() == Some(param("redirect_uri").as_str()),
            "redirect_uri is not registered",
        ),
    ];
    if let Some((_, why)) = checks.iter().find(|(ok, _)| !ok) {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", why);
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let grant = Grant {
        challenge: param("code_challenge"),
        nonce: param("nonce"),
        redirect_uri: param("redirect_uri"),
        person: state.person.clone(),
        used: false,
    };
    state.grants.insert(code.clone(), grant);
    let mut back = Url::parse(&param("redirect_uri")).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    Redirect::to(back.as_str()).into_response()
}

async fn token(
    State(provider): State<Provider>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut guard = provider.0.lock().unwrap();
    let state = &mut *guard;
    state.token_requests += 1;
    let param = |name: &str| form.get(name).cloned().unwrap_or_default();
    if param("grant_type") != "authorization_code" || param("client_id") != CLIENT_ID {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "authorization_code for the registered client only",
        );
    }
    let Some(grant) = state.grants.get_mut(&param("code")) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if grant.used {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code was already used",
        );
    }
    grant.used = true;
    if grant.redirect_uri != param("redirect_uri") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs",
        );
    }
    let verified = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(param("code_verifier").as_bytes()));
    if verified != grant.challenge {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code_verifier does not match the code_challenge",
        );
    }
    let now = chrono::Utc::now();
    let person = grant.person.clone();
    let (nonce, audience) = match state.answer {
        Answer::WrongNonce => ("another-nonce".to_owned(), CLIENT_ID.to_owned()),
        Answer::WrongAudience => (grant.nonce.clone(), "someone-else".to_owned()),
        _ => (grant.nonce.clone(), CLIENT_ID.to_owned()),
    };
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(state.issuer.clone()).unwrap(),
        vec![Audience::new(audience)],
        now + chrono::Duration::minutes(5),
        now,
        StandardClaims::new(SubjectIdentifier::new(person.subject))
            .set_email(person.email.map(EndUserEmail::new))
            .set_email_verified(person.email_verified),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let key = if state.answer == Answer::ForgedSignature {
        &state.forger
    } else {
        &state.key
    };
    let id_token = CoreIdToken::new(
        claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    axum::Json(json!({
        "access_token": "access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

/// A browser: no automatic redirects; the server's cookies by name, with
/// their paths.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, (String, String)>,
}

struct Answered {
    status: u16,
    location: Option<String>,
    body: Value,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, method: Method, url: &str, body: Option<&str>) -> Answered {
        let mut request = self.http.request(method, url);
        if let Some(path) = url.strip_prefix(&self.base) {
            let sent: Vec<String> = self
                .cookies
                .iter()
                .filter(|(_, (_, scope))| path.starts_with(scope.as_str()))
                .map(|(name, (value, _))| format!("{name}={value}"))
                .collect();
            if !sent.is_empty() {
                request = request.header("cookie", sent.join("; "));
            }
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/yaml")
                .header("x-requested-with", "n8n-work")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        if url.starts_with(&self.base) {
            for set in response.headers().get_all("set-cookie") {
                let set = set.to_str().unwrap();
                let mut parts = set.split(';').map(str::trim);
                let (name, value) = parts.next().unwrap().split_once('=').unwrap();
                let attributes: Vec<&str> = parts.collect();
                let path = attributes
                    .iter()
                    .find_map(|a| a.strip_prefix("Path="))
                    .unwrap_or("/");
                if attributes.contains(&"Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies
                        .insert(name.to_owned(), (value.to_owned(), path.to_owned()));
                }
            }
        }
        let text = response.text().await.unwrap();
        Answered {
            status,
            location,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn get(&mut self, url: &str) -> Answered {
        self.send(Method::GET, url, None).await
    }

    /// Begins a sign-in and lets the provider sign the person in: the URL
    /// it sends the browser back to.
    async fn through_provider(&mut self, query: &str) -> String {
        let start = format!("{}/api/v1/session/oidc{query}", self.base);
        let started = self.get(&start).await;
        assert_eq!(started.status, 303, "{}", started.body);
        let at_provider = started.location.unwrap();
        let authorize = Url::parse(&at_provider).unwrap();
        let params: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
        assert_eq!(params["code_challenge_method"], "S256");
        assert!(params["scope"].split(' ').any(|s| s == "email"));
        assert!(
            self.cookies
                .get("n8n_work_sign_in")
                .is_some_and(|(_, path)| path == "/api/v1/session/oidc"),
            "the sign-in is tied to this browser: {:?}",
            self.cookies
        );
        let back = self.get(&at_provider).await;
        assert_eq!(back.status, 303, "the provider signed in: {}", back.body);
        back.location.unwrap()
    }

    /// The message of the sign-in that failed: the callback sends the
    /// browser to the sign-in page, which reads it from the providers route
    /// once.
    async fn refusal(&mut self, callback: &str) -> String {
        let answer = self.get(callback).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        let location = answer.location.unwrap();
        assert!(location.starts_with("/signin?next="), "{location}");
        assert!(
            !self.cookies.contains_key("n8n_work_session"),
            "no session after a refusal"
        );
        let providers = self
            .get(&format!("{}/api/v1/session/providers", self.base))
            .await;
        let message = providers.body["error"].as_str().unwrap().to_owned();
        assert_eq!(answer.body["error"]["message"], message.as_str());
        let again = self
            .get(&format!("{}/api/v1/session/providers", self.base))
            .await;
        assert_eq!(again.body["error"], Value::Null, "said once");
        message
    }
}

/// The server with sign-on against `provider`, which now knows its redirect.
async fn server_for(data: &std::path::Path, provider: &Provider) -> Server {
    let issuer = provider.issuer();
    let server = start_env(
        data,
        &["--oidc-issuer", &issuer, "--oidc-client-id", CLIENT_ID],
        &audit_env(data),
    )
    .await;
    provider
        .set(|p| p.redirect_uri = Some(format!("{}/api/v1/session/oidc/callback", server.base)));
    server
}

fn member_cli(server: &Server, data: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .arg("member")
        .args(args)
        .args(["--server", &server.base, "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "member {args:?}: {said}");
    said
}

#[tokio::test]
async fn a_member_signs_in_with_the_provider_and_acts_with_their_role() {
    let provider = start_provider().await;
    let data = tempfile::tempdir().unwrap();
    let server = server_for(data.path(), &provider).await;
    let mut browser = Browser::new(&server);
    let providers = browser
        .get(&format!("{}/api/v1/session/providers", server.base))
        .await;
    assert_eq!(
        providers.body,
        json!({ "key": true, "oidc": true, "error": null })
    );

    let said = member_cli(
        &server,
        data.path(),
        &["add", "Ada@Example.com", "--role", "viewer"],
    );
    assert!(
        said.contains("ada@example.com is a viewer in tenant default"),
        "{said}"
    );
    let said = member_cli(&server, data.path(), &["list"]);
    assert!(
        said.contains("viewer") && said.contains("ada@example.com"),
        "{said}"
    );

    let callback = browser
        .through_provider("?next=/executions%3Fstatus%3Dfailed")
        .await;
    let signed_in = browser.get(&callback).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(
        signed_in.location.as_deref(),
        Some("/executions?status=failed")
    );
    assert!(browser.cookies.contains_key("n8n_work_session"));
    assert!(
        !browser.cookies.contains_key("n8n_work_sign_in"),
        "the sign-in cookie is spent"
    );

    let api = server.api();
    let who = browser.get(&format!("{api}/session")).await;
    assert_eq!(who.body, json!({ "tenant": "default", "role": "viewer" }));
    let read = browser.get(&format!("{api}/workflows")).await;
    assert_eq!(read.status, 200, "a viewer reads: {}", read.body);
    let write = browser
        .send(
            Method::POST,
            &format!("{api}/workflows"),
            Some("name: x\nnodes:\n  - {id: start, type: manual}\n"),
        )
        .await;
    assert_eq!(write.status, 403, "a viewer does not write: {}", write.body);
    assert!(
        write.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a viewer key may not `workflow.write`"),
        "{}",
        write.body
    );

    // A member of two tenants picks one with `tenant`; else the first.
    let (status, globex) = call(
        Method::POST,
        &format!("{api}/tenants"),
        Some(&server.key),
        "application/json",
        json!({ "name": "Globex" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{globex}");
    let globex_owner = globex["ownerKey"]["key"].as_str().unwrap();
    let (status, added) = call(
        Method::POST,
        &format!("{api}/members"),
        Some(globex_owner),
        "application/json",
        json!({ "email": "ada@example.com", "role": "editor" }).to_string(),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    let mut other = Browser::new(&server);
    let callback = other.through_provider("?tenant=globex").await;
    let signed_in = other.get(&callback).await;
    assert_eq!(signed_in.location.as_deref(), Some("/workflows"));
    let who = other.get(&format!("{api}/session")).await;
    assert_eq!(who.body, json!({ "tenant": "globex", "role": "editor" }));
    // The default tenant's admin sees only its own member.
    let (_, listed) = call(
        Method::GET,
        &format!("{api}/members"),
        Some(&server.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["tenant"], "default");

    // Removing the member ends its session; the change is audited.
    let said = member_cli(&server, data.path(), &["remove", "ada@example.com"]);
    assert!(said.contains("removed ada@example.com"), "{said}");
    let after = browser.get(&format!("{api}/workflows")).await;
    assert_eq!(after.status, 401, "{}", after.body);
    let still = other.get(&format!("{api}/workflows")).await;
    assert_eq!(still.status, 200, "globex's membership stays");
    let (_, lines) = call(
        Method::GET,
        &format!("{api}/audit"),
        Some(&server.key),
        "application/json",
        String::new(),
    )
    .await;
    let member_changes: Vec<Value> = lines
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["target"].as_str().unwrap().starts_with("member:"))
        .collect();
    assert_eq!(member_changes.len(), 2, "added, removed: {lines}");
    assert!(member_changes.iter().all(|e| e["action"] == "key.write"));
    assert!(member_changes[1]["after"].is_null() && member_changes[1]["before"].is_string());
}

#[tokio::test]
async fn each_broken_sign_in_is_refused_with_its_reason() {
    let provider = start_provider().await;
    let data = tempfile::tempdir().unwrap();
    let server = server_for(data.path(), &provider).await;
    let mut browser = Browser::new(&server);

    // Nobody added Ada yet.
    let callback = browser.through_provider("").await;
    let said = browser.refusal(&callback).await;
    assert_eq!(
        said,
        "no member with email ada@example.com in any tenant; an admin adds you with `n8n-work member add ada@example.com --role editor`"
    );
    member_cli(
        &server,
        data.path(),
        &["add", "ada@example.com", "--role", "operator"],
    );

    // An email the provider says it did not verify names nobody.
    provider.set(|p| p.person.email_verified = Some(false));
    let callback = browser.through_provider("").await;
    let said = browser.refusal(&callback).await;
    assert!(
        said.contains("has not verified the email ada@example.com"),
        "{said}"
    );
    assert!(
        said.contains("`n8n-work member add sub:ada-1815 --role editor`"),
        "{said}"
    );
    provider.set(|p| p.person.email_verified = Some(true));

    // The state must come back, and be this browser's.
    let callback = browser.through_provider("").await;
    let said = browser.refusal(&with_param(&callback, "state", None)).await;
    assert!(said.contains("has no `state`"), "{said}");
    let callback = browser.through_provider("").await;
    let said = browser
        .refusal(&with_param(&callback, "state", Some("guessed")))
        .await;
    assert!(
        said.contains("`state` in the provider's answer is not the one"),
        "{said}"
    );

    // A callback in a browser that began no sign-in.
    let callback = browser.through_provider("").await;
    let mut stranger = Browser::new(&server);
    let said = stranger.refusal(&callback).await;
    assert!(said.contains("no sign-in in progress"), "{said}");

    // The ID token: another nonce, another audience, a forged signature.
    for (answer, expected) in [
        (Answer::WrongNonce, "nonce does not match"),
        (Answer::WrongAudience, "not meant for this server"),
        (Answer::ForgedSignature, "signature does not verify"),
    ] {
        provider.set(|p| p.answer = answer);
        let callback = browser.through_provider("").await;
        let said = browser.refusal(&callback).await;
        assert!(said.contains(expected), "{answer:?}: {said}");
    }
    provider.set(|p| p.answer = Answer::Honest);

    // A code carried into another browser's sign-in fails PKCE at the
    // provider: that sign-in's verifier is not the code's.
    let stolen = param(&browser.through_provider("").await, "code");
    let mut victim = Browser::new(&server);
    let theirs = victim.through_provider("").await;
    let said = victim
        .refusal(&with_param(&theirs, "code", Some(&stolen)))
        .await;
    assert!(
        said.contains("the provider refused the authorization code (invalid_grant: the code_verifier does not match"),
        "{said}"
    );

    // A callback works once, even with its cookie kept and sent again.
    let callback = browser.through_provider("").await;
    let attempt = browser.cookies["n8n_work_sign_in"].clone();
    let signed_in = browser.get(&callback).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(browser.cookies.remove("n8n_work_session").is_some());
    browser.cookies.insert("n8n_work_sign_in".into(), attempt);
    let token_requests = provider.0.lock().unwrap().token_requests;
    let said = browser.refusal(&callback).await;
    assert!(said.contains("already finished"), "{said}");
    assert_eq!(
        provider.0.lock().unwrap().token_requests,
        token_requests,
        "a spent sign-in never reaches the provider"
    );
    // And its code, carried into a new sign-in, is refused by the provider.
    let theirs = browser.through_provider("").await;
    let said = browser
        .refusal(&with_param(
            &theirs,
            "code",
            Some(&param(&callback, "code")),
        ))
        .await;
    assert!(said.contains("the code was already used"), "{said}");
}

/// A query parameter of `url`.
fn param(url: &str, name: &str) -> String {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// `url` with its parameter `name` set to `value`, or removed.
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut changed = Url::parse(url).unwrap();
    let mut pairs: Vec<(String, String)> = changed
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    changed.query_pairs_mut().clear().extend_pairs(&pairs);
    changed.into()
}

#[tokio::test]
async fn plain_http_to_a_remote_issuer_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args([
            "--oidc-issuer",
            "http://id.example.com",
            "--oidc-client-id",
            "x",
        ])
        .env("N8N_WORK_DATA_DIR", data.path())
        .envs(audit_env(data.path()))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        said.contains(
            "--oidc-issuer `http://id.example.com`: plain http is allowed only on this machine"
        ),
        "{said}"
    );
}
