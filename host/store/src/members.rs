//! Members, who sign in with the OpenID Connect provider, and the sign-ins
//! begun with it. A member acts through an API key of its role that the
//! store makes with it (its secret is never shown), so a member's session
//! is an ordinary key session: removing the member revokes the key, and that
//! ends the sessions.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::{ApiKeyRow, KEY_COLUMNS, key_row};
use crate::types::Millis;
use crate::{Result, Store, StoreError};

/// A member as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberRow {
    /// The tenant it belongs to.
    pub tenant: String,
    /// Its id.
    pub id: String,
    /// A lower-cased email, or `sub:` and the provider's subject.
    pub identity: String,
    /// Its role in the tenant.
    pub role: String,
    /// The key its sessions act with.
    pub key_id: String,
    /// When it was added (or last given a role).
    pub created_at: Millis,
}

/// A member to add, or to give a new role.
#[derive(Clone, Debug)]
pub struct NewMember {
    /// The tenant.
    pub tenant: String,
    /// A lower-cased email, or `sub:` and the provider's subject.
    pub identity: String,
    /// Its role.
    pub role: String,
    /// The first characters of its key (the key itself is thrown away).
    pub key_prefix: String,
    /// The SHA-256 of its key.
    pub key_hash: String,
}

/// A sign-in begun with the provider: what the callback checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInAttempt {
    /// The `state` sent to the provider, which must come back.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The same-origin path to go to after.
    pub next: String,
    /// The tenant asked for, if any.
    pub tenant: Option<String>,
    /// When it lapses.
    pub expires_at: Millis,
}

const MEMBER_COLUMNS: &str = "tenant_id, id, identity, role, key_id, created_at";

fn member_row(row: &AnyRow) -> Result<MemberRow> {
    Ok(MemberRow {
        tenant: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        identity: row.try_get("identity")?,
        role: row.try_get("role")?,
        key_id: row.try_get("key_id")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Adds a member to its tenant with a new key of its role; a member
    /// already there gets the new role and key, and its old key (with its
    /// sessions) is revoked. The member now, and as it was before.
    pub async fn add_member(
        &self,
        member: NewMember,
        now: Millis,
    ) -> Result<(MemberRow, Option<MemberRow>)> {
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let before = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND identity = $2"
                    )))
                    .bind(&member.tenant)
                    .bind(&member.identity)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|row| member_row(&row))
                    .transpose()?;
                    let key_id = crate::new_id();
                    sqlx::query(
                        "INSERT INTO api_keys (tenant_id, id, name, prefix, hash, role, scopes, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, '*', $7)",
                    )
                    .bind(&member.tenant)
                    .bind(&key_id)
                    .bind(format!("member {}", member.identity))
                    .bind(&member.key_prefix)
                    .bind(&member.key_hash)
                    .bind(&member.role)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    let row = match &before {
                        Some(old) => {
                            sqlx::query(
                                "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
                            )
                            .bind(now)
                            .bind(&member.tenant)
                            .bind(&old.key_id)
                            .execute(&mut *conn)
                            .await?;
                            sqlx::query(
                                "UPDATE members SET role = $1, key_id = $2, created_at = $3 WHERE tenant_id = $4 AND id = $5",
                            )
                            .bind(&member.role)
                            .bind(&key_id)
                            .bind(now)
                            .bind(&member.tenant)
                            .bind(&old.id)
                            .execute(&mut *conn)
                            .await?;
                            MemberRow {
                                role: member.role.clone(),
                                key_id,
                                created_at: now,
                                ..old.clone()
                            }
                        }
                        None => {
                            let row = MemberRow {
                                tenant: member.tenant.clone(),
                                id: crate::new_id(),
                                identity: member.identity.clone(),
                                role: member.role.clone(),
                                key_id,
                                created_at: now,
                            };
                            sqlx::query(
                                "INSERT INTO members (tenant_id, id, identity, role, key_id, created_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(&row.tenant)
                            .bind(&row.id)
                            .bind(&row.identity)
                            .bind(&row.role)
                            .bind(&row.key_id)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                            row
                        }
                    };
                    Ok((row, before))
                })
            })
            .await
    }

    /// A tenant's members, oldest first.
    pub async fn members(&self, tenant: &str) -> Result<Vec<MemberRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 ORDER BY created_at, id"
        )))
        .bind(tenant)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(member_row)
        .collect()
    }

    /// Removes a tenant's member, named by its id or its identity, and
    /// revokes its key (ending its sessions); the member as it was.
    pub async fn remove_member(&self, tenant: &str, who: &str, now: Millis) -> Result<MemberRow> {
        let (tenant, who) = (tenant.to_owned(), who.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND (id = $2 OR identity = $2)"
                    )))
                    .bind(&tenant)
                    .bind(&who)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("member `{who}`")))?;
                    let member = member_row(&row)?;
                    sqlx::query("DELETE FROM members WHERE tenant_id = $1 AND id = $2")
                        .bind(&tenant)
                        .bind(&member.id)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(&tenant)
                    .bind(&member.key_id)
                    .execute(&mut *conn)
                    .await?;
                    Ok(member)
                })
            })
            .await
    }

    /// Every tenant's members with one of these identities, the earliest
    /// added first (then by tenant): who a signed-in person may act as.
    /// Sign-in is where the tenant is found, so this is the one member
    /// query that no tenant scopes.
    pub async fn memberships(&self, identities: &[String]) -> Result<Vec<MemberRow>> {
        let mut found = Vec::new();
        for identity in identities {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {MEMBER_COLUMNS} FROM members WHERE identity = $1"
            )))
            .bind(identity)
            .fetch_all(self.pool())
            .await?;
            for row in &rows {
                let member = member_row(row)?;
                if !found
                    .iter()
                    .any(|m: &MemberRow| m.tenant == member.tenant && m.id == member.id)
                {
                    found.push(member);
                }
            }
        }
        found.sort_by(|a, b| (a.created_at, &a.tenant).cmp(&(b.created_at, &b.tenant)));
        Ok(found)
    }

    /// A tenant's key by its id, if it is neither revoked nor expired.
    pub async fn active_key(
        &self,
        tenant: &str,
        id: &str,
        now: Millis,
    ) -> Result<Option<ApiKeyRow>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $2 \
             AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $3)"
        )))
        .bind(tenant)
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?
        .map(|row| key_row(&row))
        .transpose()
    }

    /// Remembers a sign-in begun by the browser whose cookie token hashes to
    /// `hash`; lapsed ones go as new ones come.
    pub async fn begin_sign_in(
        &self,
        hash: &str,
        attempt: SignInAttempt,
        now: Millis,
    ) -> Result<()> {
        let hash = hash.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM sign_in_attempts WHERE expires_at < $1")
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "INSERT INTO sign_in_attempts (hash, state, nonce, verifier, next_path, tenant_id, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&hash)
                    .bind(&attempt.state)
                    .bind(&attempt.nonce)
                    .bind(&attempt.verifier)
                    .bind(&attempt.next)
                    .bind(&attempt.tenant)
                    .bind(attempt.expires_at)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Takes the sign-in begun under `hash`: it is gone after this, so a
    /// callback works once. None if there is none or it lapsed.
    pub async fn take_sign_in(&self, hash: &str, now: Millis) -> Result<Option<SignInAttempt>> {
        let hash = hash.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT state, nonce, verifier, next_path, tenant_id, expires_at \
                         FROM sign_in_attempts WHERE hash = $1",
                    )
                    .bind(&hash)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    sqlx::query("DELETE FROM sign_in_attempts WHERE hash = $1")
                        .bind(&hash)
                        .execute(&mut *conn)
                        .await?;
                    let attempt = SignInAttempt {
                        state: row.try_get("state")?,
                        nonce: row.try_get("nonce")?,
                        verifier: row.try_get("verifier")?,
                        next: row.try_get("next_path")?,
                        tenant: row.try_get("tenant_id")?,
                        expires_at: row.try_get("expires_at")?,
                    };
                    Ok((attempt.expires_at > now).then_some(attempt))
                })
            })
            .await
    }
}
