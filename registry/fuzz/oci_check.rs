//! What the `oci_manifest` fuzz target checks for one input. The stable
//! regression test (`registry/tests/fuzz_regressions.rs`) includes this file
//! and replays every input kept in `registry/fuzz/regressions/`, so a crash
//! found once stays fixed without nightly.
//!
//! The first byte picks what the rest is:
//!
//! - a manifest or index pushed to a registry (through its router, as any
//!   client with push rights sends one), then read back, listed and deleted;
//!   and parsed as a plugin manifest;
//! - a cosign signature (simple-signing payload, then the signature) checked
//!   against a trusted key;
//! - a token scope, bearer token, repository name, tag or digest, as the
//!   token endpoint and the routes read them from a request.

use std::sync::Arc;

use axum::body::Body;
use base64::Engine as _;
use http::{Request, StatusCode};
use n8n_work_registry::manifest::{Descriptor, ImageManifest};
use n8n_work_registry::plugin::PluginManifest;
use n8n_work_registry::server::{Scope, TokenIssuer};
use n8n_work_registry::signature::{
    self, PublicKey, SIGNATURE_ANNOTATION, SimpleSigning, StoredSignature, TrustPolicy, TrustedKey,
    Verification,
};
use n8n_work_registry::storage::RegistryStorage;
use n8n_work_registry::{Digest, Registry, RegistryConfig, RepositoryName, Tag, media_types};
use tower::ServiceExt as _;

/// The repository inputs are pushed to.
pub(crate) const REPOSITORY: &str = "fuzz/app";
/// A config blob present in the repository before each push.
pub(crate) const CONFIG: &[u8] = b"{}";
/// A layer blob present in the repository before each push.
pub(crate) const LAYER: &[u8] = b"\0asm\x0d\0\x01\0fuzz";
/// The manifest whose signatures the signature mode checks.
pub(crate) const SIGNED_MANIFEST: &[u8] = b"fuzz manifest";
/// The public half of the key the signature mode trusts (ed25519).
const TRUSTED_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAezlG8NitWhtA8QyKbqKDb8+LkC1N+2x2543x0EAngX8=\n-----END PUBLIC KEY-----\n";

/// Runs one input; panics on anything the code must never do.
pub(crate) async fn check(data: &[u8], storage: Arc<dyn RegistryStorage>) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => manifest(mode / 3, rest, storage).await,
        1 => signature_payload(rest),
        _ => names(rest),
    }
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body in memory");
    (status, body.to_vec())
}

fn request(method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    builder.body(Body::from(body)).expect("a valid request")
}

/// Bad input is the client's fault: a 4xx, never a 5xx or a panic.
fn client_error_at_worst(status: StatusCode, what: &str, body: &[u8]) {
    assert!(
        !status.is_server_error(),
        "{what} answered {status}: {}",
        String::from_utf8_lossy(body)
    );
}

async fn manifest(selector: u8, bytes: &[u8], storage: Arc<dyn RegistryStorage>) {
    let parsed_as_plugin = PluginManifest::parse(bytes);
    if let Ok(image) = serde_json::from_slice::<ImageManifest>(bytes) {
        // What we write we read back as the same manifest.
        let again: ImageManifest =
            serde_json::from_slice(&image.to_bytes()).expect("our own bytes parse");
        assert_eq!(again, image);
    }
    if let Ok(plugin) = &parsed_as_plugin {
        assert_eq!(plugin.layer.media_type, media_types::WASM_LAYER);
    }

    let app = n8n_work_registry::router(Registry::new(storage, RegistryConfig::default()));
    for blob in [CONFIG, LAYER] {
        let path = format!(
            "/v2/{REPOSITORY}/blobs/uploads/?digest={}",
            Digest::of(blob)
        );
        let (status, body) = send(&app, request("POST", &path, None, blob.to_vec())).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let types = media_types::MANIFEST_TYPES;
    let content_type = types[usize::from(selector) % types.len()];
    let digest = Digest::of(bytes);
    let reference = match (usize::from(selector) / types.len()) % 3 {
        0 => "latest".to_owned(),
        1 => digest.to_string(),
        _ => Digest::of(b"another manifest").to_string(),
    };
    let path = format!("/v2/{REPOSITORY}/manifests/{reference}");
    let (status, body) = send(
        &app,
        request("PUT", &path, Some(content_type), bytes.to_vec()),
    )
    .await;
    client_error_at_worst(status, "PUT manifest", &body);
    if status != StatusCode::CREATED {
        return;
    }
    // Stored as sent, under the digest of its bytes.
    let by_digest = format!("/v2/{REPOSITORY}/manifests/{digest}");
    for path in [&path, &by_digest] {
        let (status, body) = send(&app, request("GET", path, None, Vec::new())).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        assert_eq!(body, bytes, "GET {path}");
    }
    let shape: serde_json::Value = serde_json::from_slice(bytes).expect("an accepted manifest");
    if let Some(subject) = shape["subject"]["digest"].as_str()
        && let Ok(subject) = subject.parse::<Digest>()
    {
        let path = format!("/v2/{REPOSITORY}/referrers/{subject}");
        let (status, body) = send(&app, request("GET", &path, None, Vec::new())).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        let listed: serde_json::Value = serde_json::from_slice(&body).expect("an index");
        assert!(
            listed["manifests"]
                .as_array()
                .is_some_and(|m| m.iter().any(|d| d["digest"] == digest.to_string())),
            "{listed}"
        );
    }
    let tags = format!("/v2/{REPOSITORY}/tags/list");
    let (status, body) = send(&app, request("GET", &tags, None, Vec::new())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (status, body) = send(&app, request("DELETE", &by_digest, None, Vec::new())).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _) = send(&app, request("GET", &by_digest, None, Vec::new())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted");
}

fn trusted() -> TrustPolicy {
    TrustPolicy {
        trusted_keys: vec![TrustedKey {
            name: "fuzz".into(),
            key: PublicKey::from_pem(TRUSTED_KEY, "fuzz").expect("a valid key"),
        }],
        allow_unsigned: false,
    }
}

/// `bytes` is a simple-signing payload, a NUL, then the signature
/// annotation's text (base64); the payload goes in as stored, with its
/// digest right, so the checks past the digest are reached.
fn signature_payload(bytes: &[u8]) {
    let (payload, annotation) = match bytes.iter().position(|&b| b == 0) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &b""[..]),
    };
    let mut layer = Descriptor::of(media_types::COSIGN_SIMPLE_SIGNING, payload);
    layer.annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        String::from_utf8_lossy(annotation).into_owned(),
    );
    let stored = [StoredSignature {
        layer,
        payload: payload.to_vec(),
    }];
    let digest = Digest::of(SIGNED_MANIFEST);
    let outcome = signature::verify(&trusted(), "fuzz", REPOSITORY, &digest, &stored);
    if let Ok(Verification::SignedBy { .. }) = outcome {
        // Only a signature by the key, over this digest, for this repository.
        let parsed: SimpleSigning = serde_json::from_slice(payload).expect("a verified payload");
        assert_eq!(
            parsed.critical.image.docker_manifest_digest,
            digest.to_string()
        );
        assert_eq!(
            signature::signed_repository(&parsed.critical.identity.docker_reference),
            REPOSITORY
        );
        let signature = base64::engine::general_purpose::STANDARD
            .decode(annotation)
            .expect("a verified signature is base64");
        assert!(trusted().trusted_keys[0].key.verify(payload, &signature));
    }
    if let Ok(text) = std::str::from_utf8(payload) {
        let _ = signature::signed_repository(text);
    }
}

fn names(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Some(scope) = Scope::parse(text) {
        assert_eq!(Scope::parse(&scope.render()), Some(scope));
    }
    let issuer = TokenIssuer::new([7; 32], std::time::Duration::from_secs(300));
    assert!(
        issuer.verify(text, "fuzz").is_none(),
        "a token nobody issued"
    );
    if let Ok(name) = RepositoryName::new(text) {
        assert_eq!(RepositoryName::new(name.as_str()).ok(), Some(name));
    }
    if let Ok(tag) = Tag::new(text) {
        assert_eq!(tag.as_str(), text);
    }
    if let Ok(digest) = text.parse::<Digest>() {
        assert_eq!(digest.to_string(), text);
    }
}
