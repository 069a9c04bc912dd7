//! Who holds each webhook route. `/webhook/{path}` is one namespace for
//! every tenant on a server, so a method and path belong to the first
//! workflow that activates them; the table's primary key decides, also
//! between processes racing on one database. Another tenant's activation of
//! a held path is refused without naming the holder.

use sqlx::Row;

use crate::types::Millis;
use crate::{Result, Store, StoreError};

/// A webhook route: the method and the path under `/webhook/`, without
/// leading or trailing slashes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookRoute {
    /// `POST`, `GET`...
    pub method: String,
    /// `stripe`, `orders/new`...
    pub path: String,
}

impl std::fmt::Display for WebhookRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} /webhook/{}", self.method, self.path)
    }
}

/// A route and the workflow that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookClaim {
    /// The route.
    pub route: WebhookRoute,
    /// The holder's tenant.
    pub tenant: String,
    /// The holder.
    pub workflow_id: String,
}

impl Store {
    /// Claims `routes` for workflow `workflow_id` of `tenant`, all or none:
    /// a route nobody holds becomes its, one it holds stays its, and one
    /// held by an inactive workflow of the same tenant passes to it. A route
    /// held by an active workflow of the same tenant, or by any workflow of
    /// another tenant, is a [`StoreError::Conflict`] (naming the holder only
    /// in the same tenant). The routes newly claimed come back.
    pub async fn claim_webhook_routes(
        &self,
        tenant: &str,
        workflow_id: &str,
        routes: &[WebhookRoute],
        now: Millis,
    ) -> Result<Vec<WebhookRoute>> {
        let (tenant, workflow, routes) =
            (tenant.to_owned(), workflow_id.to_owned(), routes.to_vec());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let mut claimed = Vec::new();
                    for route in routes {
                        let inserted = sqlx::query(
                            "INSERT INTO webhook_routes (method, path, tenant_id, workflow_id, claimed_at) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (method, path) DO NOTHING",
                        )
                        .bind(&route.method)
                        .bind(&route.path)
                        .bind(&tenant)
                        .bind(&workflow)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                        if inserted == 1 {
                            claimed.push(route);
                            continue;
                        }
                        let holder = sqlx::query(
                            "SELECT tenant_id, workflow_id FROM webhook_routes WHERE method = $1 AND path = $2",
                        )
                        .bind(&route.method)
                        .bind(&route.path)
                        .fetch_one(&mut *conn)
                        .await?;
                        let (holder_tenant, holder): (String, String) =
                            (holder.try_get("tenant_id")?, holder.try_get("workflow_id")?);
                        if holder_tenant != tenant {
                            return Err(StoreError::Conflict(format!(
                                "webhook {route} is held by a workflow in another tenant (webhook paths are shared by every tenant on this server); give this workflow's webhook node another path"
                            )));
                        }
                        if holder == workflow {
                            continue;
                        }
                        let other = sqlx::query(
                            "SELECT name, active_version FROM workflows WHERE tenant_id = $1 AND id = $2",
                        )
                        .bind(&tenant)
                        .bind(&holder)
                        .fetch_optional(&mut *conn)
                        .await?;
                        if let Some(other) = other
                            && other.try_get::<Option<i64>, _>("active_version")?.is_some()
                        {
                            let name: String = other.try_get("name")?;
                            return Err(StoreError::Conflict(format!(
                                "webhook {route} is served by workflow `{name}` ({holder}), which is active; deactivate it, or give this workflow's webhook node another path"
                            )));
                        }
                        sqlx::query(
                            "UPDATE webhook_routes SET workflow_id = $1, claimed_at = $2 \
                             WHERE method = $3 AND path = $4 AND tenant_id = $5 AND workflow_id = $6",
                        )
                        .bind(&workflow)
                        .bind(now)
                        .bind(&route.method)
                        .bind(&route.path)
                        .bind(&tenant)
                        .bind(&holder)
                        .execute(&mut *conn)
                        .await?;
                        claimed.push(route);
                    }
                    Ok(claimed)
                })
            })
            .await
    }

    /// Gives up those of `routes` that workflow `workflow_id` of `tenant`
    /// holds.
    pub async fn release_webhook_routes(
        &self,
        tenant: &str,
        workflow_id: &str,
        routes: &[WebhookRoute],
    ) -> Result<()> {
        if routes.is_empty() {
            return Ok(());
        }
        let (tenant, workflow, routes) =
            (tenant.to_owned(), workflow_id.to_owned(), routes.to_vec());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    for route in routes {
                        sqlx::query(
                            "DELETE FROM webhook_routes WHERE method = $1 AND path = $2 AND tenant_id = $3 AND workflow_id = $4",
                        )
                        .bind(&route.method)
                        .bind(&route.path)
                        .bind(&tenant)
                        .bind(&workflow)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Every claimed route and its holder, in every tenant.
    pub async fn webhook_claims(&self) -> Result<Vec<WebhookClaim>> {
        sqlx::query(
            "SELECT method, path, tenant_id, workflow_id FROM webhook_routes ORDER BY method, path",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(WebhookClaim {
                route: WebhookRoute {
                    method: row.try_get("method")?,
                    path: row.try_get("path")?,
                },
                tenant: row.try_get("tenant_id")?,
                workflow_id: row.try_get("workflow_id")?,
            })
        })
        .collect()
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    fn route(path: &str) -> WebhookRoute {
        WebhookRoute {
            method: "POST".into(),
            path: path.into(),
        }
    }

    crate::both_backends! {
        async fn a_route_belongs_to_its_first_claimant_in_any_tenant(store) {
            store.create_tenant("Globex", 1).await.unwrap();
            let stripe = [route("stripe")];
            assert_eq!(store.claim_webhook_routes("default", "wf-a", &stripe, 1).await.unwrap(), stripe);
            // Claiming again is a no-op.
            assert!(store.claim_webhook_routes("default", "wf-a", &stripe, 2).await.unwrap().is_empty());
            let err = store
                .claim_webhook_routes("globex", "wf-b", &[route("other"), route("stripe")], 3)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("another tenant") && !err.contains("wf-a"), "{err}");
            // All or none: `other` was not claimed either.
            let claims = store.webhook_claims().await.unwrap();
            assert_eq!(claims.len(), 1, "{claims:?}");
            assert_eq!(claims[0].workflow_id, "wf-a");
            store.release_webhook_routes("globex", "wf-b", &stripe).await.unwrap();
            assert_eq!(store.webhook_claims().await.unwrap().len(), 1, "only the holder releases");
            store.release_webhook_routes("default", "wf-a", &stripe).await.unwrap();
            assert_eq!(store.claim_webhook_routes("globex", "wf-b", &stripe, 4).await.unwrap(), stripe);
        }
    }
}
