//! The master key in use across every process on a database: a rotation
//! records its new key here before it re-wraps anything, and a process
//! checks it before it wraps a new tenant's data key (issue 18: a replica
//! that missed a rotation kept wrapping with the retired key).

use sqlx::Row;

use crate::types::Millis;
use crate::{Result, Store};

/// The master key the last rotation set, and how many rotations there were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterKeyRecord {
    /// The id of the master key data keys are wrapped under.
    pub master_key_id: String,
    /// 1 for the first key recorded, one more for each rotation since.
    pub generation: i64,
}

impl Store {
    /// The master key recorded as in use, if any process recorded one.
    pub async fn master_key_record(&self) -> Result<Option<MasterKeyRecord>> {
        sqlx::query("SELECT master_key_id, generation FROM vault_master WHERE id = 1")
            .fetch_optional(self.pool())
            .await?
            .map(|row| {
                Ok(MasterKeyRecord {
                    master_key_id: row.try_get("master_key_id")?,
                    generation: row.try_get("generation")?,
                })
            })
            .transpose()
    }

    /// Records `master_key_id` as the master key in use (a new generation
    /// when it differs from the one recorded), or, with `only_if_none`,
    /// only when none is recorded yet. The record as it stands after.
    pub async fn record_master_key(
        &self,
        master_key_id: &str,
        only_if_none: bool,
        now: Millis,
    ) -> Result<Option<MasterKeyRecord>> {
        let id = master_key_id.to_owned();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let sql = if only_if_none {
                        "INSERT INTO vault_master (id, master_key_id, generation, changed_at) \
                         VALUES (1, $1, 1, $2) ON CONFLICT (id) DO NOTHING"
                    } else {
                        "INSERT INTO vault_master (id, master_key_id, generation, changed_at) \
                         VALUES (1, $1, 1, $2) ON CONFLICT (id) DO UPDATE SET \
                         master_key_id = excluded.master_key_id, \
                         generation = vault_master.generation + 1, \
                         changed_at = excluded.changed_at \
                         WHERE vault_master.master_key_id <> excluded.master_key_id"
                    };
                    sqlx::query(sql)
                        .bind(&id)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await?;
        self.master_key_record().await
    }

    /// Deletes tenant `tenant`'s data key `id` if it is still wrapped under
    /// `master_key_id` (a key just made under a master key a rotation
    /// retired meanwhile, before anything was encrypted with it). Whether
    /// it was deleted.
    pub async fn withdraw_data_key(
        &self,
        tenant: &str,
        id: &str,
        master_key_id: &str,
    ) -> Result<bool> {
        let (tenant, id, master) = (tenant.to_owned(), id.to_owned(), master_key_id.to_owned());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query(
                        "DELETE FROM vault_data_keys WHERE tenant_id = $1 AND id = $2 AND master_key_id = $3",
                    )
                    .bind(&tenant)
                    .bind(&id)
                    .bind(&master)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                        == 1)
                })
            })
            .await
    }
}
