//! The registry over an object store (`object_store`): S3 and S3-compatible
//! services (MinIO, Ceph, R2) through [`ObjectStorage::s3`], or any other
//! [`ObjectStore`]. Keys mirror [`super::FsStorage`]'s layout. Object stores
//! cannot append, so an upload session keeps each chunk as its own object and
//! joins them when it finishes.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest as _, Sha256};

use super::{
    BlobRead, ByteStream, ReferrerDescriptor, RegistryStorage, StorageError, StoredManifest,
    UploadId, UploadState,
};
use crate::digest::Digest;
use crate::names::{RepositoryName, Tag};

/// Where an S3-compatible bucket is and how to sign requests to it.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The region (`us-east-1` for most S3-compatible services).
    pub region: String,
    /// The endpoint for a service other than AWS (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// Access key id; taken from the environment (`AWS_ACCESS_KEY_ID`) if unset.
    pub access_key_id: Option<String>,
    /// Secret access key; from `AWS_SECRET_ACCESS_KEY` if unset.
    pub secret_access_key: Option<String>,
    /// Keys under this prefix (`registry`), so a bucket can be shared.
    pub prefix: String,
}

/// A [`RegistryStorage`] in an object store.
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

fn err<'a>(
    action: &'static str,
    key: &'a Path,
) -> impl FnOnce(object_store::Error) -> StorageError + 'a {
    move |e| StorageError::Io {
        action,
        path: key.to_string(),
        source: std::io::Error::other(e),
    }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl ObjectStorage {
    /// A store over `store`, with every key under `prefix` (may be empty).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into().trim_matches('/').to_owned(),
        }
    }

    /// A store in an S3-compatible bucket. Builds the client only; nothing
    /// is sent until the registry reads or writes.
    pub fn s3(config: &S3Config) -> Result<Self, StorageError> {
        if config.bucket.is_empty() {
            return Err(StorageError::Io {
                action: "configure S3 bucket",
                path: String::new(),
                source: std::io::Error::other("no bucket name given; set the bucket"),
            });
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = &config.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| StorageError::Io {
            action: "configure S3 bucket",
            path: config.bucket.clone(),
            source: std::io::Error::other(format!(
                "{e}; check the bucket name, region and endpoint"
            )),
        })?;
        Ok(Self::new(Arc::new(store), config.prefix.clone()))
    }

    fn key(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        self.key(&format!("blobs/sha256/{}", digest.hex()))
    }

    fn repo_key(&self, repository: &RepositoryName, rest: &str) -> Path {
        self.key(&format!("repositories/{repository}/{rest}"))
    }

    async fn read(&self, key: &Path) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(key).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(err("read", key))?)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err("read", key)(e)),
        }
    }

    async fn write(&self, key: &Path, bytes: Bytes) -> Result<(), StorageError> {
        // A single PUT is atomic in S3: readers see the old object or the new one.
        self.store
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map_err(err("write", key))?;
        Ok(())
    }

    async fn remove(&self, key: &Path) -> Result<bool, StorageError> {
        if self.exists(key).await? {
            self.store.delete(key).await.map_err(err("remove", key))?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn exists(&self, key: &Path) -> Result<bool, StorageError> {
        Ok(self.size(key).await?.is_some())
    }

    async fn size(&self, key: &Path) -> Result<Option<u64>, StorageError> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err("stat", key)(e)),
        }
    }

    /// Every key under `prefix`, sorted, with their sizes.
    async fn list(&self, prefix: &Path) -> Result<Vec<(Path, u64)>, StorageError> {
        let mut found: Vec<(Path, u64)> = self
            .store
            .list(Some(prefix))
            .map_ok(|m| (m.location, m.size))
            .try_collect()
            .await
            .map_err(err("list", prefix))?;
        found.sort();
        Ok(found)
    }

    /// The last path segment of every key directly under `prefix`.
    async fn names(&self, prefix: &Path) -> Result<Vec<String>, StorageError> {
        let listed = self
            .store
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(err("list", prefix))?;
        let mut names: Vec<String> = listed
            .objects
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[async_trait]
impl RegistryStorage for ObjectStorage {
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        self.size(&self.blob_key(digest)).await
    }

    async fn read_blob(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobRead>, StorageError> {
        let key = self.blob_key(digest);
        let Some(total_size) = self.size(&key).await? else {
            return Ok(None);
        };
        let bytes = match range {
            Some((start, end)) => self
                .store
                .get_range(&key, start..end + 1)
                .await
                .map_err(err("read", &key))?,
            None => self.read(&key).await?.unwrap_or_default(),
        };
        let stream: ByteStream = futures::stream::once(async move { Ok(bytes) }).boxed();
        Ok(Some(BlobRead { total_size, stream }))
    }

    async fn blob_linked(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let link = self.repo_key(repository, &format!("_layers/sha256/{}", digest.hex()));
        Ok(self.exists(&link).await? && self.exists(&self.blob_key(digest)).await?)
    }

    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let link = self.repo_key(repository, &format!("_layers/sha256/{}", digest.hex()));
        self.write(&link, Bytes::new()).await
    }

    async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let link = self.repo_key(repository, &format!("_layers/sha256/{}", digest.hex()));
        self.remove(&link).await
    }

    async fn repositories(&self) -> Result<Vec<RepositoryName>, StorageError> {
        let root = self.key("repositories");
        let mut found = std::collections::BTreeSet::new();
        for (key, _) in self.list(&root).await? {
            let rel: Vec<String> = key
                .prefix_match(&root)
                .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect())
                .unwrap_or_default();
            if let Some(at) = rel.iter().position(|p| p == "_manifests")
                && let Ok(name) = RepositoryName::new(&rel[..at].join("/"))
            {
                found.insert(name.to_string());
            }
        }
        Ok(found
            .into_iter()
            .filter_map(|n| RepositoryName::new(&n).ok())
            .collect())
    }

    async fn repository_exists(&self, repository: &RepositoryName) -> Result<bool, StorageError> {
        for part in ["_manifests", "_layers"] {
            let listed = self
                .store
                .list(Some(&self.repo_key(repository, part)))
                .next()
                .await;
            if listed.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn start_upload(&self, repository: &RepositoryName) -> Result<UploadId, StorageError> {
        let id = UploadId::random();
        let key = self.key(&format!("uploads/{}/repository", id.as_str()));
        self.write(&key, Bytes::from(repository.to_string()))
            .await?;
        Ok(id)
    }

    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StorageError> {
        let key = self.key(&format!("uploads/{}/repository", id.as_str()));
        let Some(name) = self.read(&key).await? else {
            return Ok(None);
        };
        let repository = std::str::from_utf8(&name)
            .ok()
            .and_then(|n| RepositoryName::new(n).ok())
            .ok_or_else(|| StorageError::Corrupt {
                path: key.to_string(),
                reason: "not a repository name".into(),
            })?;
        let parts = self.key(&format!("uploads/{}/parts", id.as_str()));
        let size = self.list(&parts).await?.iter().map(|(_, s)| s).sum();
        Ok(Some(UploadState { repository, size }))
    }

    async fn append_upload(
        &self,
        id: &UploadId,
        mut chunk: ByteStream,
        limit: u64,
    ) -> Result<u64, StorageError> {
        let Some(state) = self.upload_state(id).await? else {
            return Err(StorageError::UploadUnknown(id.as_str().to_owned()));
        };
        let parts = self.key(&format!("uploads/{}/parts", id.as_str()));
        let index = self.list(&parts).await?.len();
        let mut buf = BytesMut::new();
        while let Some(bytes) = chunk.next().await {
            let bytes = bytes.map_err(|source| StorageError::Io {
                action: "receive",
                path: parts.to_string(),
                source,
            })?;
            buf.extend_from_slice(&bytes);
            if state.size + buf.len() as u64 > limit {
                return Err(StorageError::TooLarge { limit });
            }
        }
        let size = state.size + buf.len() as u64;
        if !buf.is_empty() {
            // Zero-padded so that listing order is upload order.
            let key = self.key(&format!("uploads/{}/parts/{index:08}", id.as_str()));
            self.write(&key, buf.freeze()).await?;
        }
        Ok(size)
    }

    async fn finish_upload(&self, id: &UploadId, expected: &Digest) -> Result<u64, StorageError> {
        let Some(state) = self.upload_state(id).await? else {
            return Err(StorageError::UploadUnknown(id.as_str().to_owned()));
        };
        let parts = self.key(&format!("uploads/{}/parts", id.as_str()));
        let mut hasher = Sha256::new();
        let mut content = BytesMut::with_capacity(state.size as usize);
        for (key, _) in self.list(&parts).await? {
            let bytes = self.read(&key).await?.unwrap_or_default();
            hasher.update(&bytes);
            content.extend_from_slice(&bytes);
        }
        self.cancel_upload(id).await?;
        let computed = Digest::from_hasher(hasher);
        if &computed != expected {
            return Err(StorageError::DigestMismatch {
                expected: expected.clone(),
                computed,
            });
        }
        self.write(&self.blob_key(expected), content.freeze())
            .await?;
        self.link_blob(&state.repository, expected).await?;
        Ok(state.size)
    }

    async fn cancel_upload(&self, id: &UploadId) -> Result<bool, StorageError> {
        let dir = self.key(&format!("uploads/{}", id.as_str()));
        let keys = self.list(&dir).await?;
        for (key, _) in &keys {
            self.store.delete(key).await.map_err(err("remove", key))?;
        }
        Ok(!keys.is_empty())
    }

    async fn put_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        manifest: &StoredManifest,
    ) -> Result<(), StorageError> {
        self.write(&self.blob_key(digest), manifest.bytes.clone())
            .await?;
        let link = self.repo_key(repository, &format!("_manifests/sha256/{}", digest.hex()));
        self.write(&link, Bytes::from(manifest.media_type.clone()))
            .await
    }

    async fn manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, StorageError> {
        let link = self.repo_key(repository, &format!("_manifests/sha256/{}", digest.hex()));
        let Some(media_type) = self.read(&link).await? else {
            return Ok(None);
        };
        let media_type =
            String::from_utf8(media_type.to_vec()).map_err(|_| StorageError::Corrupt {
                path: link.to_string(),
                reason: "media type is not UTF-8".into(),
            })?;
        let Some(bytes) = self.read(&self.blob_key(digest)).await? else {
            return Ok(None);
        };
        Ok(Some(StoredManifest { media_type, bytes }))
    }

    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let link = self.repo_key(repository, &format!("_manifests/sha256/{}", digest.hex()));
        if !self.remove(&link).await? {
            return Ok(false);
        }
        for tag in self.tags(repository).await? {
            let key = self.repo_key(repository, &format!("_tags/{tag}"));
            if self.read(&key).await?.as_deref() == Some(digest.to_string().as_bytes()) {
                self.remove(&key).await?;
            }
        }
        Ok(true)
    }

    async fn set_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let key = self.repo_key(repository, &format!("_tags/{tag}"));
        self.write(&key, Bytes::from(digest.to_string())).await
    }

    async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, StorageError> {
        let key = self.repo_key(repository, &format!("_tags/{tag}"));
        let Some(bytes) = self.read(&key).await? else {
            return Ok(None);
        };
        let digest = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StorageError::Corrupt {
                path: key.to_string(),
                reason: "not a digest".into(),
            })?;
        Ok(Some(digest))
    }

    async fn delete_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<bool, StorageError> {
        self.remove(&self.repo_key(repository, &format!("_tags/{tag}")))
            .await
    }

    async fn tags(&self, repository: &RepositoryName) -> Result<Vec<String>, StorageError> {
        self.names(&self.repo_key(repository, "_tags")).await
    }

    async fn add_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &ReferrerDescriptor,
    ) -> Result<(), StorageError> {
        let key = self.repo_key(
            repository,
            &format!("_referrers/{}/{}", subject.hex(), referrer.digest.hex()),
        );
        let json = serde_json::to_vec(referrer).map_err(|e| StorageError::Corrupt {
            path: key.to_string(),
            reason: e.to_string(),
        })?;
        self.write(&key, Bytes::from(json)).await
    }

    async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<ReferrerDescriptor>, StorageError> {
        let dir = self.repo_key(repository, &format!("_referrers/{}", subject.hex()));
        let mut out = Vec::new();
        for (key, _) in self.list(&dir).await? {
            let Some(bytes) = self.read(&key).await? else {
                continue;
            };
            out.push(
                serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
                    path: key.to_string(),
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    async fn remove_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), StorageError> {
        let key = self.repo_key(
            repository,
            &format!("_referrers/{}/{}", subject.hex(), referrer.hex()),
        );
        self.remove(&key).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn chunk(bytes: &'static [u8]) -> ByteStream {
        futures::stream::once(async move { Ok(Bytes::from_static(bytes)) }).boxed()
    }

    #[tokio::test]
    async fn chunked_upload_tags_manifests_and_listing_over_an_object_store() {
        let store = ObjectStorage::new(Arc::new(InMemory::new()), "reg");
        let repo = RepositoryName::new("plugins/slack").unwrap();
        let id = store.start_upload(&repo).await.unwrap();
        assert_eq!(
            store
                .append_upload(&id, chunk(b"hello "), 100)
                .await
                .unwrap(),
            6
        );
        assert_eq!(
            store
                .append_upload(&id, chunk(b"world"), 100)
                .await
                .unwrap(),
            11
        );
        assert!(matches!(
            store.append_upload(&id, chunk(&[0; 90]), 100).await,
            Err(StorageError::TooLarge { limit: 100 })
        ));
        let digest = Digest::of(b"hello world");
        assert_eq!(store.finish_upload(&id, &digest).await.unwrap(), 11);
        assert!(store.upload_state(&id).await.unwrap().is_none());
        assert!(store.blob_linked(&repo, &digest).await.unwrap());
        let mut read = store
            .read_blob(&digest, Some((6, 10)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.total_size, 11);
        assert_eq!(read.stream.next().await.unwrap().unwrap(), "world");

        // A wrong digest ends the session and stores nothing.
        let id = store.start_upload(&repo).await.unwrap();
        store.append_upload(&id, chunk(b"abc"), 100).await.unwrap();
        assert!(matches!(
            store.finish_upload(&id, &digest).await,
            Err(StorageError::DigestMismatch { .. })
        ));
        assert!(
            store
                .blob_size(&Digest::of(b"abc"))
                .await
                .unwrap()
                .is_none()
        );

        let manifest = StoredManifest {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            bytes: Bytes::from_static(b"{}"),
        };
        let m = Digest::of(b"{}");
        store.put_manifest(&repo, &m, &manifest).await.unwrap();
        for tag in ["1.0.0", "latest"] {
            store
                .set_tag(&repo, &Tag::new(tag).unwrap(), &m)
                .await
                .unwrap();
        }
        assert_eq!(store.tags(&repo).await.unwrap(), ["1.0.0", "latest"]);
        assert_eq!(store.repositories().await.unwrap(), vec![repo.clone()]);
        assert!(store.delete_manifest(&repo, &m).await.unwrap());
        assert!(store.tags(&repo).await.unwrap().is_empty());
        assert!(store.manifest(&repo, &m).await.unwrap().is_none());
    }

    #[test]
    fn s3_configuration_builds_without_a_network() {
        let config = S3Config {
            bucket: "plugins".into(),
            region: "us-east-1".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            prefix: "registry/".into(),
        };
        let storage = ObjectStorage::s3(&config).unwrap();
        assert_eq!(
            storage.blob_key(&Digest::of(b"")).as_ref(),
            format!("registry/blobs/sha256/{}", Digest::of(b"").hex())
        );
        let err = ObjectStorage::s3(&S3Config::default()).unwrap_err();
        assert!(err.to_string().contains("bucket"), "{err}");
    }
}
