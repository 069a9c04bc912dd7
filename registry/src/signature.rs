//! Signatures in cosign's format: a simple-signing payload naming the
//! artifact's manifest digest, signed with ed25519 or ECDSA P-256, stored as
//! a layer of the manifest tagged `sha256-<hex>.sig` next to the artifact,
//! with the signature in the layer's `dev.cosignproject.cosign/signature`
//! annotation. Keys are PEM: PKCS#8 private keys and SPKI public keys (the
//! public form is the one `cosign verify --key` reads).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::{Descriptor, ImageManifest};
use crate::media_types;
use crate::names::Tag;

/// The layer annotation that carries the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The tag cosign stores an artifact's signatures under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> Tag {
    Tag::new(&format!("{}.sig", digest.tag_form())).expect("sha256-<hex>.sig is a valid tag")
}

/// A key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// Ed25519 (pure, over the payload).
    Ed25519,
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signatures.
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
}

/// What can go wrong with keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The PEM is not a PKCS#8 ed25519 or P-256 private key.
    #[error(
        "private key {source_name}: not a PKCS#8 PEM ed25519 or ECDSA P-256 private key; create one with `n8n-work plugin keygen`"
    )]
    BadPrivateKey {
        /// Where the key came from.
        source_name: String,
    },
    /// The PEM is not an SPKI ed25519 or P-256 public key.
    #[error(
        "public key {source_name}: not a PEM ed25519 or ECDSA P-256 public key (`-----BEGIN PUBLIC KEY-----`)"
    )]
    BadPublicKey {
        /// Where the key came from.
        source_name: String,
    },
}

enum SigningKeyInner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A publisher's private key.
pub struct SigningKey(SigningKeyInner);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({:?}, {})",
            self.algorithm(),
            self.public_key().key_id()
        )
    }
}

#[derive(Clone, PartialEq, Eq)]
enum PublicKeyInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A publisher's public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(PublicKeyInner);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate(algorithm: KeyAlgorithm) -> Self {
        let mut rng = rand_core::OsRng;
        Self(match algorithm {
            KeyAlgorithm::Ed25519 => {
                SigningKeyInner::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng))
            }
            KeyAlgorithm::EcdsaP256 => {
                SigningKeyInner::P256(p256::ecdsa::SigningKey::random(&mut rng))
            }
        })
    }

    /// Reads a PKCS#8 PEM private key; `source_name` names it in errors.
    pub fn from_pem(pem: &str, source_name: &str) -> Result<Self, KeyError> {
        use p256::pkcs8::DecodePrivateKey;
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self(SigningKeyInner::Ed25519(key)));
        }
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self(SigningKeyInner::P256(key)));
        }
        Err(KeyError::BadPrivateKey {
            source_name: source_name.to_owned(),
        })
    }

    /// The key as PKCS#8 PEM. Keep it secret.
    pub fn to_pem(&self) -> String {
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let pem = match &self.0 {
            SigningKeyInner::Ed25519(key) => key.to_pkcs8_pem(LineEnding::LF),
            SigningKeyInner::P256(key) => key.to_pkcs8_pem(LineEnding::LF),
        };
        pem.expect("a valid key encodes").to_string()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.0 {
            SigningKeyInner::Ed25519(_) => KeyAlgorithm::Ed25519,
            SigningKeyInner::P256(_) => KeyAlgorithm::EcdsaP256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            SigningKeyInner::Ed25519(key) => PublicKeyInner::Ed25519(key.verifying_key()),
            SigningKeyInner::P256(key) => PublicKeyInner::P256(*key.verifying_key()),
        })
    }

    /// Signs `payload` as cosign does: ed25519 over the bytes, ECDSA P-256
    /// over their SHA-256 with a DER signature.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        match &self.0 {
            SigningKeyInner::Ed25519(key) => key.sign(payload).to_bytes().to_vec(),
            SigningKeyInner::P256(key) => {
                let signature: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(key, payload);
                signature.to_der().as_bytes().to_vec()
            }
        }
    }
}

impl PublicKey {
    /// Reads a PEM SPKI public key; `source_name` names it in errors.
    pub fn from_pem(pem: &str, source_name: &str) -> Result<Self, KeyError> {
        use p256::pkcs8::DecodePublicKey;
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self(PublicKeyInner::Ed25519(key)));
        }
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self(PublicKeyInner::P256(key)));
        }
        Err(KeyError::BadPublicKey {
            source_name: source_name.to_owned(),
        })
    }

    /// The key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        match &self.0 {
            PublicKeyInner::Ed25519(key) => key.to_public_key_pem(LineEnding::LF),
            PublicKeyInner::P256(key) => key.to_public_key_pem(LineEnding::LF),
        }
        .expect("a valid key encodes")
    }

    /// A short id: `sha256:` and the first 16 hex digits of the SPKI DER's digest.
    pub fn key_id(&self) -> String {
        use p256::pkcs8::EncodePublicKey;
        let der = match &self.0 {
            PublicKeyInner::Ed25519(key) => key.to_public_key_der(),
            PublicKeyInner::P256(key) => key.to_public_key_der(),
        }
        .expect("a valid key encodes");
        format!("sha256:{}", &Digest::of(der.as_bytes()).hex()[..16])
    }

    /// Whether `signature` over `payload` was made by this key.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> bool {
        match &self.0 {
            PublicKeyInner::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(payload, &sig).is_ok()),
            PublicKeyInner::P256(key) => {
                p256::ecdsa::Signature::from_der(signature).is_ok_and(|sig| {
                    p256::ecdsa::signature::Verifier::verify(key, payload, &sig).is_ok()
                })
            }
        }
    }
}

/// cosign's simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigning {
    /// What is signed.
    pub critical: Critical,
    /// Free-form extras (cosign writes `null`).
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The `critical` section of a simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository the artifact was signed for.
    pub identity: Identity,
    /// The signed manifest digest.
    pub image: ImageDigest,
    /// Always `cosign container image signature`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `HOST/REPOSITORY`.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDigest {
    /// The signed manifest digest, `sha256:<hex>`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for signing `digest` in repository `docker_reference`.
    pub fn new(docker_reference: &str, digest: &Digest) -> Self {
        Self {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_owned(),
                },
                image: ImageDigest {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: "cosign container image signature".into(),
            },
            optional: None,
        }
    }
}

/// One signature as stored: the payload blob, and the signature from the
/// layer's annotation.
#[derive(Debug, Clone)]
pub struct StoredSignature {
    /// The layer descriptor (its digest must match the payload).
    pub layer: Descriptor,
    /// The payload bytes, as fetched.
    pub payload: Vec<u8>,
}

/// The blobs and manifest that make up a `.sig` artifact.
#[derive(Debug, Clone)]
pub struct SignatureArtifact {
    /// The manifest to push under [`signature_tag`].
    pub manifest: Vec<u8>,
    /// The config blob.
    pub config: Vec<u8>,
    /// The payload blobs, one per layer.
    pub payloads: Vec<Vec<u8>>,
}

/// Adds a signature by `key` over `digest` to the existing signatures
/// (`existing`, already fetched from the `.sig` tag), as cosign does when an
/// artifact is signed again.
pub fn add_signature(
    existing: Vec<StoredSignature>,
    docker_reference: &str,
    digest: &Digest,
    key: &SigningKey,
) -> SignatureArtifact {
    let payload = serde_json::to_vec(&SimpleSigning::new(docker_reference, digest))
        .expect("payload serializes");
    let signature = STANDARD.encode(key.sign(&payload));
    let mut layer = Descriptor::of(media_types::COSIGN_SIMPLE_SIGNING, &payload);
    layer
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), signature);
    let mut layers: Vec<Descriptor> = Vec::new();
    let mut payloads = Vec::new();
    for stored in existing {
        // A key signs once: a new signature by the same key replaces its old one.
        let same_key = stored
            .layer
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| STANDARD.decode(s).ok())
            .is_some_and(|s| key.public_key().verify(&stored.payload, &s));
        if !same_key {
            layers.push(stored.layer);
            payloads.push(stored.payload);
        }
    }
    layers.push(layer);
    payloads.push(payload);
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("config serializes");
    let manifest = ImageManifest::new(
        Descriptor::of(media_types::OCI_IMAGE_CONFIG, &config),
        layers,
    );
    SignatureArtifact {
        manifest: manifest.to_bytes(),
        config,
        payloads,
    }
}

/// A publisher key the policy trusts, with a name for messages.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// A name for people (the key file, or the publisher).
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// Which plugins may be installed: those signed by a trusted publisher key,
/// and unsigned ones only if allowed (refused by default).
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Trusted publisher keys.
    pub trusted_keys: Vec<TrustedKey>,
    /// Whether a plugin without any signature is accepted.
    pub allow_unsigned: bool,
}

/// The outcome of a successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Signed by this trusted key.
    SignedBy {
        /// The trusted key's name.
        name: String,
        /// Its id.
        key_id: String,
    },
    /// Not signed, and the policy allows that.
    UnsignedAllowed,
}

/// Why a plugin is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No signature at all.
    #[error(
        "{reference} ({digest}) is not signed; ask the publisher to sign it (`n8n-work plugin sign`), or allow unsigned plugins in the trust policy"
    )]
    Unsigned {
        /// The artifact.
        reference: String,
        /// Its manifest digest.
        digest: Digest,
    },
    /// Signatures exist for this digest, but none by a trusted key.
    #[error(
        "{reference} ({digest}) is signed, but by no trusted key (signed by: {signers}; trusted: {trusted}); add the publisher's public key to the trust policy if you trust it"
    )]
    UntrustedKey {
        /// The artifact.
        reference: String,
        /// Its manifest digest.
        digest: Digest,
        /// Ids of trusted keys that verified none of the signatures, or `unknown keys`.
        signers: String,
        /// Names of the trusted keys.
        trusted: String,
    },
    /// The only signatures are over other digests: copied from another artifact.
    #[error(
        "{reference}: its signature is over {signed}, not over this artifact's {digest}; the signature belongs to another artifact, so this one is refused"
    )]
    SignatureForAnotherDigest {
        /// The artifact.
        reference: String,
        /// Its manifest digest.
        digest: Digest,
        /// The digest the signature names.
        signed: String,
    },
    /// The only signatures over this digest were made for another
    /// repository: the artifact was copied there from where it was signed.
    #[error(
        "{reference} ({digest}): it was signed for `{signed_for}`, not for repository `{repository}`; a signed artifact copied into another repository is not verified there, so it is refused. Install it from the repository it was signed in, or ask the publisher to sign it in `{repository}` (`n8n-work plugin sign`)"
    )]
    SignatureForAnotherRepository {
        /// The artifact.
        reference: String,
        /// Its manifest digest.
        digest: Digest,
        /// The repository the artifact is served from.
        repository: String,
        /// The `docker-reference` the signature names.
        signed_for: String,
    },
    /// A signature layer is damaged.
    #[error("{reference} ({digest}): signature layer {layer} is damaged: {reason}")]
    Malformed {
        /// The artifact.
        reference: String,
        /// Its manifest digest.
        digest: Digest,
        /// The layer.
        layer: Digest,
        /// What is wrong.
        reason: String,
    },
}

/// The repository path a signature's `critical.identity.docker-reference`
/// names: without its registry host (the first component, when it has a
/// `.` or a `:` or is `localhost`, as Docker reads references) and without
/// a tag or digest. The host is left out because one registry is reached
/// under several names (`127.0.0.1:5678`, the public URL, a mirror); the
/// repository is what a tenant sees a plugin under.
pub fn signed_repository(docker_reference: &str) -> &str {
    let name = docker_reference
        .split_once('@')
        .map_or(docker_reference, |(name, _)| name);
    let name = match name.rsplit_once(':') {
        Some((before, tag)) if !tag.contains('/') => before,
        _ => name,
    };
    match name.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => path,
        _ => name,
    }
}

/// Checks `signatures` (from the artifact's `.sig` tag) of the artifact
/// `digest`, served from `repository`, against `policy`. A signature counts
/// only for the repository its payload names, so a signed artifact copied
/// into another repository is not verified there. `reference` names the
/// artifact in errors.
pub fn verify(
    policy: &TrustPolicy,
    reference: &str,
    repository: &str,
    digest: &Digest,
    signatures: &[StoredSignature],
) -> Result<Verification, VerifyError> {
    if signatures.is_empty() {
        return if policy.allow_unsigned {
            Ok(Verification::UnsignedAllowed)
        } else {
            Err(VerifyError::Unsigned {
                reference: reference.to_owned(),
                digest: digest.clone(),
            })
        };
    }
    let mut other_digest = None;
    let mut other_repository = None;
    let mut over_this_digest = 0;
    let mut first_malformed = None;
    for stored in signatures {
        let malformed = |reason: String| VerifyError::Malformed {
            reference: reference.to_owned(),
            digest: digest.clone(),
            layer: stored.layer.digest.clone(),
            reason,
        };
        if Digest::of(&stored.payload) != stored.layer.digest {
            first_malformed.get_or_insert(malformed("payload does not match its digest".into()));
            continue;
        }
        let Ok(payload) = serde_json::from_slice::<SimpleSigning>(&stored.payload) else {
            first_malformed
                .get_or_insert(malformed("payload is not a simple-signing document".into()));
            continue;
        };
        let Some(signature) = stored
            .layer
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| STANDARD.decode(s).ok())
        else {
            first_malformed.get_or_insert(malformed(format!(
                "no base64 `{SIGNATURE_ANNOTATION}` annotation"
            )));
            continue;
        };
        if payload.critical.image.docker_manifest_digest != digest.to_string() {
            other_digest.get_or_insert(payload.critical.image.docker_manifest_digest);
            continue;
        }
        if signed_repository(&payload.critical.identity.docker_reference) != repository {
            other_repository.get_or_insert(payload.critical.identity.docker_reference);
            continue;
        }
        over_this_digest += 1;
        for trusted in &policy.trusted_keys {
            if trusted.key.verify(&stored.payload, &signature) {
                return Ok(Verification::SignedBy {
                    name: trusted.name.clone(),
                    key_id: trusted.key.key_id(),
                });
            }
        }
    }
    if over_this_digest > 0 {
        let trusted: Vec<String> = policy
            .trusted_keys
            .iter()
            .map(|k| format!("{} ({})", k.name, k.key.key_id()))
            .collect();
        return Err(VerifyError::UntrustedKey {
            reference: reference.to_owned(),
            digest: digest.clone(),
            signers: format!("{over_this_digest} signature(s) by unknown keys"),
            trusted: if trusted.is_empty() {
                "none".into()
            } else {
                trusted.join(", ")
            },
        });
    }
    if let Some(signed_for) = other_repository {
        return Err(VerifyError::SignatureForAnotherRepository {
            reference: reference.to_owned(),
            digest: digest.clone(),
            repository: repository.to_owned(),
            signed_for,
        });
    }
    if let Some(signed) = other_digest {
        return Err(VerifyError::SignatureForAnotherDigest {
            reference: reference.to_owned(),
            digest: digest.clone(),
            signed,
        });
    }
    Err(first_malformed.expect("every signature was skipped for a reason"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(artifact: &SignatureArtifact) -> Vec<StoredSignature> {
        let manifest: ImageManifest = serde_json::from_slice(&artifact.manifest).unwrap();
        manifest
            .layers
            .into_iter()
            .zip(artifact.payloads.iter().cloned())
            .map(|(layer, payload)| StoredSignature { layer, payload })
            .collect()
    }

    fn policy(keys: &[&SigningKey]) -> TrustPolicy {
        TrustPolicy {
            trusted_keys: keys
                .iter()
                .enumerate()
                .map(|(i, k)| TrustedKey {
                    name: format!("key{i}"),
                    key: k.public_key(),
                })
                .collect(),
            allow_unsigned: false,
        }
    }

    #[test]
    fn keys_round_trip_through_pem_for_both_algorithms() {
        for algorithm in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
            let key = SigningKey::generate(algorithm);
            let again = SigningKey::from_pem(&key.to_pem(), "k").unwrap();
            assert_eq!(again.algorithm(), algorithm);
            let public = PublicKey::from_pem(&key.public_key().to_pem(), "k.pub").unwrap();
            assert_eq!(public, key.public_key());
            let sig = again.sign(b"payload");
            assert!(public.verify(b"payload", &sig));
            assert!(!public.verify(b"payload2", &sig));
        }
        let err = PublicKey::from_pem("not a key", "x.pub").unwrap_err();
        assert!(err.to_string().contains("x.pub"));
    }

    #[test]
    fn verification_accepts_trusted_and_names_each_refusal() {
        let digest = Digest::of(b"manifest");
        let publisher = SigningKey::generate(KeyAlgorithm::Ed25519);
        let stranger = SigningKey::generate(KeyAlgorithm::EcdsaP256);
        let signed = add_signature(Vec::new(), "r/p", &digest, &publisher);

        let ok = verify(
            &policy(&[&stranger, &publisher]),
            "r/p:1",
            "r/p",
            &digest,
            &stored(&signed),
        )
        .unwrap();
        assert!(matches!(ok, Verification::SignedBy { name, .. } if name == "key1"));

        let err = verify(
            &policy(&[&stranger]),
            "r/p:1",
            "r/p",
            &digest,
            &stored(&signed),
        )
        .unwrap_err();
        assert!(matches!(err, VerifyError::UntrustedKey { .. }), "{err}");

        let other = Digest::of(b"other manifest");
        let err = verify(
            &policy(&[&publisher]),
            "r/p:1",
            "r/p",
            &other,
            &stored(&signed),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("belongs to another artifact"),
            "{err}"
        );

        let err = verify(&policy(&[&publisher]), "r/p:1", "r/p", &digest, &[]).unwrap_err();
        assert!(matches!(err, VerifyError::Unsigned { .. }));
        let allow = TrustPolicy {
            allow_unsigned: true,
            ..policy(&[&publisher])
        };
        assert_eq!(
            verify(&allow, "r/p:1", "r/p", &digest, &[]).unwrap(),
            Verification::UnsignedAllowed
        );
    }

    #[test]
    fn a_signature_counts_only_in_the_repository_it_names() {
        for (reference, repository) in [
            ("127.0.0.1:5678/acme/slack", "acme/slack"),
            ("registry.example.com/acme/slack", "acme/slack"),
            ("localhost/acme/slack", "acme/slack"),
            ("acme/slack", "acme/slack"),
            ("n8n.example.com:443/acme/slack:1.0.0", "acme/slack"),
            ("n8n.example.com/acme/slack@sha256:ab", "acme/slack"),
            ("acme/slack:1.0.0", "acme/slack"),
        ] {
            assert_eq!(signed_repository(reference), repository, "{reference}");
        }

        let digest = Digest::of(b"manifest");
        let publisher = SigningKey::generate(KeyAlgorithm::Ed25519);
        let signed = add_signature(Vec::new(), "127.0.0.1:5678/acme/slack", &digest, &publisher);
        let trusted = policy(&[&publisher]);
        assert!(
            verify(
                &trusted,
                "acme/slack:1",
                "acme/slack",
                &digest,
                &stored(&signed)
            )
            .is_ok()
        );
        let err = verify(
            &trusted,
            "mallory/slack:1",
            "mallory/slack",
            &digest,
            &stored(&signed),
        )
        .unwrap_err();
        assert!(
            matches!(&err, VerifyError::SignatureForAnotherRepository { signed_for, .. } if signed_for == "127.0.0.1:5678/acme/slack"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("not for repository `mallory/slack`"),
            "{err}"
        );
        // A nested name that ends like the signed one is another repository.
        let err = verify(&trusted, "x", "x/acme/slack", &digest, &stored(&signed)).unwrap_err();
        assert!(
            matches!(err, VerifyError::SignatureForAnotherRepository { .. }),
            "{err}"
        );
    }

    #[test]
    fn signing_again_appends_and_same_key_replaces() {
        let digest = Digest::of(b"manifest");
        let a = SigningKey::generate(KeyAlgorithm::Ed25519);
        let b = SigningKey::generate(KeyAlgorithm::EcdsaP256);
        let first = add_signature(Vec::new(), "r/p", &digest, &a);
        let both = add_signature(stored(&first), "r/p", &digest, &b);
        assert_eq!(both.payloads.len(), 2);
        let again = add_signature(stored(&both), "r/p", &digest, &a);
        assert_eq!(again.payloads.len(), 2);
    }
}
