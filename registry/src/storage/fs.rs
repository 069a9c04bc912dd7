//! The filesystem store: content-addressed blobs, one small file per link,
//! tag and referrer, and every write made atomic by a temp file and a rename.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{
    BlobRead, ByteStream, ReferrerDescriptor, RegistryStorage, StorageError, StoredManifest,
    UploadId, UploadState,
};
use crate::digest::Digest;
use crate::names::{RepositoryName, Tag};

/// A [`RegistryStorage`] in a directory:
///
/// ```text
/// blobs/sha256/<2 hex>/<hex>                         content, named by its digest
/// uploads/<id>/{data,repository}                     open upload sessions
/// repositories/<name>/_layers/sha256/<hex>           blob links (empty files)
/// repositories/<name>/_manifests/sha256/<hex>        manifest links (the media type)
/// repositories/<name>/_tags/<tag>                    the digest a tag points at
/// repositories/<name>/_referrers/<subject>/<hex>     referrer descriptors (JSON)
/// tmp/                                               writes in progress
/// ```
///
/// Repository path components cannot start with `_` (see
/// [`RepositoryName`]), so the `_…` folders never collide with a nested
/// repository.
#[derive(Debug, Clone)]
pub struct FsStorage {
    root: PathBuf,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

async fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

async fn remove_optional(path: &Path) -> Result<bool, StorageError> {
    match fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

async fn exists(path: &Path) -> Result<bool, StorageError> {
    fs::try_exists(path).await.map_err(io_err("stat", path))
}

impl FsStorage {
    /// A store rooted at `root`, created if missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        for dir in ["blobs/sha256", "uploads", "repositories", "tmp"] {
            let path = root.join(dir);
            fs::create_dir_all(&path)
                .await
                .map_err(io_err("create directory", &path))?;
        }
        Ok(Self { root })
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob's content lives (tests use it to tamper with a blob).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs/sha256").join(&hex[..2]).join(hex)
    }

    fn repo_dir(&self, repository: &RepositoryName) -> PathBuf {
        self.root.join("repositories").join(repository.as_str())
    }

    fn layer_link(&self, repository: &RepositoryName, digest: &Digest) -> PathBuf {
        self.repo_dir(repository)
            .join("_layers/sha256")
            .join(digest.hex())
    }

    fn manifest_link(&self, repository: &RepositoryName, digest: &Digest) -> PathBuf {
        self.repo_dir(repository)
            .join("_manifests/sha256")
            .join(digest.hex())
    }

    fn tag_path(&self, repository: &RepositoryName, tag: &Tag) -> PathBuf {
        self.repo_dir(repository).join("_tags").join(tag.as_str())
    }

    fn referrers_dir(&self, repository: &RepositoryName, subject: &Digest) -> PathBuf {
        self.repo_dir(repository)
            .join("_referrers")
            .join(subject.hex())
    }

    fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    /// Writes `bytes` to `path` atomically: a reader sees the old file or the
    /// whole new one, never a part.
    async fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
        let tmp = self.root.join("tmp").join(crate::random_hex(16));
        let result = async {
            let mut file = fs::File::create(&tmp)
                .await
                .map_err(io_err("create", &tmp))?;
            file.write_all(bytes).await.map_err(io_err("write", &tmp))?;
            file.sync_all().await.map_err(io_err("sync", &tmp))?;
            self.rename_into_place(&tmp, path).await
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&tmp).await;
        }
        result
    }

    async fn rename_into_place(&self, from: &Path, to: &Path) -> Result<(), StorageError> {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .await
                .map_err(io_err("create directory", parent))?;
        }
        fs::rename(from, to).await.map_err(io_err("rename", to))
    }

    async fn store_blob(&self, bytes: &[u8]) -> Result<Digest, StorageError> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !exists(&path).await? {
            self.write_atomic(&path, bytes).await?;
        }
        Ok(digest)
    }

    async fn list_dir(&self, dir: &Path) -> Result<Vec<String>, StorageError> {
        let mut entries = match fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_err("list", dir))? {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

#[async_trait]
impl RegistryStorage for FsStorage {
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        let path = self.blob_path(digest);
        match fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("stat", &path)(e)),
        }
    }

    async fn read_blob(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobRead>, StorageError> {
        let path = self.blob_path(digest);
        let mut file = match fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let total_size = file.metadata().await.map_err(io_err("stat", &path))?.len();
        let (start, len) = match range {
            Some((start, end)) => (start, end + 1 - start),
            None => (0, total_size),
        };
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(io_err("seek", &path))?;
        let stream = ReaderStream::new(file.take(len)).boxed();
        Ok(Some(BlobRead { total_size, stream }))
    }

    async fn blob_linked(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        Ok(exists(&self.layer_link(repository, digest)).await?
            && exists(&self.blob_path(digest)).await?)
    }

    async fn link_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        self.write_atomic(&self.layer_link(repository, digest), b"")
            .await
    }

    async fn unlink_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        remove_optional(&self.layer_link(repository, digest)).await
    }

    async fn repositories(&self) -> Result<Vec<RepositoryName>, StorageError> {
        // Names nest (`plugins/slack`), so walk down until a `_manifests` folder.
        let mut found = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(prefix) = pending.pop() {
            let dir = self.root.join("repositories").join(&prefix);
            for entry in self.list_dir(&dir).await? {
                if entry == "_manifests" {
                    if let Ok(name) = RepositoryName::new(&prefix) {
                        found.push(name);
                    }
                } else if !entry.starts_with('_') && dir.join(&entry).is_dir() {
                    pending.push(if prefix.is_empty() {
                        entry
                    } else {
                        format!("{prefix}/{entry}")
                    });
                }
            }
        }
        found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(found)
    }

    async fn repository_exists(&self, repository: &RepositoryName) -> Result<bool, StorageError> {
        let dir = self.repo_dir(repository);
        Ok(exists(&dir.join("_manifests")).await? || exists(&dir.join("_layers")).await?)
    }

    async fn start_upload(&self, repository: &RepositoryName) -> Result<UploadId, StorageError> {
        let id = UploadId::random();
        let dir = self.upload_dir(&id);
        fs::create_dir_all(&dir)
            .await
            .map_err(io_err("create directory", &dir))?;
        let data = dir.join("data");
        fs::File::create(&data)
            .await
            .map_err(io_err("create", &data))?;
        self.write_atomic(&dir.join("repository"), repository.as_str().as_bytes())
            .await?;
        Ok(id)
    }

    async fn upload_state(&self, id: &UploadId) -> Result<Option<UploadState>, StorageError> {
        let dir = self.upload_dir(id);
        let Some(repository) = read_optional(&dir.join("repository")).await? else {
            return Ok(None);
        };
        let repository = String::from_utf8(repository)
            .ok()
            .and_then(|r| RepositoryName::new(&r).ok())
            .ok_or_else(|| StorageError::Corrupt {
                path: dir.join("repository").display().to_string(),
                reason: "not a repository name".into(),
            })?;
        let data = dir.join("data");
        let size = fs::metadata(&data)
            .await
            .map_err(io_err("stat", &data))?
            .len();
        Ok(Some(UploadState { repository, size }))
    }

    async fn append_upload(
        &self,
        id: &UploadId,
        mut chunk: ByteStream,
        limit: u64,
    ) -> Result<u64, StorageError> {
        let data = self.upload_dir(id).join("data");
        let mut file = match fs::OpenOptions::new().append(true).open(&data).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::UploadUnknown(id.as_str().to_owned()));
            }
            Err(e) => return Err(io_err("open", &data)(e)),
        };
        let mut size = file.metadata().await.map_err(io_err("stat", &data))?.len();
        while let Some(bytes) = chunk.next().await {
            let bytes: Bytes = bytes.map_err(io_err("receive body for", &data))?;
            size += bytes.len() as u64;
            if size > limit {
                return Err(StorageError::TooLarge { limit });
            }
            file.write_all(&bytes)
                .await
                .map_err(io_err("write", &data))?;
        }
        file.flush().await.map_err(io_err("flush", &data))?;
        Ok(size)
    }

    async fn finish_upload(&self, id: &UploadId, expected: &Digest) -> Result<u64, StorageError> {
        let Some(state) = self.upload_state(id).await? else {
            return Err(StorageError::UploadUnknown(id.as_str().to_owned()));
        };
        let dir = self.upload_dir(id);
        let data = dir.join("data");
        let result = async {
            let mut file = fs::File::open(&data).await.map_err(io_err("open", &data))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = file.read(&mut buf).await.map_err(io_err("read", &data))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            file.sync_all().await.map_err(io_err("sync", &data))?;
            let computed = Digest::from_hasher(hasher);
            if &computed != expected {
                return Err(StorageError::DigestMismatch {
                    expected: expected.clone(),
                    computed,
                });
            }
            let blob = self.blob_path(expected);
            if !exists(&blob).await? {
                self.rename_into_place(&data, &blob).await?;
            }
            self.link_blob(&state.repository, expected).await?;
            Ok(state.size)
        }
        .await;
        let _ = fs::remove_dir_all(&dir).await;
        result
    }

    async fn cancel_upload(&self, id: &UploadId) -> Result<bool, StorageError> {
        let dir = self.upload_dir(id);
        match fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove", &dir)(e)),
        }
    }

    async fn put_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        manifest: &StoredManifest,
    ) -> Result<(), StorageError> {
        let stored = self.store_blob(&manifest.bytes).await?;
        debug_assert_eq!(&stored, digest);
        self.write_atomic(
            &self.manifest_link(repository, digest),
            manifest.media_type.as_bytes(),
        )
        .await
    }

    async fn manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<StoredManifest>, StorageError> {
        let link = self.manifest_link(repository, digest);
        let Some(media_type) = read_optional(&link).await? else {
            return Ok(None);
        };
        let media_type = String::from_utf8(media_type).map_err(|_| StorageError::Corrupt {
            path: link.display().to_string(),
            reason: "media type is not UTF-8".into(),
        })?;
        let Some(bytes) = read_optional(&self.blob_path(digest)).await? else {
            return Ok(None);
        };
        Ok(Some(StoredManifest {
            media_type,
            bytes: Bytes::from(bytes),
        }))
    }

    async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        if !remove_optional(&self.manifest_link(repository, digest)).await? {
            return Ok(false);
        }
        let tags_dir = self.repo_dir(repository).join("_tags");
        for tag in self.list_dir(&tags_dir).await? {
            let path = tags_dir.join(&tag);
            if read_optional(&path).await?.as_deref() == Some(digest.to_string().as_bytes()) {
                remove_optional(&path).await?;
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
        self.write_atomic(
            &self.tag_path(repository, tag),
            digest.to_string().as_bytes(),
        )
        .await
    }

    async fn resolve_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<Digest>, StorageError> {
        let path = self.tag_path(repository, tag);
        let Some(bytes) = read_optional(&path).await? else {
            return Ok(None);
        };
        let digest = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StorageError::Corrupt {
                path: path.display().to_string(),
                reason: "not a digest".into(),
            })?;
        Ok(Some(digest))
    }

    async fn delete_tag(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<bool, StorageError> {
        remove_optional(&self.tag_path(repository, tag)).await
    }

    async fn tags(&self, repository: &RepositoryName) -> Result<Vec<String>, StorageError> {
        self.list_dir(&self.repo_dir(repository).join("_tags"))
            .await
    }

    async fn add_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &ReferrerDescriptor,
    ) -> Result<(), StorageError> {
        let path = self
            .referrers_dir(repository, subject)
            .join(referrer.digest.hex());
        let json = serde_json::to_vec(referrer).map_err(|e| StorageError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.write_atomic(&path, &json).await
    }

    async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
    ) -> Result<Vec<ReferrerDescriptor>, StorageError> {
        let dir = self.referrers_dir(repository, subject);
        let mut out = Vec::new();
        for name in self.list_dir(&dir).await? {
            let path = dir.join(&name);
            let Some(bytes) = read_optional(&path).await? else {
                continue;
            };
            let descriptor = serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            out.push(descriptor);
        }
        Ok(out)
    }

    async fn remove_referrer(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), StorageError> {
        remove_optional(&self.referrers_dir(repository, subject).join(referrer.hex())).await?;
        Ok(())
    }
}
