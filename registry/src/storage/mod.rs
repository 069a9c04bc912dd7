//! Where the registry keeps blobs, manifests, tags, referrers and upload
//! sessions. The server speaks only to [`RegistryStorage`]; the filesystem
//! ([`FsStorage`]) is the default implementation.

mod fs;
#[cfg(feature = "s3")]
mod object;

use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::names::{RepositoryName, Tag};

pub use fs::FsStorage;
#[cfg(feature = "s3")]
pub use object::{ObjectStorage, S3Config};

/// A stream of bytes read from, or written to, the store.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// An upload session id: 32 lowercase hex digits chosen by the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// Validates an id taken from a request path.
    pub fn parse(id: &str) -> Option<Self> {
        (id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| Self(id.to_owned()))
    }

    /// A new random id.
    pub fn random() -> Self {
        Self(crate::random_hex(16))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A manifest as stored: its bytes and the media type it was pushed with.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// The media type given in `Content-Type` when it was pushed.
    pub media_type: String,
    /// The exact bytes that were pushed; their digest is the manifest's digest.
    pub bytes: Bytes,
}

/// A descriptor in a referrers list (an OCI content descriptor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerDescriptor {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// The referrer manifest's size in bytes.
    pub size: u64,
    /// The referrer's artifact type (its `artifactType`, or else its config media type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The referrer manifest's annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// An upload session's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    /// The repository the session was opened in.
    pub repository: RepositoryName,
    /// Bytes received so far.
    pub size: u64,
}

/// A blob opened for reading.
pub struct BlobRead {
    /// The blob's full size.
    pub total_size: u64,
    /// The requested bytes.
    pub stream: ByteStream,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store could not be read or written.
    #[error("registry storage: {action} `{path}`: {source}")]
    Io {
        /// What the store was doing.
        action: &'static str,
        /// The path or key involved.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The upload session does not exist (never opened, finished or cancelled).
    #[error("upload session `{0}` is unknown")]
    UploadUnknown(String),
    /// The uploaded bytes do not hash to the digest the client gave.
    #[error("uploaded content has digest {computed}, not the {expected} the client sent")]
    DigestMismatch {
        /// The digest the client said the content has.
        expected: Digest,
        /// The digest of the bytes received.
        computed: Digest,
    },
    /// An upload grew past the configured limit.
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Stored metadata could not be parsed; the store was edited or is damaged.
    #[error("registry storage: `{path}` is damaged: {reason}")]
    Corrupt {
        /// The path or key involved.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Storage for an OCI registry: content-addressed blobs shared by every
/// repository, and per repository the links that make a blob or manifest
/// visible there, tags and referrers.
///
/// Implementations must make each write atomic: a reader sees a blob, a
/// manifest or a tag either whole or not at all.
#[async_trait]
pub trait RegistryStorage: Send + Sync + 'static {
    /// The size of a blob if it exists in the store (in any repository).
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;

    /// Reads a blob, or `offset..=end` of it. `None` when the blob is absent.
    async fn read_blob(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobRead>, StorageError>;

    /// Whether `digest` is linked into `repository` (pushed or mounted there).
    async fn blob_linked(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError>;

    /// Links an existing blob into `repository` (a cross-repository mount).
    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), StorageError>;

    /// Removes a blob's link from `repository`; `false` if it was not linked.
    async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError>;

    /// Every repository that holds a manifest, sorted; the marketplace index
    /// walks these.
    async fn repositories(&self) -> Result<Vec<RepositoryName>, StorageError>;

    /// Whether anything was ever pushed to `repository` and not deleted.
    async fn repository_exists(&self, repository: &RepositoryName) -> Result<bool, StorageError>;

    /// Opens an upload session in `repository`.
    async fn start_upload(&self, repository: &RepositoryName) -> Result<UploadId, StorageError>;

    /// The state of an upload session, `None` if unknown.
    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StorageError>;

    /// Appends a chunk stream to an upload; returns the new size. Fails with
    /// [`StorageError::TooLarge`] once the upload would exceed `limit` bytes.
    async fn append_upload(
        &self,
        id: &UploadId,
        chunk: ByteStream,
        limit: u64,
    ) -> Result<u64, StorageError>;

    /// Completes an upload: verifies that its content hashes to `expected`,
    /// stores the blob and links it into the session's repository. The
    /// session is gone afterwards, also when the digest does not match.
    async fn finish_upload(&self, id: &UploadId, expected: &Digest) -> Result<u64, StorageError>;

    /// Cancels an upload session; `false` if it was unknown.
    async fn cancel_upload(&self, id: &UploadId) -> Result<bool, StorageError>;

    /// Stores a manifest's bytes and links it into `repository`.
    async fn put_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        manifest: &StoredManifest,
    ) -> Result<(), StorageError>;

    /// A manifest linked into `repository`.
    async fn manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, StorageError>;

    /// Unlinks a manifest from `repository`, with every tag that points at it;
    /// `false` if it was not there.
    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError>;

    /// Points `tag` at `digest`, replacing what it pointed at.
    async fn set_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<(), StorageError>;

    /// What `tag` points at.
    async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, StorageError>;

    /// Removes a tag; `false` if it did not exist.
    async fn delete_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<bool, StorageError>;

    /// Every tag in `repository`, sorted lexically.
    async fn tags(&self, repository: &RepositoryName) -> Result<Vec<String>, StorageError>;

    /// Records that `referrer` has `subject` as its subject.
    async fn add_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &ReferrerDescriptor,
    ) -> Result<(), StorageError>;

    /// The referrers of `subject`, sorted by digest.
    async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<ReferrerDescriptor>, StorageError>;

    /// Forgets `referrer` as a referrer of `subject`.
    async fn remove_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), StorageError>;
}
