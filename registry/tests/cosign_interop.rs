//! The `sigstore` crate's cosign verification, an independent
//! implementation, accepts the signatures our client writes (cosign itself
//! cannot be installed here).

mod common;

use std::sync::Arc;

use common::{TestRegistry, component, spec};
use n8n_work_registry::client::{ClientOptions, RegistryClient, UploadProgress, parse_reference};
use n8n_work_registry::plugin::PluginArtifact;
use n8n_work_registry::signature::{KeyAlgorithm, SigningKey};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};

async fn sigstore_accepts(reg: &TestRegistry, key: &SigningKey, trusted: &SigningKey) -> bool {
    let artifact = PluginArtifact::build(component(9), spec("1.0.0")).unwrap();
    let text = format!("{}/plugins/slack:1.0.0", reg.host());
    let ours = RegistryClient::new(ClientOptions {
        plain_http: true,
        ..ClientOptions::default()
    });
    ours.publish(
        &parse_reference(&text).unwrap(),
        &artifact,
        Some(key),
        Arc::new(|_: &UploadProgress| {}),
    )
    .await
    .unwrap();

    let mut cosign = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        })
        .build()
        .unwrap();
    let image: OciReference = text.parse().unwrap();
    let (signature_image, digest) = cosign.triangulate(&image, &Auth::Anonymous).await.unwrap();
    assert_eq!(digest, artifact.manifest_digest.to_string());
    assert_eq!(
        signature_image.tag(),
        Some(format!("{}.sig", artifact.manifest_digest.tag_form()).as_str())
    );
    let layers = cosign
        .trusted_signature_layers(&Auth::Anonymous, &image)
        .await
        .unwrap();
    assert_eq!(
        layers.len(),
        1,
        "sigstore found {} signature layers",
        layers.len()
    );
    let constraints: VerificationConstraintVec = vec![Box::new(
        PublicKeyVerifier::try_from(trusted.public_key().to_pem().as_bytes()).unwrap(),
    )];
    verify_constraints(&layers, constraints.iter()).is_ok()
}

#[tokio::test]
async fn sigstore_verifies_our_ed25519_signature() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::Ed25519);
    assert!(sigstore_accepts(&reg, &key, &key).await);
}

#[tokio::test]
async fn sigstore_verifies_our_ecdsa_p256_signature() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    assert!(sigstore_accepts(&reg, &key, &key).await);
}

#[tokio::test]
async fn sigstore_rejects_our_signature_under_another_key() {
    let reg = TestRegistry::start().await;
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let other = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    assert!(!sigstore_accepts(&reg, &key, &other).await);
}
