//! Fresh stores for tests: a SQLite file in a temporary directory, or a new
//! database on the PostgreSQL server named by `N8N_WORK_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

use crate::{Result, Store};

/// A store that lives as long as this value: its SQLite directory or its
/// PostgreSQL database is removed when it is dropped.
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// Its URL, for a second process.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database to drop: the server's URL and its name.
    database: Option<(String, String)>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let Some((server, name)) = self.database.take() else {
            return;
        };
        // Drop cannot await, and the test's runtime may be shutting down:
        // a thread of its own removes the database (forcing out the pool's
        // connections).
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&server)
                    .await
                    .ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        });
        let _ = dropped.join();
    }
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A store on a new SQLite file.
pub async fn sqlite() -> Result<TestStore> {
    let dir = tempfile::tempdir().map_err(|e| crate::StoreError::Conflict(e.to_string()))?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("n8n-work.db").display()
    );
    Ok(TestStore {
        store: Store::open(&url).await?,
        url,
        _dir: Some(dir),
        database: None,
    })
}

/// The server tests use, from `N8N_WORK_TEST_POSTGRES`.
pub fn postgres_server() -> String {
    std::env::var("N8N_WORK_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A store on a new PostgreSQL database, dropped with the value.
pub async fn postgres() -> Result<TestStore> {
    sqlx::any::install_default_drivers();
    let server = postgres_server();
    let name = format!("n8n_work_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&server)
        .await
        .map_err(|e| {
            crate::StoreError::Conflict(format!(
                "could not reach PostgreSQL at {server} ({e}); start it, or set N8N_WORK_TEST_POSTGRES"
            ))
        })?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    let url = format!("{base}/{name}");
    Ok(TestStore {
        store: Store::open(&url).await?,
        url,
        _dir: None,
        database: Some((server, name)),
    })
}

/// Runs a test body against both backends: `both!(name, |store| async move { ... })`.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($store:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($store: $crate::testing::TestStore) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body($crate::testing::sqlite().await.expect("sqlite store")).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                body($crate::testing::postgres().await.expect("postgres store")).await
            }
        }
    };
}
