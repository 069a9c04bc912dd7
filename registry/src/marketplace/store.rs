//! Where the marketplace keeps what the registry does not hold: small JSON
//! documents by key (`shared.json`, `tenants/<tenant>.json`).

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::fs;
use tokio::io::AsyncWriteExt;

use crate::storage::StorageError;

/// Storage for the marketplace's documents. Keys are relative paths of
/// lowercase letters, digits, `-`, `_`, `.` and `/`, chosen by the
/// marketplace. Each save must be atomic: a reader sees the old document or
/// the whole new one.
#[async_trait]
pub trait MarketplaceStore: Send + Sync + 'static {
    /// The document at `key`, `None` if it was never saved.
    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Replaces the document at `key`.
    async fn save(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError>;
}

/// A [`MarketplaceStore`] in a directory (by default `marketplace/` beside
/// the registry's `registry/`), written by temp file and rename.
#[derive(Debug, Clone)]
pub struct FsMarketplaceStore {
    root: PathBuf,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

impl FsMarketplaceStore {
    /// A store rooted at `root`, created if missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)
            .await
            .map_err(io_err("create directory", &tmp))?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let ok = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)
                    })
            });
        if !ok {
            return Err(StorageError::Corrupt {
                path: key.to_owned(),
                reason: "not a valid marketplace key".into(),
            });
        }
        Ok(self.root.join("docs").join(key))
    }
}

#[async_trait]
impl MarketplaceStore for FsMarketplaceStore {
    async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path(key)?;
        match fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    async fn save(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let tmp = self.root.join("tmp").join(crate::random_hex(16));
        let result = async {
            let mut file = fs::File::create(&tmp)
                .await
                .map_err(io_err("create", &tmp))?;
            file.write_all(bytes).await.map_err(io_err("write", &tmp))?;
            file.sync_all().await.map_err(io_err("sync", &tmp))?;
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .await
                    .map_err(io_err("create directory", parent))?;
            }
            fs::rename(&tmp, &path)
                .await
                .map_err(io_err("rename", &path))
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&tmp).await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saves_replace_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsMarketplaceStore::open(dir.path()).await.unwrap();
        assert_eq!(store.load("tenants/a.json").await.unwrap(), None);
        store.save("tenants/a.json", b"1").await.unwrap();
        store.save("tenants/a.json", b"22").await.unwrap();
        assert_eq!(
            store.load("tenants/a.json").await.unwrap().as_deref(),
            Some(&b"22"[..])
        );
        assert!(store.save("../escape", b"x").await.is_err());
    }
}
