//! Resume tokens (`/resume/{token}`): which tenant's run waits on a token,
//! found with one read of the token's row, so a request with a token nobody
//! holds costs a read, never a write.

use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// The tenant whose parked step waits on `token`, if any does.
    pub async fn tenant_of_resume_token(&self, token: &str) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT tenant_id FROM timers WHERE token = $1")
            .bind(token)
            .fetch_optional(self.pool())
            .await?
            .map(|row| row.try_get("tenant_id"))
            .transpose()?)
    }
}
