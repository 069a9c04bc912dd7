//! Master keys: the [`KeyProvider`] trait that wraps and unwraps data keys,
//! the local provider ([`LocalMasterKey`]), and where the local key comes
//! from ([`MasterKeyConfig`]).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Generate, Nonce, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::VaultError;

/// The environment variable holding the master key (base64, 32 bytes).
pub const MASTER_KEY_ENV: &str = "N8N_WORK_MASTER_KEY";
/// The environment variable naming a file that holds the master key.
pub const MASTER_KEY_FILE_ENV: &str = "N8N_WORK_MASTER_KEY_FILE";

/// A tenant's data key in the clear: 32 bytes, wiped when dropped, never
/// printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A new random key.
    pub fn generate() -> DataKey {
        let key = Key::<Aes256Gcm>::generate();
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        DataKey(bytes)
    }

    /// A key from its bytes, as a [`KeyProvider`] unwraps it; anything but 32
    /// bytes is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey, VaultError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| {
            VaultError::Provider(format!(
                "an unwrapped data key is {} bytes; AES-256 needs 32",
                bytes.len()
            ))
        })?;
        Ok(DataKey(Zeroizing::new(array)))
    }

    /// The key's bytes, for a [`KeyProvider`] to wrap.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Wraps and unwraps tenants' data keys under a master key.
///
/// The vault calls it only when a tenant's data key is made, first used in
/// a process, or re-wrapped by [`crate::Vault::rotate`]; the unwrapped keys
/// are then kept in memory. `context` is the associated data that binds a
/// wrapped key to its tenant and key id: an implementation must
/// authenticate it (AES-GCM's AAD, AWS KMS's encryption context, HashiCorp
/// Vault transit's `context`/`associated_data`) so a wrapped key copied to
/// another tenant's row does not unwrap.
///
/// A KMS or Vault transit adapter implements this with the service's
/// encrypt/decrypt calls; its [`id`](KeyProvider::id) names the remote key
/// and its version (`kms:arn:...`, `transit:n8n-work:3`), since that id is
/// stored with every wrapped key and is how a wrong key is told apart from
/// a damaged row.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The master key's id, stored with every data key it wraps. It must
    /// change whenever the key does and must not reveal the key.
    fn id(&self) -> &str;

    /// Encrypts `key`, authenticating `context`.
    fn wrap<'a>(
        &'a self,
        key: &'a DataKey,
        context: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, VaultError>>;

    /// Decrypts what [`wrap`](KeyProvider::wrap) made with the same
    /// `context`; anything else is an error.
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        context: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey, VaultError>>;
}

/// A master key held in this process: it wraps data keys with AES-256-GCM.
pub struct LocalMasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl fmt::Debug for LocalMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalMasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LocalMasterKey {
    /// A new random master key.
    pub fn generate() -> LocalMasterKey {
        LocalMasterKey::from_bytes(&Zeroizing::new(Key::<Aes256Gcm>::generate().into()))
    }

    /// The key of these 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> LocalMasterKey {
        // The id is a hash of the key under a label of its own: it names the
        // key without helping anyone find it.
        let mut hash = Sha256::new();
        hash.update(b"n8n-work master key id\0");
        hash.update(bytes);
        let id = format!("local:{}", hex::encode(&hash.finalize()[..8]));
        LocalMasterKey {
            id,
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*bytes)),
        }
    }

    /// The key written as base64 text (`N8N_WORK_MASTER_KEY`'s format);
    /// `origin` names where it came from in the error.
    pub fn from_base64(text: &str, origin: &str) -> Result<LocalMasterKey, VaultError> {
        Ok(LocalMasterKey::from_bytes(&*decode_secret(text, origin)?))
    }

    /// Reads a key file: the key in base64 on one line.
    pub fn from_file(path: &Path) -> Result<LocalMasterKey, VaultError> {
        Ok(LocalMasterKey::from_bytes(&*read_secret_file(
            path,
            "master key",
        )?))
    }

    /// Writes a new random key to `path` (mode 0600, its directory 0700) and
    /// returns it; an existing file is left alone and read instead, so two
    /// processes starting at once end up with one key.
    pub fn create_file(path: &Path) -> Result<(LocalMasterKey, bool), VaultError> {
        let (bytes, created) = create_secret_file(path, "master key")?;
        Ok((LocalMasterKey::from_bytes(&bytes), created))
    }

    /// Wraps with AES-256-GCM: the nonce, then the ciphertext and tag.
    fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        seal(&self.cipher, plain, aad)
    }
}

impl KeyProvider for LocalMasterKey {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap<'a>(
        &'a self,
        key: &'a DataKey,
        context: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, VaultError>> {
        Box::pin(async move { self.seal(key.as_bytes(), context) })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        context: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey, VaultError>> {
        Box::pin(async move {
            let plain = Zeroizing::new(open(&self.cipher, wrapped, context).ok_or_else(|| {
                VaultError::Provider(format!("master key {} could not unwrap", self.id))
            })?);
            DataKey::from_bytes(&plain)
        })
    }
}

/// 32 secret bytes written as base64 text; `origin` names where they came
/// from in the error.
pub fn decode_secret(text: &str, origin: &str) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|e| {
        VaultError::MasterKey(format!(
            "{origin} is not base64 ({e}); it must hold 32 random bytes in base64, e.g. from `openssl rand -base64 32`"
        ))
    })?);
    let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        VaultError::MasterKey(format!(
            "{origin} decodes to {} bytes; it must be 32 bytes, e.g. from `openssl rand -base64 32`",
            bytes.len()
        ))
    })?;
    Ok(Zeroizing::new(array))
}

/// Reads a key file holding 32 bytes in base64; `what` names the key in
/// errors.
pub fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        VaultError::MasterKey(format!(
            "cannot read the {what} file {} ({e}); check the path and its permissions",
            path.display()
        ))
    })?);
    decode_secret(&text, &format!("the {what} file {}", path.display()))
}

/// Writes 32 new random bytes in base64 to `path` (mode 0600, its directory
/// 0700) and returns them, or reads the file if it exists; whether it was
/// made now.
pub fn create_secret_file(
    path: &Path,
    what: &str,
) -> Result<(Zeroizing<[u8; 32]>, bool), VaultError> {
    if path.exists() {
        return Ok((read_secret_file(path, what)?, false));
    }
    let io = |e: std::io::Error| {
        VaultError::MasterKey(format!(
            "cannot create the {what} file {} ({e}); set its environment variable instead",
            path.display()
        ))
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(io)?;
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(Key::<Aes256Gcm>::generate().into());
    let text = Zeroizing::new(format!("{}\n", STANDARD.encode(*bytes)));
    // Written whole under a temporary name, then linked into place: a
    // reader never sees half a key, and linking fails if another process
    // made the file first.
    let temp = dir.join(format!(
        ".key.{}.tmp",
        hex::encode(&Key::<Aes256Gcm>::generate()[..8])
    ));
    let written = (|| {
        let mut file = private_file(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&temp, path)
    })();
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => Ok((bytes, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((read_secret_file(path, what)?, false))
        }
        Err(e) => Err(io(e)),
    }
}

/// The environment variable holding the audit log's HMAC key (base64, 32
/// bytes).
pub const AUDIT_KEY_ENV: &str = "N8N_WORK_AUDIT_KEY";
/// The environment variable naming a file that holds it.
pub const AUDIT_KEY_FILE_ENV: &str = "N8N_WORK_AUDIT_KEY_FILE";

/// The audit log's HMAC key, kept outside the database like the master key:
/// from `N8N_WORK_AUDIT_KEY`, `N8N_WORK_AUDIT_KEY_FILE`, or `audit.key`
/// beside the default master key file (made on first use). Where it came
/// from, and whether it was made now.
pub fn audit_key() -> Result<(Zeroizing<[u8; 32]>, String, bool), VaultError> {
    if let Some(text) = std::env::var(AUDIT_KEY_ENV).ok().filter(|v| !v.is_empty()) {
        return Ok((
            decode_secret(&text, AUDIT_KEY_ENV)?,
            AUDIT_KEY_ENV.into(),
            false,
        ));
    }
    let path = match std::env::var_os(AUDIT_KEY_FILE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => dirs::config_dir()
            .map(|dir| dir.join("n8n-work").join("audit.key"))
            .ok_or_else(|| {
                VaultError::MasterKey(format!(
                    "no audit key: {AUDIT_KEY_ENV} and {AUDIT_KEY_FILE_ENV} are unset and this user has no config directory; set one of them"
                ))
            })?,
    };
    let (bytes, created) = create_secret_file(&path, "audit key")?;
    Ok((bytes, path.display().to_string(), created))
}

/// Where the audit log's head is checkpointed unless told otherwise:
/// `audit.head` beside the audit key file (`N8N_WORK_AUDIT_KEY_FILE`, or the
/// default in this user's config directory), outside the data directory as
/// the key is; `None` when this user has no config directory.
pub fn default_audit_head_file() -> Option<PathBuf> {
    let key_file = match std::env::var_os(AUDIT_KEY_FILE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => dirs::config_dir()?.join("n8n-work").join("audit.key"),
    };
    Some(key_file.with_file_name("audit.head"))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Where the master key is read from, in order: the key itself, a key file,
/// or the default key file (created on first use).
#[derive(Clone, Debug, Default)]
pub struct MasterKeyConfig {
    /// The key in base64 (`N8N_WORK_MASTER_KEY`).
    pub key: Option<Zeroizing<String>>,
    /// A file holding it (`N8N_WORK_MASTER_KEY_FILE`).
    pub key_file: Option<PathBuf>,
    /// The embedded default: a file in the user's config directory.
    pub default_file: Option<PathBuf>,
}

/// Where a master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeyOrigin {
    /// `N8N_WORK_MASTER_KEY`.
    Environment,
    /// `N8N_WORK_MASTER_KEY_FILE`.
    File(PathBuf),
    /// The default key file; `created` if this start made it.
    DefaultFile {
        /// The file.
        path: PathBuf,
        /// Whether it was made just now.
        created: bool,
    },
}

impl MasterKeyOrigin {
    /// The key file, if the key came from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            MasterKeyOrigin::Environment => None,
            MasterKeyOrigin::File(path) | MasterKeyOrigin::DefaultFile { path, .. } => Some(path),
        }
    }
}

impl fmt::Display for MasterKeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeyOrigin::Environment => write!(f, "{MASTER_KEY_ENV}"),
            MasterKeyOrigin::File(path) => write!(f, "{MASTER_KEY_FILE_ENV}={}", path.display()),
            MasterKeyOrigin::DefaultFile { path, created } => write!(
                f,
                "{}{}",
                path.display(),
                if *created {
                    " (created now; back it up)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// The default key file: `master.key` in `n8n-work` under the user's config
/// directory (`~/.config/n8n-work/master.key` on Linux).
pub fn default_key_file() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("n8n-work").join("master.key"))
}

impl MasterKeyConfig {
    /// The configuration this process's environment gives.
    pub fn from_env() -> MasterKeyConfig {
        MasterKeyConfig {
            key: std::env::var(MASTER_KEY_ENV)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Zeroizing::new),
            key_file: std::env::var_os(MASTER_KEY_FILE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            default_file: default_key_file(),
        }
    }

    /// Loads the key, creating the default key file if that is where it is
    /// to come from and it does not exist yet.
    pub fn load(&self) -> Result<(LocalMasterKey, MasterKeyOrigin), VaultError> {
        if let Some(key) = &self.key {
            let key = LocalMasterKey::from_base64(key, MASTER_KEY_ENV)?;
            return Ok((key, MasterKeyOrigin::Environment));
        }
        if let Some(path) = &self.key_file {
            let key = LocalMasterKey::from_file(path)?;
            return Ok((key, MasterKeyOrigin::File(path.clone())));
        }
        let path = self.default_file.as_ref().ok_or_else(|| {
            VaultError::MasterKey(format!(
                "no master key: {MASTER_KEY_ENV} and {MASTER_KEY_FILE_ENV} are unset and this user has no config directory; set one of them"
            ))
        })?;
        let (key, created) = LocalMasterKey::create_file(path)?;
        Ok((
            key,
            MasterKeyOrigin::DefaultFile {
                path: path.clone(),
                created,
            },
        ))
    }
}

/// A warning if the key file sits inside the data directory, where a copy of
/// the data would carry the key that decrypts it; `None` if it does not.
pub fn key_file_warning(key_file: &Path, data_dir: &Path) -> Option<String> {
    let key = std::fs::canonicalize(key_file).unwrap_or_else(|_| key_file.to_path_buf());
    let data = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    key.starts_with(&data).then(|| {
        format!(
            "the master key file {} is inside the data directory {}: a copy of the data directory would carry the key to decrypt its credentials. Move the key file elsewhere and set {MASTER_KEY_FILE_ENV}, or set {MASTER_KEY_ENV}",
            key_file.display(),
            data_dir.display()
        )
    })
}

/// A warning if others than the owner may read the key file.
#[cfg(unix)]
pub fn key_file_permission_warning(key_file: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(key_file).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "the master key file {} has mode {:o}; others may read it. Run `chmod 600 {}`",
            key_file.display(),
            mode & 0o777,
            key_file.display()
        )
    })
}

/// A warning if others than the owner may read the key file.
#[cfg(not(unix))]
pub fn key_file_permission_warning(_key_file: &Path) -> Option<String> {
    None
}

/// AES-256-GCM with a fresh random 96-bit nonce: the nonce, then the
/// ciphertext and tag.
pub(crate) fn seal(cipher: &Aes256Gcm, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    let nonce = Nonce::<Aes256Gcm>::generate();
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .map_err(|_| VaultError::Provider("AES-GCM refused to encrypt".to_owned()))?;
    let mut out = Vec::with_capacity(nonce.len() + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The plaintext of what [`seal`] made with the same key and `aad`, or
/// `None` if anything differs.
pub(crate) fn open(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).ok()?;
    cipher.decrypt(&nonce, Payload { msg: body, aad }).ok()
}

const NONCE_LEN: usize = 12;
