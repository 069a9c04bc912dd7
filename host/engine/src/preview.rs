//! Where the editor's expression previews are evaluated: a few threads of
//! their own, never the async runtime's, behind a bounded queue and under a
//! wall-clock deadline. A viewer's expression that runs long, or many of
//! them at once, holds these threads only, and each answers an error at its
//! deadline, while the server goes on answering everything else.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use n8n_work_expr::{Evaluator, ExprContext, ExprError, Limits, Template};
use serde_json::Value;

/// Threads that evaluate previews.
pub const THREADS: usize = 2;
/// Previews that may wait for a thread; more are refused at once.
pub const QUEUE: usize = 32;
/// How long one preview may evaluate.
pub const DEADLINE: Duration = Duration::from_secs(2);

type Job = Box<dyn FnOnce(&mut Evaluator) + Send>;

/// Why a preview has no value.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The expression failed (its own error, the deadline included).
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// Every preview thread is busy and the queue is full.
    #[error(
        "too many expression previews are being evaluated; try again in a moment (at most {QUEUE} wait for {THREADS} threads)"
    )]
    Busy,
    /// The preview waited and ran longer than its deadline allows.
    #[error(
        "the preview did not finish within its deadline of {} ms (it waited for a busy preview thread); try again",
        DEADLINE.as_millis()
    )]
    Late,
}

fn queue() -> &'static SyncSender<Job> {
    static QUEUE_TX: OnceLock<SyncSender<Job>> = OnceLock::new();
    QUEUE_TX.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("n8n-work-preview-{i}"))
                .spawn(move || work(&rx))
                .expect("a preview thread starts");
        }
        tx
    })
}

fn work(rx: &Mutex<Receiver<Job>>) {
    let mut evaluator: Option<Evaluator> = None;
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if evaluator.is_none() {
            match Evaluator::new(Limits::default()) {
                Ok(e) => evaluator = Some(e),
                Err(e) => {
                    tracing::error!(error = %e, "the preview thread could not build an evaluator");
                    continue;
                }
            }
        }
        if let Some(evaluator) = evaluator.as_mut() {
            job(evaluator);
        }
    }
}

/// Evaluates `template` against `context` on a preview thread, within
/// [`DEADLINE`].
pub(crate) async fn evaluate(
    template: Template,
    context: ExprContext,
) -> Result<Value, PreviewError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |evaluator: &mut Evaluator| {
        evaluator.set_deadline(Some(
            u64::try_from(DEADLINE.as_millis()).unwrap_or(u64::MAX),
        ));
        let result = evaluator.eval(&template, &context);
        evaluator.set_deadline(None);
        let _ = tx.send(result);
    });
    match queue().try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return Err(PreviewError::Busy),
        Err(TrySendError::Disconnected(_)) => unreachable!("preview threads never stop"),
    }
    // Waiting in the queue counts too: twice the deadline covers one
    // preview ahead on each thread.
    match tokio::time::timeout(DEADLINE * 2, rx).await {
        Ok(Ok(result)) => Ok(result?),
        Ok(Err(_)) | Err(_) => Err(PreviewError::Late),
    }
}
