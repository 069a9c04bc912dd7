//! Publishing, signing and pulling plugins with our client against our
//! registry, and every refusal a pull can end in.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestRegistry, component, spec};
use n8n_work_registry::Digest;
use n8n_work_registry::client::{
    ClientError, ClientOptions, RegistryClient, UploadProgress, parse_reference,
};
use n8n_work_registry::plugin::PluginArtifact;
use n8n_work_registry::server::{
    Action, AuthBackendError, AuthSettings, Authenticator, Principal, RepositoryPattern,
    StaticAuthenticator, TokenIssuer,
};
use n8n_work_registry::signature::{
    KeyAlgorithm, SigningKey, TrustPolicy, TrustedKey, Verification, VerifyError,
};

fn trust(key: &SigningKey) -> TrustPolicy {
    TrustPolicy {
        trusted_keys: vec![TrustedKey {
            name: "publisher".into(),
            key: key.public_key(),
        }],
        allow_unsigned: false,
    }
}

fn client() -> RegistryClient {
    RegistryClient::new(ClientOptions {
        plain_http: true,
        chunk_size: 64 * 1024,
        ..ClientOptions::default()
    })
}

#[tokio::test]
async fn publish_reports_progress_and_pull_returns_the_signed_component() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::Ed25519);
    let artifact = PluginArtifact::build(component(1), spec("1.0.0")).unwrap();
    let reference = parse_reference(&format!("{}/plugins/slack:1.0.0", reg.host())).unwrap();
    let events: Arc<Mutex<Vec<UploadProgress>>> = Arc::default();
    let sink = Arc::clone(&events);
    let digest = client()
        .publish(
            &reference,
            &artifact,
            Some(&key),
            Arc::new(move |p: &UploadProgress| sink.lock().unwrap().push(p.clone())),
        )
        .await
        .unwrap();
    assert_eq!(digest, artifact.manifest_digest);

    let events = events.lock().unwrap().clone();
    let component_events: Vec<&UploadProgress> =
        events.iter().filter(|e| e.label == "component").collect();
    let total = artifact.wasm.len() as u64;
    // 300 KB in 64 KiB chunks: a report per chunk and one at the end, rising to the total.
    assert!(component_events.len() >= 5, "{component_events:?}");
    assert!(component_events.windows(2).all(|w| w[0].sent <= w[1].sent));
    assert_eq!(component_events.last().unwrap().sent, total);
    assert!(events.iter().any(|e| e.label == "signature"));

    let pulled = client().pull(&reference, &trust(&key)).await.unwrap();
    assert_eq!(pulled.digest, digest);
    assert_eq!(pulled.wasm, artifact.wasm);
    assert_eq!(pulled.spec, spec("1.0.0"));
    assert!(matches!(pulled.verification, Verification::SignedBy { .. }));

    // By digest as well.
    let pinned = parse_reference(&format!("{}/plugins/slack@{digest}", reg.host())).unwrap();
    assert_eq!(
        client().pull(&pinned, &trust(&key)).await.unwrap().wasm,
        artifact.wasm
    );

    // A second publish finds the blobs there and sends nothing.
    let again: Arc<Mutex<Vec<UploadProgress>>> = Arc::default();
    let sink = Arc::clone(&again);
    client()
        .publish(
            &reference,
            &artifact,
            None,
            Arc::new(move |p: &UploadProgress| sink.lock().unwrap().push(p.clone())),
        )
        .await
        .unwrap();
    assert!(again.lock().unwrap().iter().all(|e| e.skipped));
}

#[tokio::test]
async fn a_tampered_layer_is_refused() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let artifact = PluginArtifact::build(component(2), spec("1.0.0")).unwrap();
    let reference = parse_reference(&format!("{}/plugins/slack:1.0.0", reg.host())).unwrap();
    client()
        .publish(
            &reference,
            &artifact,
            Some(&key),
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap();
    let layer = reg.storage.blob_path(&Digest::of(&artifact.wasm));
    let mut stored = std::fs::read(&layer).unwrap();
    stored[1000] ^= 0x01;
    std::fs::write(&layer, stored).unwrap();

    let err = client().pull(&reference, &trust(&key)).await.unwrap_err();
    assert!(matches!(err, ClientError::Tampered { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("tampered"), "{message}");
    assert!(
        message.contains(&Digest::of(&artifact.wasm).to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn a_signature_by_an_untrusted_key_is_refused() {
    let reg = TestRegistry::start().await;
    let stranger = SigningKey::generate(KeyAlgorithm::Ed25519);
    let publisher = SigningKey::generate(KeyAlgorithm::Ed25519);
    let artifact = PluginArtifact::build(component(3), spec("1.0.0")).unwrap();
    let reference = parse_reference(&format!("{}/plugins/slack:1.0.0", reg.host())).unwrap();
    client()
        .publish(
            &reference,
            &artifact,
            Some(&stranger),
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap();
    let err = client()
        .pull(&reference, &trust(&publisher))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Refused(VerifyError::UntrustedKey { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("by no trusted key"), "{err}");
}

#[tokio::test]
async fn a_signature_over_another_digest_is_refused() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::Ed25519);
    let host = reg.host();
    let signed = PluginArtifact::build(component(4), spec("1.0.0")).unwrap();
    let unsigned = PluginArtifact::build(component(5), spec("1.0.1")).unwrap();
    let signed_ref = parse_reference(&format!("{host}/plugins/slack:1.0.0")).unwrap();
    let unsigned_ref = parse_reference(&format!("{host}/plugins/slack:1.0.1")).unwrap();
    let c = client();
    c.publish(
        &signed_ref,
        &signed,
        Some(&key),
        Arc::new(|_: &UploadProgress| {}),
    )
    .await
    .unwrap();
    c.publish(
        &unsigned_ref,
        &unsigned,
        None,
        Arc::new(|_: &UploadProgress| {}),
    )
    .await
    .unwrap();
    // Copy the signed artifact's .sig manifest to the unsigned one's .sig tag.
    let http = reqwest::Client::new();
    let sig = http
        .get(reg.url(&format!(
            "/v2/plugins/slack/manifests/{}.sig",
            signed.manifest_digest.tag_form()
        )))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let put = http
        .put(reg.url(&format!(
            "/v2/plugins/slack/manifests/{}.sig",
            unsigned.manifest_digest.tag_form()
        )))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(sig)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());

    let err = c.pull(&unsigned_ref, &trust(&key)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Refused(VerifyError::SignatureForAnotherDigest { .. })
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&signed.manifest_digest.to_string()),
        "{message}"
    );
    assert!(message.contains("belongs to another artifact"), "{message}");
}

#[tokio::test]
async fn an_unsigned_plugin_is_refused_by_default_and_allowed_when_the_policy_says_so() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::Ed25519);
    let artifact = PluginArtifact::build(component(6), spec("1.0.0")).unwrap();
    let reference = parse_reference(&format!("{}/plugins/slack:1.0.0", reg.host())).unwrap();
    client()
        .publish(
            &reference,
            &artifact,
            None,
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap();
    let err = client().pull(&reference, &trust(&key)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Refused(VerifyError::Unsigned { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("is not signed"), "{err}");

    let lenient = TrustPolicy {
        allow_unsigned: true,
        ..TrustPolicy::default()
    };
    let pulled = client().pull(&reference, &lenient).await.unwrap();
    assert_eq!(pulled.verification, Verification::UnsignedAllowed);

    // Signing afterwards with `sign` makes the default policy accept it.
    let digest = client().sign(&reference, &key).await.unwrap();
    assert_eq!(digest, artifact.manifest_digest);
    client().pull(&reference, &trust(&key)).await.unwrap();
}

fn auth_settings(base: &str, anonymous_pull: bool) -> AuthSettings {
    let authenticator = StaticAuthenticator::new()
        .user(
            "publisher",
            "s3cret",
            RepositoryPattern::new("plugins/*"),
            &[Action::Pull, Action::Push],
        )
        .allow_anonymous_pull(anonymous_pull);
    AuthSettings {
        authenticator: Arc::new(authenticator),
        issuer: TokenIssuer::random(Duration::from_secs(300)),
        service: "n8n-work-registry".into(),
        realm: format!("{base}/v2/token"),
    }
}

#[tokio::test]
async fn bearer_token_flow_lets_the_publisher_push_and_anonymous_users_only_pull() {
    let reg = TestRegistry::start_with(|base| auth_settings(base, true)).await;
    let key = SigningKey::generate(KeyAlgorithm::Ed25519);
    let artifact = PluginArtifact::build(component(7), spec("1.0.0")).unwrap();
    let reference = parse_reference(&format!("{}/plugins/slack:1.0.0", reg.host())).unwrap();

    let http = reqwest::Client::new();
    let challenge = http
        .post(reg.url("/v2/plugins/slack/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), reqwest::StatusCode::UNAUTHORIZED);
    let header = challenge.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        header,
        format!(
            "Bearer realm=\"http://{}/v2/token\",service=\"n8n-work-registry\",scope=\"repository:plugins/slack:pull,push\"",
            reg.host()
        )
    );

    let anonymous = client();
    let err = anonymous
        .publish(
            &reference,
            &artifact,
            Some(&key),
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("plugins/slack"), "{err}");

    let wrong = RegistryClient::new(ClientOptions {
        plain_http: true,
        credentials: Some(("publisher".into(), "wrong".into())),
        chunk_size: 0,
    });
    assert!(
        wrong
            .publish(
                &reference,
                &artifact,
                None,
                Arc::new(|_: &UploadProgress| {})
            )
            .await
            .is_err()
    );

    let publisher = RegistryClient::new(ClientOptions {
        plain_http: true,
        credentials: Some(("publisher".into(), "s3cret".into())),
        chunk_size: 0,
    });
    publisher
        .publish(
            &reference,
            &artifact,
            Some(&key),
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap();

    let pulled = anonymous.pull(&reference, &trust(&key)).await.unwrap();
    assert_eq!(pulled.wasm, artifact.wasm);
}

#[tokio::test]
async fn without_anonymous_pull_a_pull_needs_credentials() {
    let reg = TestRegistry::start_with(|base| auth_settings(base, false)).await;
    let reference = parse_reference(&format!("{}/plugins/slack:1.0.0", reg.host())).unwrap();
    let artifact = PluginArtifact::build(component(8), spec("1.0.0")).unwrap();
    let publisher = RegistryClient::new(ClientOptions {
        plain_http: true,
        credentials: Some(("publisher".into(), "s3cret".into())),
        chunk_size: 0,
    });
    publisher
        .publish(
            &reference,
            &artifact,
            None,
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap();
    let lenient = TrustPolicy {
        allow_unsigned: true,
        ..TrustPolicy::default()
    };
    let err = client().pull(&reference, &lenient).await.unwrap_err();
    assert!(matches!(err, ClientError::Registry { .. }), "{err}");
    let response = reqwest::get(reg.url("/v2/plugins/slack/tags/list"))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    publisher.pull(&reference, &lenient).await.unwrap();
}

/// A login that stays valid until `revoked` is set: an API key, say.
struct RevocableLogin {
    inner: StaticAuthenticator,
    revoked: Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl Authenticator for RevocableLogin {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Principal>, AuthBackendError> {
        self.inner.authenticate(username, password).await
    }

    async fn authorize(
        &self,
        principal: Option<&Principal>,
        repository: &n8n_work_registry::RepositoryName,
        requested: &[Action],
    ) -> Result<Vec<Action>, AuthBackendError> {
        if principal.is_some() && self.revoked.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        self.inner.authorize(principal, repository, requested).await
    }
}

#[tokio::test]
async fn a_token_stops_granting_once_its_login_is_revoked() {
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let authenticator = RevocableLogin {
        inner: StaticAuthenticator::new().user(
            "publisher",
            "s3cret",
            RepositoryPattern::new("plugins/*"),
            &[Action::Pull, Action::Push],
        ),
        revoked: revoked.clone(),
    };
    let reg = TestRegistry::start_with(|base| AuthSettings {
        authenticator: Arc::new(authenticator),
        issuer: TokenIssuer::random(Duration::from_secs(300)),
        service: "n8n-work-registry".into(),
        realm: format!("{base}/v2/token"),
    })
    .await;
    let http = reqwest::Client::new();
    let body: serde_json::Value = http
        .get(
            reg.url("/v2/token?service=n8n-work-registry&scope=repository:plugins/slack:pull,push"),
        )
        .basic_auth("publisher", Some("s3cret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let start_upload = || {
        http.post(reg.url("/v2/plugins/slack/blobs/uploads/"))
            .bearer_auth(&token)
            .send()
    };
    let tags = || {
        http.get(reg.url("/v2/plugins/slack/tags/list"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(start_upload().await.unwrap().status(), 202);
    assert_eq!(
        tags().await.unwrap().status(),
        404,
        "granted: no such repository yet"
    );

    // The login is revoked: its token, not yet expired, grants nothing more.
    revoked.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(start_upload().await.unwrap().status(), 401);
    assert_eq!(tags().await.unwrap().status(), 401);
}
