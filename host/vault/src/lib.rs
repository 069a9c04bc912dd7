//! The credential vault: where a workflow's secrets rest, and the only place
//! they are decrypted before a step that was granted them runs.
//!
//! The principal type is [`Vault`]: credentials per tenant, created,
//! updated, deleted, read (decrypted) and listed (metadata only), over the
//! store's `credentials` rows. Values are encrypted with AES-256-GCM under a
//! random 96-bit nonce, by a data key of their tenant; the data key is
//! stored only wrapped by a master key, which a [`KeyProvider`] holds: a
//! [`LocalMasterKey`] from `N8N_WORK_MASTER_KEY`, `N8N_WORK_MASTER_KEY_FILE`
//! or a key file in the user's config directory ([`MasterKeyConfig`]), or a
//! KMS behind the same trait. The master key never touches the database, so
//! a copy of the data directory alone decrypts nothing.
//!
//! Every ciphertext is bound to its place by associated data: a credential
//! to its tenant, id and data key id, a wrapped data key to its tenant and
//! id. A ciphertext copied to another row or tenant does not decrypt.
//! [`Vault::rotate`] wraps every data key under a new master key without
//! touching a credential, so it runs while the server serves.

mod keys;
mod oauth;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use aes_gcm::{Aes256Gcm, Key, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use n8n_work_store::{CredentialRow, DataKeyRow, Store, StoreError, new_id, now_millis};
use serde_json::Value;

pub use keys::{
    AUDIT_KEY_ENV, AUDIT_KEY_FILE_ENV, DataKey, KeyProvider, LocalMasterKey, MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV, MasterKeyConfig, MasterKeyOrigin, audit_key, create_secret_file,
    decode_secret, default_audit_head_file, default_key_file, key_file_permission_warning,
    key_file_warning, read_secret_file,
};
pub use n8n_work_store::CredentialSummary;
pub use oauth::{AddressCheck, KIND as OAUTH2, OAuth2Http};

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The store failed, or the credential does not exist in this tenant.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key could not be loaded.
    #[error("{0}")]
    MasterKey(String),
    /// The data was written under another master key than the one loaded.
    #[error(
        "tenant `{tenant}`'s data key is wrapped by master key `{stored}`, but the master key loaded is `{loaded}`. Set {MASTER_KEY_ENV} or {MASTER_KEY_FILE_ENV} to the master key this data was written with (or restore its key file), then start again"
    )]
    WrongMasterKey {
        /// The tenant.
        tenant: String,
        /// The id stored with the data key.
        stored: String,
        /// The id of the key loaded.
        loaded: String,
    },
    /// A wrapped data key failed authentication under its own master key.
    #[error(
        "tenant `{tenant}`'s data key did not unwrap under master key `{master_key_id}`: the row was altered or copied from another tenant; restore it from a backup"
    )]
    DataKeyDamaged {
        /// The tenant.
        tenant: String,
        /// The master key that should have unwrapped it.
        master_key_id: String,
    },
    /// A credential's ciphertext failed authentication.
    #[error(
        "credential `{id}` of tenant `{tenant}` did not decrypt: its ciphertext was altered or copied from another credential or tenant; set its value again"
    )]
    CredentialDamaged {
        /// The tenant.
        tenant: String,
        /// The credential.
        id: String,
    },
    /// A key provider (a KMS, say) failed.
    #[error("key provider: {0}")]
    Provider(String),
    /// An OAuth2 credential is written wrong, or its provider refused.
    #[error("credential `{credential}` (oauth2): {message}")]
    OAuth2 {
        /// The credential's name.
        credential: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Another process rotated the master key, and this one cannot load the
    /// new key (yet), so it will not wrap a new data key with the old one.
    #[error(
        "the master key was rotated to `{in_use}` by another process, but this process has `{loaded}` and could not read the new one; retry in a moment (the rotating process moves the new key into the key file when it finishes), or give this process the new key ({MASTER_KEY_FILE_ENV}) and restart it"
    )]
    MasterKeyRetired {
        /// The key the store records as in use.
        in_use: String,
        /// The key this process has.
        loaded: String,
    },
    /// A credential value must be a JSON object.
    #[error(
        "credential `{0}`: the value must be a JSON object of fields, e.g. {{\"token\": \"...\"}}"
    )]
    NotAnObject(String),
}

/// Result of vault operations.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// A credential's fields in the clear. It never prints them (`Debug` says
/// `[redacted]`) and has no `Serialize`, so it cannot reach a log or a
/// response by accident.
#[derive(Clone)]
pub struct SecretValue(Value);

impl SecretValue {
    /// The fields, for the step that was granted them.
    pub fn expose(&self) -> &Value {
        &self.0
    }

    /// The strings to redact from logs, errors and run data: every string
    /// field of four characters or more, raw and in base64 (as in a Basic
    /// authorization header).
    pub fn redaction_needles(&self) -> Vec<String> {
        fn walk(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::String(s) if s.chars().count() >= 4 => {
                    out.push(STANDARD.encode(s));
                    out.push(s.clone());
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                Value::Object(map) => map.values().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &mut out);
        out
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// A decrypted credential.
#[derive(Clone, Debug)]
pub struct Credential {
    /// What may be shown about it.
    pub summary: CredentialSummary,
    /// Its fields.
    pub value: SecretValue,
}

/// A change to a credential; `None` keeps what is there.
#[derive(Clone, Debug, Default)]
pub struct CredentialChange {
    /// A new name.
    pub name: Option<String>,
    /// A new type.
    pub kind: Option<String>,
    /// New fields (re-encrypted under a new nonce).
    pub value: Option<Value>,
}

/// What [`Vault::rotate`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The master key now in use.
    pub master_key_id: String,
    /// How many tenants' data keys were re-wrapped.
    pub rewrapped: usize,
}

/// A tenant's data key, unwrapped and ready.
struct TenantKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The credential vault. Cheap to share behind an `Arc`; data keys are
/// unwrapped once per process and kept.
pub struct Vault {
    store: Store,
    master: RwLock<Arc<dyn KeyProvider>>,
    // The key a rotation is moving to, while it runs: a row it has re-wrapped
    // already unwraps with this one.
    incoming: RwLock<Option<Arc<dyn KeyProvider>>>,
    keys: Mutex<HashMap<String, Arc<TenantKey>>>,
    // Held while a data key is made or keys are re-wrapped, so a tenant's
    // first key cannot be wrapped under a master key a rotation is retiring.
    wrapping: tokio::sync::Mutex<()>,
    // Where to read the master key again when another process has rotated it.
    reload: Option<MasterKeyConfig>,
    // Token requests of OAuth2 credentials, and authorizations under way.
    oauth2: OAuth2Http,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("master_key_id", &self.master_key_id())
            .finish_non_exhaustive()
    }
}

/// Associated data: each part length-prefixed, so no two lists of parts
/// encode alike.
fn associated_data(label: &str, parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in std::iter::once(label).chain(parts.iter().copied()) {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

fn data_key_context(tenant: &str, key_id: &str) -> Vec<u8> {
    associated_data("n8n-work data key v1", &[tenant, key_id])
}

fn credential_context(tenant: &str, id: &str, key_id: &str) -> Vec<u8> {
    associated_data("n8n-work credential v1", &[tenant, id, key_id])
}

impl Vault {
    /// A vault over `store` with `master` as the master key.
    pub fn new(store: Store, master: Arc<dyn KeyProvider>) -> Vault {
        Vault {
            store,
            master: RwLock::new(master),
            incoming: RwLock::new(None),
            keys: Mutex::new(HashMap::new()),
            wrapping: tokio::sync::Mutex::new(()),
            reload: None,
            oauth2: OAuth2Http::default(),
        }
    }

    /// This vault, reading its master key again from `config` when it meets
    /// a data key wrapped by another: the key another process (an API
    /// replica, a worker) rotated to while this one was running.
    pub fn reloading(mut self, config: MasterKeyConfig) -> Vault {
        self.reload = Some(config);
        self
    }

    /// The master key for `row`: the one in use, the one a rotation here is
    /// moving to, or the one read again after a rotation elsewhere.
    fn master_for(&self, row: &DataKeyRow) -> Arc<dyn KeyProvider> {
        let master = self.master();
        if master.id() == row.master_key_id {
            return master;
        }
        if let Some(incoming) = self
            .incoming
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|key| key.id() == row.master_key_id)
        {
            return incoming;
        }
        match self.reload.as_ref().map(MasterKeyConfig::load) {
            Some(Ok((key, _))) if key.id() == row.master_key_id => {
                tracing::info!(master_key_id = %key.id(), "the master key was rotated by another process; using the new one");
                let key: Arc<dyn KeyProvider> = Arc::new(key);
                *self.master.write().unwrap_or_else(|e| e.into_inner()) = key.clone();
                key
            }
            _ => master,
        }
    }

    /// Follows a rotation another process made: when the store records a
    /// master key other than this process's, reads the key again (from the
    /// key file or environment) and uses it if it is that one. The master
    /// key to wrap new data keys with; an error when the recorded one cannot
    /// be had, so nothing is wrapped under a retired key.
    pub async fn follow_rotation(&self) -> Result<Arc<dyn KeyProvider>> {
        let master = self.master();
        let Some(record) = self.store.master_key_record().await? else {
            return Ok(master);
        };
        if record.master_key_id == master.id() {
            return Ok(master);
        }
        if let Some(incoming) = self
            .incoming
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|key| key.id() == record.master_key_id)
        {
            return Ok(incoming);
        }
        match self.reload.as_ref().map(MasterKeyConfig::load) {
            Some(Ok((key, _))) if key.id() == record.master_key_id => {
                tracing::info!(master_key_id = %key.id(), generation = record.generation, "the master key was rotated by another process; using the new one");
                let key: Arc<dyn KeyProvider> = Arc::new(key);
                *self.master.write().unwrap_or_else(|e| e.into_inner()) = key.clone();
                Ok(key)
            }
            _ => Err(VaultError::MasterKeyRetired {
                in_use: record.master_key_id,
                loaded: master.id().to_owned(),
            }),
        }
    }

    /// The id of the master key in use.
    pub fn master_key_id(&self) -> String {
        self.master().id().to_owned()
    }

    fn master(&self) -> Arc<dyn KeyProvider> {
        self.master
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Unwraps every tenant's data key, so a wrong master key is reported at
    /// start rather than at a run's first credential.
    pub async fn check(&self) -> Result<usize> {
        // The first process to start records its key as the one in use.
        self.store
            .record_master_key(self.master().id(), true, now_millis())
            .await?;
        let rows = self.store.data_keys().await?;
        for row in &rows {
            self.unwrap_row(row).await?;
        }
        Ok(rows.len())
    }

    async fn unwrap_row(&self, row: &DataKeyRow) -> Result<Arc<TenantKey>> {
        let key = self
            .unwrap_data_key(self.master_for(row).as_ref(), row)
            .await?;
        let key = Arc::new(TenantKey {
            id: row.id.clone(),
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key.as_bytes())),
        });
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.tenant.clone(), key.clone());
        Ok(key)
    }

    /// The tenant's data key, made on first use.
    async fn tenant_key(&self, tenant: &str) -> Result<Arc<TenantKey>> {
        if let Some(key) = self
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
        {
            return Ok(key.clone());
        }
        if let Some(row) = self.store.data_key(tenant).await? {
            return match self.unwrap_row(&row).await {
                // A rotation may have swapped the master key between the
                // read and the unwrap; it swaps only once every row is
                // re-wrapped, so the row read again matches.
                Err(VaultError::WrongMasterKey { .. }) => {
                    let row = self.store.data_key(tenant).await?.ok_or_else(|| {
                        StoreError::NotFound(format!("data key of tenant `{tenant}`"))
                    })?;
                    self.unwrap_row(&row).await
                }
                result => result,
            };
        }
        let _wrapping = self.wrapping.lock().await;
        loop {
            // Never under a key another process's rotation retired.
            let master = self.follow_rotation().await?;
            let id = new_id();
            let key = DataKey::generate();
            let wrapped = master.wrap(&key, &data_key_context(tenant, &id)).await?;
            let row = self
                .store
                .add_data_key(DataKeyRow {
                    tenant: tenant.to_owned(),
                    id: id.clone(),
                    master_key_id: master.id().to_owned(),
                    wrapped: STANDARD.encode(wrapped),
                    created_at: now_millis(),
                    rewrapped_at: None,
                })
                .await?;
            // A rotation that began between the check and the insert may
            // have re-wrapped every row but this one: then the key is
            // withdrawn (nothing is encrypted with it yet) and made again.
            if row.id == id
                && self
                    .store
                    .master_key_record()
                    .await?
                    .is_some_and(|r| r.master_key_id != master.id())
                && self
                    .store
                    .withdraw_data_key(tenant, &id, master.id())
                    .await?
            {
                continue;
            }
            return self.unwrap_row(&row).await;
        }
    }

    fn encrypt(key: &TenantKey, tenant: &str, id: &str, value: &Value) -> Result<String> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(StoreError::from)?);
        let sealed = keys::seal(
            &key.cipher,
            &plain,
            &credential_context(tenant, id, &key.id),
        )?;
        Ok(STANDARD.encode(sealed))
    }

    /// Stores a new credential of the tenant, encrypted.
    pub async fn create(
        &self,
        tenant: &str,
        name: &str,
        kind: &str,
        value: &Value,
    ) -> Result<CredentialSummary> {
        let id = new_id();
        if !value.is_object() {
            return Err(VaultError::NotAnObject(name.to_owned()));
        }
        if kind == OAUTH2 {
            oauth::check(name, value)?;
        }
        let key = self.tenant_key(tenant).await?;
        let now = now_millis();
        let row = CredentialRow {
            tenant: tenant.to_owned(),
            id: id.clone(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            key_id: key.id.clone(),
            ciphertext: Vault::encrypt(&key, tenant, &id, value)?,
            created_at: now,
            updated_at: now,
        };
        let summary = summary(&row);
        self.store.add_credential(row).await?;
        Ok(summary)
    }

    /// Changes a credential's name, type or value.
    pub async fn update(
        &self,
        tenant: &str,
        id: &str,
        change: CredentialChange,
    ) -> Result<CredentialSummary> {
        let mut row = self.store.credential(tenant, id).await?;
        if let Some(name) = change.name {
            row.name = name;
        }
        if let Some(kind) = change.kind {
            row.kind = kind;
        }
        if let Some(value) = &change.value {
            if !value.is_object() {
                return Err(VaultError::NotAnObject(row.name));
            }
            if row.kind == OAUTH2 {
                oauth::check(&row.name, value)?;
            }
            let key = self.tenant_key(tenant).await?;
            row.key_id = key.id.clone();
            row.ciphertext = Vault::encrypt(&key, tenant, id, value)?;
        }
        row.updated_at = now_millis();
        let summary = summary(&row);
        self.store.update_credential(row).await?;
        Ok(summary)
    }

    /// Deletes a credential.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<()> {
        Ok(self.store.delete_credential(tenant, id).await?)
    }

    /// The tenant's credentials: names, types and times, never values.
    pub async fn list(&self, tenant: &str) -> Result<Vec<CredentialSummary>> {
        Ok(self.store.credential_summaries(tenant).await?)
    }

    /// A credential of the tenant, decrypted.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<Credential> {
        let row = self.store.credential(tenant, id).await?;
        self.open(row).await
    }

    /// The tenant's credential named `name`, decrypted, if there is one.
    pub async fn get_named(&self, tenant: &str, name: &str) -> Result<Option<Credential>> {
        match self.store.credential_named(tenant, name).await? {
            Some(row) => Ok(Some(self.open(row).await?)),
            None => Ok(None),
        }
    }

    /// Decrypts a stored credential row.
    async fn open(&self, row: CredentialRow) -> Result<Credential> {
        let (tenant, id) = (row.tenant.as_str(), row.id.as_str());
        let damaged = || VaultError::CredentialDamaged {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
        };
        let key = self.tenant_key(tenant).await?;
        if row.key_id != key.id {
            return Err(damaged());
        }
        let sealed = STANDARD.decode(&row.ciphertext).map_err(|_| damaged())?;
        let plain = zeroize::Zeroizing::new(
            keys::open(
                &key.cipher,
                &sealed,
                &credential_context(tenant, id, &key.id),
            )
            .ok_or_else(damaged)?,
        );
        let value = serde_json::from_slice(&plain).map_err(|_| damaged())?;
        Ok(Credential {
            summary: summary(&row),
            value: SecretValue(value),
        })
    }

    /// Wraps every tenant's data key under `new` and makes it the master key
    /// in use. Credentials are not touched and data keys do not change, so
    /// runs keep decrypting throughout; afterwards the old master key alone
    /// opens nothing. Each row is swapped only if unchanged since it was
    /// read, and the rows are read again until none is left under another
    /// key.
    pub async fn rotate(&self, new: Arc<dyn KeyProvider>) -> Result<Rotation> {
        let _wrapping = self.wrapping.lock().await;
        let old = self.master();
        *self.incoming.write().unwrap_or_else(|e| e.into_inner()) = Some(new.clone());
        // Recorded before any row moves: from here on, no process wraps a
        // new data key under the old key (they check before wrapping).
        self.store
            .record_master_key(new.id(), false, now_millis())
            .await?;
        // On failure both keys stay loaded: some rows are under each until
        // the rotation is run again with the same new key, which resumes.
        let rewrapped = self.rewrap_all(old.as_ref(), new.as_ref()).await?;
        *self.master.write().unwrap_or_else(|e| e.into_inner()) = new.clone();
        *self.incoming.write().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(Rotation {
            master_key_id: new.id().to_owned(),
            rewrapped,
        })
    }

    async fn rewrap_all(&self, old: &dyn KeyProvider, new: &dyn KeyProvider) -> Result<usize> {
        let mut rewrapped = 0;
        loop {
            let pending: Vec<DataKeyRow> = self
                .store
                .data_keys()
                .await?
                .into_iter()
                .filter(|row| row.master_key_id != new.id())
                .collect();
            if pending.is_empty() {
                break;
            }
            for row in pending {
                let key = self.unwrap_data_key(old, &row).await?;
                let context = data_key_context(&row.tenant, &row.id);
                let wrapped = STANDARD.encode(new.wrap(&key, &context).await?);
                if self
                    .store
                    .rewrap_data_key(&row, new.id(), &wrapped, now_millis())
                    .await?
                {
                    rewrapped += 1;
                }
            }
        }
        Ok(rewrapped)
    }

    /// Rotates to a new random master key kept in the key file `path` (the
    /// default key file, or `N8N_WORK_MASTER_KEY_FILE`'s). The new key is
    /// written beside it as `<name>.new` (mode 0600) before any data key is
    /// re-wrapped, and moved over `path` after the last one, so an
    /// interrupted rotation resumes with the same new key when run again.
    /// The old key is overwritten: keep a copy first if backups taken
    /// before now must stay restorable.
    pub async fn rotate_key_file(&self, path: &std::path::Path) -> Result<Rotation> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".new");
        let next = path.with_file_name(name);
        let (key, _) = LocalMasterKey::create_file(&next)?;
        let rotation = self.rotate(Arc::new(key)).await?;
        std::fs::rename(&next, path).map_err(|e| {
            VaultError::MasterKey(format!(
                "every data key is now wrapped by the key in {}, but it could not replace {} ({e}); move it there by hand",
                next.display(),
                path.display()
            ))
        })?;
        Ok(rotation)
    }

    async fn unwrap_data_key(&self, master: &dyn KeyProvider, row: &DataKeyRow) -> Result<DataKey> {
        if row.master_key_id != master.id() {
            return Err(VaultError::WrongMasterKey {
                tenant: row.tenant.clone(),
                stored: row.master_key_id.clone(),
                loaded: master.id().to_owned(),
            });
        }
        let damaged = || VaultError::DataKeyDamaged {
            tenant: row.tenant.clone(),
            master_key_id: row.master_key_id.clone(),
        };
        let wrapped = STANDARD.decode(&row.wrapped).map_err(|_| damaged())?;
        master
            .unwrap(&wrapped, &data_key_context(&row.tenant, &row.id))
            .await
            .map_err(|_| damaged())
    }
}

fn summary(row: &CredentialRow) -> CredentialSummary {
    CredentialSummary {
        id: row.id.clone(),
        name: row.name.clone(),
        kind: row.kind.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}
