//! The writer task: every write runs here, in group commits.
//!
//! A batch is what arrived while the last commit was in flight. Its journal
//! appends, from every run in the batch, are written together: a handful of
//! multi-row statements whatever the number of runs, so the batch crosses
//! to the database's connection a few times rather than a few times per
//! run. Other writes follow, each in a savepoint of its own so that one
//! that fails is rolled back and told alone. Every caller learns its result
//! after the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::journal::{self, Append, Appended};
use crate::{Result, StoreError};

/// Delivers a job's value once the transaction holding it has committed, or
/// the commit's error.
type Deliver = Box<dyn FnOnce(Result<()>) + Send>;

/// A write: runs on the writer's connection inside the batch's transaction
/// (in a savepoint of its own) and returns how to deliver its value.
pub(crate) type Job =
    Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<Deliver>> + Send>;

/// What the writer is asked to do.
enum Work {
    /// Any write, with where to send its failure.
    Job(Job, oneshot::Sender<StoreError>),
    /// A run's journal append, with where to send how it went.
    Append(Box<Append>, oneshot::Sender<Result<Appended>>),
}

/// Writes taken into one transaction at most.
const MAX_BATCH: usize = 512;

pub(crate) struct Writer {
    work: mpsc::UnboundedSender<Work>,
    pub(crate) writes: AtomicU64,
    pub(crate) appends: AtomicU64,
    pub(crate) commits: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn start(pool: AnyPool) -> Writer {
        let (work, receiver) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, receiver, commits.clone()));
        Writer {
            work,
            writes: AtomicU64::new(0),
            appends: AtomicU64::new(0),
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
        self.work
            .send(Work::Job(job, fail_tx))
            .map_err(|_| StoreError::Closed)?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        // A job that succeeded delivers its value after the commit; one that
        // failed drops its value sender, and its error follows on `fail_rx`.
        match value_rx.await {
            Ok(value) => value,
            Err(_) => Err(fail_rx.await.unwrap_or(StoreError::Closed)),
        }
    }

    /// Appends to a run's journal in the next group commit, written together
    /// with the other appends of the batch.
    pub(crate) async fn append(&self, append: Append) -> Result<Appended> {
        let (told, outcome) = oneshot::channel();
        self.work
            .send(Work::Append(Box::new(append), told))
            .map_err(|_| StoreError::Closed)?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.appends.fetch_add(1, Ordering::Relaxed);
        outcome.await.unwrap_or(Err(StoreError::Closed))
    }
}

async fn run(pool: AnyPool, mut receiver: mpsc::UnboundedReceiver<Work>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut jobs = Vec::new();
        let mut appends = Vec::new();
        for work in batch.drain(..) {
            match work {
                Work::Job(job, fail) => jobs.push((job, fail)),
                Work::Append(append, told) => appends.push((append, told)),
            }
        }
        match apply(&pool, appends, jobs).await {
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
    }
}

type Appends = Vec<(Box<Append>, oneshot::Sender<Result<Appended>>)>;
type Jobs = Vec<(Job, oneshot::Sender<StoreError>)>;

/// Runs a batch in one transaction: the appends together, then each job in
/// a savepoint, so a failing job is rolled back and told alone.
async fn apply(
    pool: &AnyPool,
    appends: Appends,
    jobs: Jobs,
) -> std::result::Result<Vec<Deliver>, (StoreError, Vec<Deliver>)> {
    let fail_all = |error: &StoreError, appends: Appends, jobs: Jobs| {
        for (_, told) in appends {
            let _ = told.send(Err(copy(error)));
        }
        for (_, fail) in jobs {
            let _ = fail.send(copy(error));
        }
    };
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            let error = StoreError::Unavailable(e.to_string());
            fail_all(&error, appends, jobs);
            return Err((StoreError::from(e), Vec::new()));
        }
    };
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let error = StoreError::from(e);
            fail_all(&error, appends, jobs);
            return Err((error, Vec::new()));
        }
    };
    let mut delivers = Vec::with_capacity(appends.len() + jobs.len());
    if !appends.is_empty() {
        let records: Vec<&Append> = appends.iter().map(|(a, _)| a.as_ref()).collect();
        // Together in the common case; should that fail (a bad row), each
        // alone, so the others are still written.
        let together = match tx.begin().await {
            Ok(mut savepoint) => match journal::apply_all(&mut savepoint, &records).await {
                Ok(outcomes) => match savepoint.commit().await {
                    Ok(()) => Some(outcomes),
                    Err(_) => None,
                },
                Err(error) => {
                    tracing::warn!(%error, "a batch of journal appends failed; writing them one by one");
                    let _ = savepoint.rollback().await;
                    None
                }
            },
            Err(_) => None,
        };
        match together {
            Some(outcomes) => {
                for ((_, told), outcome) in appends.into_iter().zip(outcomes) {
                    delivers.push(deliver_append(told, Ok(outcome)));
                }
            }
            None => {
                for (append, told) in appends {
                    let outcome = match tx.begin().await {
                        Ok(mut savepoint) => {
                            match journal::apply_all(&mut savepoint, &[&append]).await {
                                Ok(outcome) => savepoint
                                    .commit()
                                    .await
                                    .map(|()| outcome[0])
                                    .map_err(StoreError::from),
                                Err(error) => {
                                    let _ = savepoint.rollback().await;
                                    Err(error)
                                }
                            }
                        }
                        Err(e) => Err(StoreError::from(e)),
                    };
                    match outcome {
                        Ok(outcome) => delivers.push(deliver_append(told, Ok(outcome))),
                        Err(error) => {
                            let _ = told.send(Err(error));
                        }
                    }
                }
            }
        }
    }
    for (job, fail) in jobs {
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

/// Tells an append's caller how it went, once the batch has committed.
fn deliver_append(told: oneshot::Sender<Result<Appended>>, outcome: Result<Appended>) -> Deliver {
    Box::new(move |committed: Result<()>| {
        let _ = told.send(committed.and(outcome));
    })
}

/// The same failure again, for each write of a batch that shares it.
fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        other => StoreError::Conflict(other.to_string()),
    }
}
