//! Node state (`wit/node.wit`'s `state` interface): small values a node
//! keeps across runs, per tenant, workflow and node, such as a polling
//! trigger's last seen id. A step's writes are committed in the transaction
//! that records the step's result, so a step that fails, is retried or is
//! lost leaves none of them; every process reads the same rows.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, Row};

use crate::types::Millis;
use crate::{Result, Store, StoreError};

/// A node's state: key → value.
pub type NodeState = BTreeMap<String, Vec<u8>>;

/// What one step changed in its node's state: key → the new value, or
/// `None` where the key was deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStateWrite {
    /// The workflow the node belongs to.
    pub workflow_id: String,
    /// The node.
    pub node_id: String,
    /// The changes, applied in key order.
    pub changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl Store {
    /// The state node `node_id` of workflow `workflow_id` keeps.
    pub async fn node_state(
        &self,
        tenant: &str,
        workflow_id: &str,
        node_id: &str,
    ) -> Result<NodeState> {
        sqlx::query(
            "SELECT key, value FROM node_state \
             WHERE tenant_id = $1 AND workflow_id = $2 AND node_id = $3",
        )
        .bind(tenant)
        .bind(workflow_id)
        .bind(node_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| Ok((row.try_get("key")?, decode(row)?)))
        .collect()
    }

    /// The state of every node of workflow `workflow_id`, by node id.
    pub async fn workflow_node_state(
        &self,
        tenant: &str,
        workflow_id: &str,
    ) -> Result<BTreeMap<String, NodeState>> {
        let mut nodes: BTreeMap<String, NodeState> = BTreeMap::new();
        for row in sqlx::query(
            "SELECT node_id, key, value FROM node_state WHERE tenant_id = $1 AND workflow_id = $2",
        )
        .bind(tenant)
        .bind(workflow_id)
        .fetch_all(self.pool())
        .await?
        {
            nodes
                .entry(row.try_get("node_id")?)
                .or_default()
                .insert(row.try_get("key")?, decode(&row)?);
        }
        Ok(nodes)
    }
}

fn decode(row: &sqlx::any::AnyRow) -> Result<Vec<u8>> {
    let value: String = row.try_get("value")?;
    hex::decode(&value).map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

/// Applies `write` for `tenant`, in the caller's transaction.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    tenant: &str,
    write: &NodeStateWrite,
    now: Millis,
) -> Result<()> {
    for (key, value) in &write.changes {
        let query = match value {
            Some(value) => sqlx::query(
                "INSERT INTO node_state (tenant_id, workflow_id, node_id, key, value, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, workflow_id, node_id, key) \
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(tenant)
            .bind(&write.workflow_id)
            .bind(&write.node_id)
            .bind(key)
            .bind(hex::encode(value))
            .bind(now),
            None => sqlx::query(
                "DELETE FROM node_state \
                 WHERE tenant_id = $1 AND workflow_id = $2 AND node_id = $3 AND key = $4",
            )
            .bind(tenant)
            .bind(&write.workflow_id)
            .bind(&write.node_id)
            .bind(key),
        };
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
