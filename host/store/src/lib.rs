//! The durable state of n8n-work: workflows with immutable versions, runs
//! (executions), their steps, and the queue those steps form.
//!
//! One [`Store`] serves SQLite (the embedded default: one file, WAL,
//! `synchronous=FULL`) and PostgreSQL, through sqlx's `Any` driver and one
//! set of migrations. Every function takes a tenant.
//!
//! Writes go through one writer task that group-commits: transitions that
//! arrive while a commit is in flight share the next transaction, each in its
//! own savepoint, so one bad transition fails alone and a burst of runs costs
//! few fsyncs ([`Store::stats`] counts both).
//!
//! The queue is the `steps` table: [`Store::claim`] leases ready steps to a
//! worker, [`Store::complete`] records an attempt's outcome and makes the
//! successors ready in the same transaction, and [`Store::reclaim`] returns
//! the steps of a dead worker to the queue.

mod access;
mod api;
pub mod audit;
mod credentials;
mod journal;
mod members;
mod node_state;
mod ops;
mod resume_tokens;
#[cfg(feature = "testing")]
pub mod testing;
mod types;
mod usage;
mod vault_master;
mod webhook_routes;
mod writer;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub use access::{ApiKeyRow, NewApiKey, tenant_slug};
pub use credentials::{CredentialRow, CredentialSummary, DataKeyRow, OAuth2Authorization};
pub use journal::{Append, Appended, JournalRun, JournalStep};
pub use members::{MemberRow, NewMember, SignInAttempt};
pub use node_state::{NodeState, NodeStateWrite};
pub use ops::append_items;
pub use types::*;
pub use usage::LimitOverrides;
pub use vault_master::MasterKeyRecord;
pub use webhook_routes::{WebhookClaim, WebhookRoute};
use writer::Writer;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("could not migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data was written by a newer n8n-work.
    #[error(
        "the database is at schema version {found}, written by a newer n8n-work; this binary knows versions up to {supported}. Upgrade n8n-work, or point it at another data directory"
    )]
    NewerSchema {
        /// The version found.
        found: i64,
        /// The newest this binary knows.
        supported: i64,
    },
    /// The thing named does not exist (in this tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// The request does not fit the current state.
    #[error("{0}")]
    Conflict(String),
    /// Stored JSON could not be read.
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// The writer task has stopped.
    #[error("the store is closed")]
    Closed,
    /// The database could not be reached, or the connection broke on the
    /// way: try again once it is back.
    #[error("the database is unreachable ({0}); try again shortly")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the database could not be reached (refused, lost or timed
    /// out connections), rather than refusing the request: worth a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Closed => true,
            StoreError::Database(e) => unreachable_database(e),
            _ => false,
        }
    }
}

/// Connection-level failures: I/O, TLS, an exhausted or closed pool, or a
/// server that says it is shutting down or cannot connect now (SQLSTATE
/// class 08 and 57P0x).
fn unreachable_database(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        if unreachable_database(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Counters of the writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Write operations applied.
    pub writes: u64,
    /// Transactions committed for them.
    pub commits: u64,
    /// Of the writes, journal appends ([`Store::append`]).
    pub appends: u64,
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The store. Cloning is cheap; clones share the pool and the writer.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writer: Arc<Writer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens (creating if needed) the SQLite file at `path`.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store> {
        Store::open(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens the database at `url` (`sqlite://PATH?mode=rwc` or
    /// `postgres://...`), runs pending migrations, and refuses a schema
    /// newer than this binary's.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            // A PostgreSQL server that is down should cost a caller a few
            // seconds and a 503, not a hung request.
            .acquire_timeout(Duration::from_secs(if backend == Backend::Sqlite {
                30
            } else {
                5
            }))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes a
                        // commit survive power loss, not just a crash.
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .execute(conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        // No table yet means a new database.
        if let Ok(row) = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            && let Ok(Some(found)) = row.try_get::<Option<i64>, _>("v")
            && found > supported
        {
            return Err(StoreError::NewerSchema { found, supported });
        }
        MIGRATOR.run(&pool).await?;
        let writer = Arc::new(Writer::start(pool.clone()));
        Ok(Store {
            pool,
            backend,
            writer,
        })
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The newest schema version this binary knows.
    pub fn schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Writes and commits so far.
    pub fn stats(&self) -> Stats {
        Stats {
            writes: self.writer.writes.load(Ordering::Relaxed),
            commits: self.writer.commits.load(Ordering::Relaxed),
            appends: self.writer.appends.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// The current time in the store's unit.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A new time-ordered id (UUID v7), for runs and dead letters.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new unguessable token, for resume URLs.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
