//! Who may call: tenants, API keys (stored by hash), browser sessions made
//! from a key, and each tenant's own Cedar policies. The decisions are made
//! in `host/auth`; these are only the rows.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::types::Millis;
use crate::{Result, Store, StoreError};

/// An API key as stored: never the key itself, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyRow {
    /// The tenant it acts in.
    pub tenant: String,
    /// Its id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The key's first characters, to recognise it by.
    pub prefix: String,
    /// Its role in the tenant.
    pub role: String,
    /// The actions it is limited to (`*`, `workflow.*`, `execution.read`).
    pub scopes: Vec<String>,
    /// When it was made.
    pub created_at: Millis,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
}

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// The tenant it acts in.
    pub tenant: String,
    /// A name for people.
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    /// The SHA-256 of the whole key.
    pub hash: String,
    /// Its role.
    pub role: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it stops working.
    pub expires_at: Option<Millis>,
}

/// The key columns (a constant; every value is bound, never formatted in).
pub(crate) const KEY_COLUMNS: &str = "k.tenant_id, k.id, k.name, k.prefix, k.role, k.scopes, k.created_at, k.expires_at, k.revoked_at";

pub(crate) fn key_row(row: &AnyRow) -> Result<ApiKeyRow> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKeyRow {
        tenant: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        role: row.try_get("role")?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// A tenant id made from its name: lower-case letters, digits and dashes.
pub fn tenant_slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

impl Store {
    /// Makes a tenant named `name`; its id is the name's slug.
    pub async fn create_tenant(&self, name: &str, now: Millis) -> Result<String> {
        let id = tenant_slug(name);
        if id.is_empty() || id.len() > 63 {
            return Err(StoreError::Conflict(format!(
                "tenant name `{name}` needs 1 to 63 letters or digits"
            )));
        }
        let (tenant, name) = (id.clone(), name.trim().to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let exists = sqlx::query("SELECT id FROM tenants WHERE id = $1")
                        .bind(&tenant)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if exists.is_some() {
                        return Err(StoreError::Conflict(format!(
                            "tenant `{tenant}` exists; pick another name"
                        )));
                    }
                    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(&tenant)
                        .bind(&name)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(id)
    }

    /// Stores an API key by its hash; the key itself is never stored.
    pub async fn add_api_key(&self, key: NewApiKey, now: Millis) -> Result<ApiKeyRow> {
        let row = ApiKeyRow {
            tenant: key.tenant.clone(),
            id: crate::new_id(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            role: key.role.clone(),
            scopes: key.scopes.clone(),
            created_at: now,
            expires_at: key.expires_at,
            revoked_at: None,
        };
        let stored = row.clone();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO api_keys (tenant_id, id, name, prefix, hash, role, scopes, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&stored.tenant)
                    .bind(&stored.id)
                    .bind(&stored.name)
                    .bind(&stored.prefix)
                    .bind(&key.hash)
                    .bind(&stored.role)
                    .bind(stored.scopes.join(" "))
                    .bind(now)
                    .bind(stored.expires_at)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await?;
        Ok(row)
    }

    /// The key with this hash, if it is neither revoked nor expired.
    pub async fn api_key(&self, hash: &str, now: Millis) -> Result<Option<ApiKeyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.hash = $1 AND k.revoked_at IS NULL \
             AND (k.expires_at IS NULL OR k.expires_at > $2)"
        )))
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .map(|row| key_row(&row))
        .transpose()
    }

    /// A tenant's keys, revoked ones too, oldest first.
    pub async fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 ORDER BY k.created_at, k.id"
        )))
        .bind(tenant)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(key_row)
        .collect()
    }

    /// Revokes a tenant's key (and so its sessions); the key as it was.
    pub async fn revoke_api_key(&self, tenant: &str, id: &str, now: Millis) -> Result<ApiKeyRow> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $2"
                    )))
                    .bind(&tenant)
                    .bind(&id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("key `{id}`")))?;
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(&tenant)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                    key_row(&row)
                })
            })
            .await
    }

    /// How many keys exist (revoked or not).
    pub async fn api_key_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM api_keys")
            .fetch_one(self.pool())
            .await?
            .try_get("n")?)
    }

    /// Stores a browser session, made from `key`, by the hash of its token.
    pub async fn add_session(
        &self,
        hash: &str,
        key: &ApiKeyRow,
        now: Millis,
        expires_at: Millis,
    ) -> Result<()> {
        let (hash, tenant, key_id, role) = (
            hash.to_owned(),
            key.tenant.clone(),
            key.id.clone(),
            key.role.clone(),
        );
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    // Expired sessions go as new ones come.
                    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "INSERT INTO sessions (hash, tenant_id, key_id, role, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&hash)
                    .bind(&tenant)
                    .bind(&key_id)
                    .bind(&role)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// The key behind the unexpired session with this hash, if the key
    /// still works.
    pub async fn session(&self, hash: &str, now: Millis) -> Result<Option<ApiKeyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM sessions s JOIN api_keys k ON k.tenant_id = s.tenant_id AND k.id = s.key_id \
             WHERE s.hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL \
             AND (k.expires_at IS NULL OR k.expires_at > $2)"
        )))
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .map(|row| key_row(&row))
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sessions WHERE hash = $1")
                        .bind(&hash)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// The tags of a workflow's latest version (what policies see of it);
    /// none if the tenant has no such workflow.
    pub async fn workflow_tags(&self, tenant: &str, workflow_id: &str) -> Result<Vec<String>> {
        let row = sqlx::query(
            "SELECT v.definition FROM workflows w JOIN workflow_versions v \
             ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = w.latest_version \
             WHERE w.tenant_id = $1 AND w.id = $2",
        )
        .bind(tenant)
        .bind(workflow_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let definition: serde_json::Value =
            serde_json::from_str(&row.try_get::<String, _>("definition")?).unwrap_or_default();
        Ok(definition["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect())
    }

    /// The workflow a run belongs to, if the tenant has the run.
    pub async fn execution_workflow(
        &self,
        tenant: &str,
        execution: &str,
    ) -> Result<Option<String>> {
        sqlx::query("SELECT workflow_id FROM executions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(execution)
            .fetch_optional(self.pool())
            .await?
            .map(|row| Ok(row.try_get("workflow_id")?))
            .transpose()
    }

    /// A tenant's own policies (Cedar text), if it has any.
    pub async fn tenant_policies(&self, tenant: &str) -> Result<Option<String>> {
        sqlx::query("SELECT text FROM tenant_policies WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(self.pool())
            .await?
            .map(|row| Ok(row.try_get("text")?))
            .transpose()
    }

    /// Replaces a tenant's own policies; empty text removes them. The text
    /// before, if any.
    pub async fn set_tenant_policies(
        &self,
        tenant: &str,
        text: &str,
        now: Millis,
    ) -> Result<Option<String>> {
        let (tenant, text) = (tenant.to_owned(), text.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let before: Option<String> =
                        sqlx::query("SELECT text FROM tenant_policies WHERE tenant_id = $1")
                            .bind(&tenant)
                            .fetch_optional(&mut *conn)
                            .await?
                            .map(|row| row.try_get("text"))
                            .transpose()?;
                    sqlx::query("DELETE FROM tenant_policies WHERE tenant_id = $1")
                        .bind(&tenant)
                        .execute(&mut *conn)
                        .await?;
                    if !text.trim().is_empty() {
                        sqlx::query(
                            "INSERT INTO tenant_policies (tenant_id, text, updated_at) VALUES ($1, $2, $3)",
                        )
                        .bind(&tenant)
                        .bind(&text)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(before)
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs_of_their_names() {
        assert_eq!(tenant_slug("Acme Corp"), "acme-corp");
        assert_eq!(tenant_slug("  --Globex!! 2 "), "globex-2");
        assert_eq!(tenant_slug("ß"), "");
    }
}
