//! The rows of the credential vault: each tenant's wrapped data key, and
//! credentials as ciphertexts. The store never sees a key or a value in the
//! clear; `host/vault` encrypts before it writes and decrypts after it reads.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::types::Millis;
use crate::{Result, Store, StoreError};

/// A tenant's data key as stored: wrapped by the master key `master_key_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataKeyRow {
    /// The tenant it belongs to.
    pub tenant: String,
    /// The data key's id, stored with every credential it encrypts.
    pub id: String,
    /// The id of the master key that wrapped it.
    pub master_key_id: String,
    /// The wrapped key (base64: nonce, ciphertext and tag).
    pub wrapped: String,
    /// When it was made.
    pub created_at: Millis,
    /// When it was last wrapped under a new master key.
    pub rewrapped_at: Option<Millis>,
}

/// A credential as stored: its value is a ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRow {
    /// The tenant it belongs to.
    pub tenant: String,
    /// Its id.
    pub id: String,
    /// Its name, unique in the tenant.
    pub name: String,
    /// Its type (`httpHeaderAuth`, `slackApi`, ...).
    pub kind: String,
    /// The id of the data key that encrypted it.
    pub key_id: String,
    /// The encrypted value (base64: nonce, ciphertext and tag).
    pub ciphertext: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last changed.
    pub updated_at: Millis,
}

/// What may be listed about a credential: never its value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CredentialSummary {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last changed.
    pub updated_at: Millis,
}

fn data_key_row(row: &AnyRow) -> Result<DataKeyRow> {
    Ok(DataKeyRow {
        tenant: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        master_key_id: row.try_get("master_key_id")?,
        wrapped: row.try_get("wrapped")?,
        created_at: row.try_get("created_at")?,
        rewrapped_at: row.try_get("rewrapped_at")?,
    })
}

const DATA_KEY_COLUMNS: &str =
    "SELECT tenant_id, id, master_key_id, wrapped, created_at, rewrapped_at FROM vault_data_keys";

impl Store {
    /// The tenant's wrapped data key, if it has one yet.
    pub async fn data_key(&self, tenant: &str) -> Result<Option<DataKeyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{DATA_KEY_COLUMNS} WHERE tenant_id = $1"
        )))
        .bind(tenant)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(data_key_row)
        .transpose()
    }

    /// Every tenant's wrapped data key, for re-wrapping under a new master key.
    pub async fn data_keys(&self) -> Result<Vec<DataKeyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{DATA_KEY_COLUMNS} ORDER BY tenant_id"
        )))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(data_key_row)
        .collect()
    }

    /// Stores a tenant's first data key and returns the one that is stored:
    /// `key`, or the one another caller stored first (so two processes
    /// racing to make a tenant's key agree on one).
    pub async fn add_data_key(&self, key: DataKeyRow) -> Result<DataKeyRow> {
        let tenant = key.tenant.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO vault_data_keys (tenant_id, id, master_key_id, wrapped, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO NOTHING",
                    )
                    .bind(&key.tenant)
                    .bind(&key.id)
                    .bind(&key.master_key_id)
                    .bind(&key.wrapped)
                    .bind(key.created_at)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await?;
        self.data_key(&tenant)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("data key of tenant `{tenant}`")))
    }

    /// Replaces a data key's wrapping, if it is still wrapped as `old` says
    /// (the same master key and bytes); returns whether it was replaced. The
    /// data key itself, and so every credential, is unchanged.
    pub async fn rewrap_data_key(
        &self,
        old: &DataKeyRow,
        master_key_id: &str,
        wrapped: &str,
        now: Millis,
    ) -> Result<bool> {
        let (tenant, id, old_wrapped) = (old.tenant.clone(), old.id.clone(), old.wrapped.clone());
        let (master_key_id, wrapped) = (master_key_id.to_owned(), wrapped.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query(
                        "UPDATE vault_data_keys SET master_key_id = $1, wrapped = $2, rewrapped_at = $3 \
                         WHERE tenant_id = $4 AND id = $5 AND wrapped = $6",
                    )
                    .bind(&master_key_id)
                    .bind(&wrapped)
                    .bind(now)
                    .bind(&tenant)
                    .bind(&id)
                    .bind(&old_wrapped)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                        == 1)
                })
            })
            .await
    }

    /// Stores a new credential; a name the tenant uses already is a
    /// [`StoreError::Conflict`].
    pub async fn add_credential(&self, credential: CredentialRow) -> Result<()> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let taken = sqlx::query(
                        "SELECT id FROM credentials WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(&credential.tenant)
                    .bind(&credential.name)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if taken.is_some() {
                        return Err(StoreError::Conflict(format!(
                            "a credential named `{}` exists already; choose another name, or update that one",
                            credential.name
                        )));
                    }
                    sqlx::query(
                        "INSERT INTO credentials (tenant_id, id, name, type, key_id, ciphertext, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&credential.tenant)
                    .bind(&credential.id)
                    .bind(&credential.name)
                    .bind(&credential.kind)
                    .bind(&credential.key_id)
                    .bind(&credential.ciphertext)
                    .bind(credential.created_at)
                    .bind(credential.updated_at)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Replaces a credential's name, type and value (ciphertext and key id).
    pub async fn update_credential(&self, credential: CredentialRow) -> Result<()> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let taken = sqlx::query(
                        "SELECT id FROM credentials WHERE tenant_id = $1 AND name = $2 AND id <> $3",
                    )
                    .bind(&credential.tenant)
                    .bind(&credential.name)
                    .bind(&credential.id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if taken.is_some() {
                        return Err(StoreError::Conflict(format!(
                            "another credential is named `{}`; choose another name",
                            credential.name
                        )));
                    }
                    let updated = sqlx::query(
                        "UPDATE credentials SET name = $1, type = $2, key_id = $3, ciphertext = $4, updated_at = $5 \
                         WHERE tenant_id = $6 AND id = $7",
                    )
                    .bind(&credential.name)
                    .bind(&credential.kind)
                    .bind(&credential.key_id)
                    .bind(&credential.ciphertext)
                    .bind(credential.updated_at)
                    .bind(&credential.tenant)
                    .bind(&credential.id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if updated == 0 {
                        return Err(StoreError::NotFound(format!("credential `{}`", credential.id)));
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Deletes a credential.
    pub async fn delete_credential(&self, tenant: &str, id: &str) -> Result<()> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let deleted =
                        sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND id = $2")
                            .bind(&tenant)
                            .bind(&id)
                            .execute(&mut *conn)
                            .await?
                            .rows_affected();
                    if deleted == 0 {
                        return Err(StoreError::NotFound(format!("credential `{id}`")));
                    }
                    Ok(())
                })
            })
            .await
    }

    /// One credential of the tenant, with its ciphertext.
    pub async fn credential(&self, tenant: &str, id: &str) -> Result<CredentialRow> {
        self.credential_where("id", tenant, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("credential `{id}`")))
    }

    /// The tenant's credential named `name`, with its ciphertext, if any.
    pub async fn credential_named(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<CredentialRow>> {
        self.credential_where("name", tenant, name).await
    }

    /// The credential whose `column` (`id` or `name`, both unique in a
    /// tenant) is `value`.
    async fn credential_where(
        &self,
        column: &'static str,
        tenant: &str,
        value: &str,
    ) -> Result<Option<CredentialRow>> {
        // `column` is one of two constants; every value is bound.
        let query = format!(
            "SELECT tenant_id, id, name, type, key_id, ciphertext, created_at, updated_at \
             FROM credentials WHERE tenant_id = $1 AND {column} = $2"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(tenant)
            .bind(value)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(CredentialRow {
            tenant: row.try_get("tenant_id")?,
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            kind: row.try_get("type")?,
            key_id: row.try_get("key_id")?,
            ciphertext: row.try_get("ciphertext")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }))
    }

    /// The tenant's credentials by name, without their values.
    pub async fn credential_summaries(&self, tenant: &str) -> Result<Vec<CredentialSummary>> {
        sqlx::query(
            "SELECT id, name, type, created_at, updated_at FROM credentials \
             WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(CredentialSummary {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                kind: row.try_get("type")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
    }
}

/// An OAuth2 credential's authorization, begun and not yet called back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2Authorization {
    /// The credential's tenant.
    pub tenant: String,
    /// The credential.
    pub credential_id: String,
    /// The PKCE verifier of the challenge sent to the provider.
    pub verifier: String,
    /// Where the provider sends the person back.
    pub redirect_url: String,
    /// When it lapses.
    pub expires_at: Millis,
}

impl Store {
    /// Keeps an authorization under the hash of its `state` (and drops the
    /// ones that lapsed).
    pub async fn add_oauth2_authorization(
        &self,
        state_hash: &str,
        authorization: OAuth2Authorization,
        now: Millis,
    ) -> Result<()> {
        let hash = state_hash.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM oauth2_authorizations WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "INSERT INTO oauth2_authorizations (state_hash, tenant_id, credential_id, \
                         verifier, redirect_url, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&hash)
                    .bind(&authorization.tenant)
                    .bind(&authorization.credential_id)
                    .bind(&authorization.verifier)
                    .bind(&authorization.redirect_url)
                    .bind(authorization.expires_at)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Takes the authorization kept under `state_hash`, once; `None` when
    /// there is none or it lapsed.
    pub async fn take_oauth2_authorization(
        &self,
        state_hash: &str,
        now: Millis,
    ) -> Result<Option<OAuth2Authorization>> {
        let hash = state_hash.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT tenant_id, credential_id, verifier, redirect_url, expires_at \
                         FROM oauth2_authorizations WHERE state_hash = $1",
                    )
                    .bind(&hash)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    sqlx::query("DELETE FROM oauth2_authorizations WHERE state_hash = $1")
                        .bind(&hash)
                        .execute(&mut *conn)
                        .await?;
                    let authorization = OAuth2Authorization {
                        tenant: row.try_get("tenant_id")?,
                        credential_id: row.try_get("credential_id")?,
                        verifier: row.try_get("verifier")?,
                        redirect_url: row.try_get("redirect_url")?,
                        expires_at: row.try_get("expires_at")?,
                    };
                    Ok((authorization.expires_at > now).then_some(authorization))
                })
            })
            .await
    }
}
