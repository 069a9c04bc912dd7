//! The writer task: every write runs here, in group commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Delivers a job's value once the transaction holding it has committed, or
/// the commit's error.
type Deliver = Box<dyn FnOnce(Result<()>) + Send>;

/// A write: runs on the writer's connection inside the batch's transaction
/// (in a savepoint of its own) and returns how to deliver its value.
pub(crate) type Job =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Deliver>> + Send>;

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 512;

pub(crate) struct Writer {
    jobs: mpsc::UnboundedSender<(Job, oneshot::Sender<StoreError>)>,
    pub(crate) writes: AtomicU64,
    pub(crate) commits: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn start(pool: AnyPool) -> Writer {
        let (jobs, receiver) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, receiver, commits.clone()));
        Writer {
            jobs,
            writes: AtomicU64::new(0),
            commits,
        }
    }

    /// Runs `job` in the next group commit and returns its value after the
    /// commit.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (value_tx, value_rx) = oneshot::channel::<Result<T>>();
        let (fail_tx, fail_rx) = oneshot::channel::<StoreError>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let value = job(conn).await?;
                let deliver: Deliver = Box::new(move |committed: Result<()>| {
                    let _ = value_tx.send(committed.map(|()| value));
                });
                Ok(deliver)
            })
        });
        self.jobs
            .send((job, fail_tx))
            .map_err(|_| StoreError::Closed)?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        // A job that succeeded delivers its value after the commit; one that
        // failed drops its value sender, and its error follows on `fail_rx`.
        match value_rx.await {
            Ok(value) => value,
            Err(_) => Err(fail_rx.await.unwrap_or(StoreError::Closed)),
        }
    }
}

async fn run(
    pool: AnyPool,
    mut receiver: mpsc::UnboundedReceiver<(Job, oneshot::Sender<StoreError>)>,
    commits: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let delivered = apply(&pool, &mut batch).await;
        match delivered {
            Ok(delivers) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for deliver in delivers {
                    deliver(Ok(()));
                }
            }
            Err((error, delivers)) => {
                tracing::error!(%error, "group commit failed");
                for deliver in delivers {
                    deliver(Err(match &error {
                        StoreError::Unavailable(message) => StoreError::Unavailable(format!(
                            "the write may not have been committed: {message}"
                        )),
                        other => {
                            StoreError::Conflict(format!("the write was rolled back: {other}"))
                        }
                    }));
                }
            }
        }
        batch.clear();
    }
}

/// Runs a batch in one transaction; each job in a savepoint, so a failing
/// job is rolled back and told alone.
async fn apply(
    pool: &AnyPool,
    batch: &mut Vec<(Job, oneshot::Sender<StoreError>)>,
) -> std::result::Result<Vec<Deliver>, (StoreError, Vec<Deliver>)> {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            for (_, fail) in batch.drain(..) {
                let _ = fail.send(StoreError::Unavailable(e.to_string()));
            }
            return Err((StoreError::from(e), Vec::new()));
        }
    };
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let error = StoreError::from(e);
            for (_, fail) in batch.drain(..) {
                let _ = fail.send(copy(&error));
            }
            return Err((error, Vec::new()));
        }
    };
    let mut delivers = Vec::with_capacity(batch.len());
    for (job, fail) in batch.drain(..) {
        let mut savepoint = match tx.begin().await {
            Ok(savepoint) => savepoint,
            Err(e) => {
                let _ = fail.send(StoreError::from(e));
                continue;
            }
        };
        match job(&mut savepoint).await {
            Ok(deliver) => match savepoint.commit().await {
                Ok(()) => delivers.push(deliver),
                Err(e) => {
                    let _ = fail.send(StoreError::from(e));
                }
            },
            Err(error) => {
                let _ = savepoint.rollback().await;
                let _ = fail.send(error);
            }
        }
    }
    match tx.commit().await {
        Ok(()) => Ok(delivers),
        Err(e) => Err((StoreError::from(e), delivers)),
    }
}

/// The same failure again, for each job of a batch that shares it.
fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        other => StoreError::Conflict(other.to_string()),
    }
}
