//! The registry client: publish, sign, verify and pull plugins on any OCI
//! registry (ours, Debian's `docker-registry`, a cloud registry).
//!
//! It is built on `oci-client`, which already speaks the Bearer token flow,
//! chunked uploads and digest-checked blob pulls. What it lacks, upload
//! progress, comes from feeding it the blob as a stream of chunks and
//! reporting as each chunk is taken.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::digest::Digest;
use crate::manifest::ImageManifest;
use crate::media_types;
use crate::plugin::{PluginArtifact, PluginFormatError, PluginManifest, PluginSpec};
use crate::signature::{self, SigningKey, StoredSignature, TrustPolicy, Verification, VerifyError};

/// How a client reaches a registry.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// User name and password (or API key) for the token endpoint.
    pub credentials: Option<(String, String)>,
    /// Plain HTTP instead of HTTPS (loopback registries and tests).
    pub plain_http: bool,
    /// Upload chunk size in bytes; 0 picks 1 MiB.
    pub chunk_size: usize,
}

/// Upload progress for one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    /// What is being uploaded (`component`, `config`, `signature`).
    pub label: &'static str,
    /// The blob.
    pub digest: Digest,
    /// Bytes handed to the connection so far.
    pub sent: u64,
    /// The blob's size.
    pub total: u64,
    /// The registry had the blob already; nothing was sent.
    pub skipped: bool,
}

/// Receives upload progress.
pub type ProgressFn = dyn Fn(&UploadProgress) + Send + Sync;

/// A plugin pulled, checked against the trust policy, with its component.
#[derive(Debug, Clone)]
pub struct PulledPlugin {
    /// The manifest digest, to pin.
    pub digest: Digest,
    /// The node's spec.
    pub spec: PluginSpec,
    /// The component, whose digest was checked.
    pub wasm: Bytes,
    /// Who signed it.
    pub verification: Verification,
}

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The reference does not parse.
    #[error(
        "`{reference}` is not a plugin reference ({reason}); write HOST/NAMESPACE/NAME:VERSION, such as 127.0.0.1:5000/plugins/slack:1.0.0"
    )]
    BadReference {
        /// The text given.
        reference: String,
        /// The parse error.
        reason: String,
    },
    /// The registry refused or failed a request.
    #[error("{reference}: {action} failed: {source}")]
    Registry {
        /// The artifact.
        reference: String,
        /// What the client was doing.
        action: &'static str,
        /// The error from the registry or the connection.
        source: OciDistributionError,
    },
    /// The content is not a plugin.
    #[error("{reference}: {source}")]
    Format {
        /// The artifact.
        reference: String,
        /// Why.
        source: PluginFormatError,
    },
    /// The trust policy refused the plugin.
    #[error(transparent)]
    Refused(#[from] VerifyError),
    /// A blob's content does not match its digest: it was altered in storage or in transit.
    #[error(
        "{reference}: the component layer was tampered with: it should have digest {expected} but has {actual}; the plugin is refused (re-publish it, and check the registry's storage)"
    )]
    Tampered {
        /// The artifact.
        reference: String,
        /// The digest in the manifest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
}

/// Parses `HOST/NAMESPACE/NAME:TAG` or `…@sha256:…`.
pub fn parse_reference(reference: &str) -> Result<Reference, ClientError> {
    reference
        .parse::<Reference>()
        .map_err(|e| ClientError::BadReference {
            reference: reference.to_owned(),
            reason: e.to_string(),
        })
}

/// Whether `reference` names a registry on this machine (plain HTTP is fine there).
pub fn is_loopback(reference: &Reference) -> bool {
    let registry = reference.resolve_registry();
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A client for one registry account.
pub struct RegistryClient {
    oci: Client,
    auth: RegistryAuth,
    chunk_size: usize,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NotFound | OciErrorCode::NameUnknown
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

fn oci_descriptor(descriptor: &crate::manifest::Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: descriptor.media_type.clone(),
        digest: descriptor.digest.to_string(),
        size: descriptor.size as i64,
        ..OciDescriptor::default()
    }
}

impl RegistryClient {
    /// A client with these options.
    pub fn new(options: ClientOptions) -> Self {
        let config = ClientConfig {
            protocol: if options.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..ClientConfig::default()
        };
        let auth = match options.credentials {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        };
        Self {
            oci: Client::new(config),
            auth,
            chunk_size: if options.chunk_size == 0 {
                1 << 20
            } else {
                options.chunk_size
            },
        }
    }

    fn registry_error(
        reference: &Reference,
        action: &'static str,
    ) -> impl FnOnce(OciDistributionError) -> ClientError {
        let reference = reference.whole();
        move |source| ClientError::Registry {
            reference,
            action,
            source,
        }
    }

    async fn login(&self, reference: &Reference, op: RegistryOperation) -> Result<(), ClientError> {
        self.oci
            .auth(reference, &self.auth, op)
            .await
            .map(|_| ())
            .map_err(Self::registry_error(reference, "logging in"))
    }

    async fn push_blob(
        &self,
        reference: &Reference,
        label: &'static str,
        bytes: Bytes,
        progress: &Arc<ProgressFn>,
    ) -> Result<(), ClientError> {
        let digest = Digest::of(&bytes);
        let total = bytes.len() as u64;
        let exists = self
            .oci
            .blob_exists(reference, &digest.to_string())
            .await
            .map_err(Self::registry_error(reference, "checking for a blob"))?;
        if exists {
            progress(&UploadProgress {
                label,
                digest,
                sent: total,
                total,
                skipped: true,
            });
            return Ok(());
        }
        let chunk_size = self.chunk_size;
        let chunks: Vec<Bytes> = (0..bytes.len())
            .step_by(chunk_size)
            .map(|start| bytes.slice(start..(start + chunk_size).min(bytes.len())))
            .collect();
        let report = Arc::clone(progress);
        let reported_digest = digest.clone();
        let mut sent = 0u64;
        let stream = futures::stream::iter(chunks).map(move |chunk| {
            // The previous chunk has been sent when the next one is taken.
            report(&UploadProgress {
                label,
                digest: reported_digest.clone(),
                sent,
                total,
                skipped: false,
            });
            sent += chunk.len() as u64;
            Ok(chunk)
        });
        self.oci
            .push_blob_stream(reference, stream, &digest.to_string(), Some(total))
            .await
            .map_err(Self::registry_error(reference, "uploading a blob"))?;
        progress(&UploadProgress {
            label,
            digest,
            sent: total,
            total,
            skipped: false,
        });
        Ok(())
    }

    /// Publishes `artifact` at `reference` (a tag), signing it with `key` if
    /// given; returns the manifest digest. `progress` hears about every blob.
    pub async fn publish(
        &self,
        reference: &Reference,
        artifact: &PluginArtifact,
        key: Option<&SigningKey>,
        progress: Arc<ProgressFn>,
    ) -> Result<Digest, ClientError> {
        self.login(reference, RegistryOperation::Push).await?;
        self.push_blob(reference, "component", artifact.wasm.clone(), &progress)
            .await?;
        self.push_blob(reference, "config", artifact.config.clone(), &progress)
            .await?;
        self.oci
            .push_manifest_raw(
                reference,
                artifact.manifest.clone(),
                http::HeaderValue::from_static(media_types::OCI_MANIFEST),
            )
            .await
            .map_err(Self::registry_error(reference, "uploading the manifest"))?;
        if let Some(key) = key {
            self.sign_digest(reference, &artifact.manifest_digest, key, &progress)
                .await?;
        }
        Ok(artifact.manifest_digest.clone())
    }

    /// The manifest digest `reference` points at.
    pub async fn resolve(&self, reference: &Reference) -> Result<Digest, ClientError> {
        self.login(reference, RegistryOperation::Pull).await?;
        let (bytes, _) = self
            .oci
            .pull_manifest_raw(reference, &self.auth, &[media_types::OCI_MANIFEST])
            .await
            .map_err(Self::registry_error(reference, "fetching the manifest"))?;
        Ok(Digest::of(&bytes))
    }

    fn signature_reference(reference: &Reference, digest: &Digest) -> Reference {
        Reference::with_tag(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            signature::signature_tag(digest).to_string(),
        )
    }

    /// The signatures stored for `digest` (empty if there are none).
    pub async fn signatures(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Vec<StoredSignature>, ClientError> {
        let sig_ref = Self::signature_reference(reference, digest);
        let bytes = match self
            .oci
            .pull_manifest_raw(&sig_ref, &self.auth, &[media_types::OCI_MANIFEST])
            .await
        {
            Ok((bytes, _)) => bytes,
            Err(e) if is_not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(Self::registry_error(reference, "fetching signatures")(e)),
        };
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Format {
                reference: sig_ref.whole(),
                source: PluginFormatError::NotAManifest {
                    digest: Digest::of(&bytes),
                    reason: e.to_string(),
                },
            })?;
        let mut out = Vec::new();
        for layer in manifest.layers {
            if layer.media_type != media_types::COSIGN_SIMPLE_SIGNING {
                continue;
            }
            let mut payload = Vec::new();
            let fetched = self
                .oci
                .pull_blob(&sig_ref, &oci_descriptor(&layer), &mut payload)
                .await;
            match fetched {
                Ok(()) => {}
                // A damaged payload is reported by `signature::verify`.
                Err(OciDistributionError::DigestError(_)) => {}
                Err(e) => return Err(Self::registry_error(reference, "fetching a signature")(e)),
            }
            out.push(StoredSignature { layer, payload });
        }
        Ok(out)
    }

    async fn sign_digest(
        &self,
        reference: &Reference,
        digest: &Digest,
        key: &SigningKey,
        progress: &Arc<ProgressFn>,
    ) -> Result<(), ClientError> {
        let existing = self.signatures(reference, digest).await?;
        let docker_reference = format!(
            "{}/{}",
            reference.resolve_registry(),
            reference.repository()
        );
        let artifact = signature::add_signature(existing, &docker_reference, digest, key);
        let sig_ref = Self::signature_reference(reference, digest);
        for payload in artifact.payloads {
            self.push_blob(&sig_ref, "signature", Bytes::from(payload), progress)
                .await?;
        }
        self.push_blob(
            &sig_ref,
            "signature config",
            Bytes::from(artifact.config),
            progress,
        )
        .await?;
        self.oci
            .push_manifest_raw(
                &sig_ref,
                artifact.manifest,
                http::HeaderValue::from_static(media_types::OCI_MANIFEST),
            )
            .await
            .map_err(Self::registry_error(reference, "uploading the signature"))?;
        Ok(())
    }

    /// Signs the artifact `reference` points at; returns its digest.
    pub async fn sign(
        &self,
        reference: &Reference,
        key: &SigningKey,
    ) -> Result<Digest, ClientError> {
        self.login(reference, RegistryOperation::Push).await?;
        let digest = self.resolve(reference).await?;
        let quiet: Arc<ProgressFn> = Arc::new(|_: &UploadProgress| {});
        self.sign_digest(reference, &digest, key, &quiet).await?;
        Ok(digest)
    }

    /// Pulls a plugin: the manifest, its signatures (checked against
    /// `policy` before the component is downloaded), then the component,
    /// whose digest is checked.
    pub async fn pull(
        &self,
        reference: &Reference,
        policy: &TrustPolicy,
    ) -> Result<PulledPlugin, ClientError> {
        let name = reference.whole();
        self.login(reference, RegistryOperation::Pull).await?;
        let (bytes, _) = self
            .oci
            .pull_manifest_raw(reference, &self.auth, &[media_types::OCI_MANIFEST])
            .await
            .map_err(Self::registry_error(reference, "fetching the manifest"))?;
        let digest = Digest::of(&bytes);
        if let Some(pinned) = reference.digest()
            && pinned != digest.to_string()
        {
            return Err(ClientError::Tampered {
                reference: name,
                expected: pinned.to_owned(),
                actual: digest.to_string(),
            });
        }
        let manifest = PluginManifest::parse(&bytes).map_err(|source| ClientError::Format {
            reference: name.clone(),
            source,
        })?;
        let signatures = self.signatures(reference, &digest).await?;
        let verification =
            signature::verify(policy, &name, reference.repository(), &digest, &signatures)?;
        let mut wasm = Vec::with_capacity(manifest.layer.size as usize);
        match self
            .oci
            .pull_blob(reference, &oci_descriptor(&manifest.layer), &mut wasm)
            .await
        {
            Ok(()) => {}
            Err(OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            )) => {
                return Err(ClientError::Tampered {
                    reference: name,
                    expected,
                    actual,
                });
            }
            Err(e) => return Err(Self::registry_error(reference, "downloading the component")(e)),
        }
        let actual = Digest::of(&wasm);
        if actual != manifest.layer.digest {
            return Err(ClientError::Tampered {
                reference: name,
                expected: manifest.layer.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(PulledPlugin {
            digest,
            spec: manifest.spec,
            wasm: Bytes::from(wasm),
            verification,
        })
    }
}
