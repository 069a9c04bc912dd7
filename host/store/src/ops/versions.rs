//! Workflow versions: a definition stored as the next version of its
//! workflow when it changed.

use serde_json::Value;
use sqlx::Row;

use super::*;
use crate::types::*;
use crate::{Result, StoreError, new_id};

pub(crate) async fn put_workflow(
    conn: &mut Conn,
    tenant: &str,
    id: Option<&str>,
    name: &str,
    definition: &Value,
    now: Millis,
) -> Result<WorkflowVersion> {
    let existing = match id {
        Some(id) => {
            let found = sqlx::query(
                "SELECT id, latest_version FROM workflows WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if found.is_none() {
                return Err(StoreError::NotFound(format!("workflow `{id}`")));
            }
            let clash = sqlx::query(
                "SELECT id FROM workflows WHERE tenant_id = $1 AND name = $2 AND id <> $3",
            )
            .bind(tenant)
            .bind(name)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            if clash.is_some() {
                return Err(StoreError::Conflict(format!(
                    "another workflow is named `{name}`; pick another name"
                )));
            }
            found
        }
        None => {
            sqlx::query(
                "SELECT id, latest_version FROM workflows WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    let (id, version) = match existing {
        Some(row) => {
            let id: String = row.try_get("id")?;
            let latest: i64 = row.try_get("latest_version")?;
            let current: String = sqlx::query(
                "SELECT definition FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2 AND version = $3",
            )
            .bind(tenant)
            .bind(&id)
            .bind(latest)
            .fetch_one(&mut *conn)
            .await?
            .try_get("definition")?;
            if parse(&current)? == *definition {
                return Ok(WorkflowVersion {
                    workflow_id: id,
                    name: name.to_owned(),
                    version: latest,
                    definition: definition.clone(),
                });
            }
            sqlx::query("UPDATE workflows SET latest_version = $1, name = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5")
                .bind(latest + 1)
                .bind(name)
                .bind(now)
                .bind(tenant)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            (id, latest + 1)
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO workflows (tenant_id, id, name, latest_version, created_at, updated_at) \
                 VALUES ($1, $2, $3, 1, $4, $4)",
            )
            .bind(tenant)
            .bind(&id)
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            (id, 1)
        }
    };
    sqlx::query(
        "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(&id)
    .bind(version)
    .bind(text(definition))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(WorkflowVersion {
        workflow_id: id,
        name: name.to_owned(),
        version,
        definition: definition.clone(),
    })
}
