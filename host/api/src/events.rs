//! Live run events over SSE: `run.started`, `step.started`,
//! `step.finished`, `run.finished`.
//!
//! Events are read from the store, not forwarded from the engine: the
//! engine's change notices only say which run to look at again. So a late
//! subscriber gets the events so far first, a lagging one loses nothing,
//! and runs that other processes advance show up at the next look (at
//! least once a second).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::Extensions;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use n8n_work_engine::Change;
use n8n_work_store::{ExecutionRow, Millis, StepRow, StepStatus, Store};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::{ApiResult, AppState, caller};

/// How often a run is looked at again without a notice.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// What has been sent about one run.
#[derive(Default)]
struct Sent {
    run_started: bool,
    run_finished: bool,
    /// Per step: the start time of the attempt announced, and the
    /// (start time, status) whose end was announced.
    started: HashMap<i64, Millis>,
    ended: HashMap<i64, (Millis, StepStatus)>,
}

/// One event, ordered by time, then step (a successor's seq is higher
/// than its predecessor's, so an end comes before the start it caused in
/// the same millisecond), then kind.
struct Pending {
    at: Millis,
    seq: i64,
    order: u8,
    name: &'static str,
    data: Value,
}

impl Sent {
    /// The events `row` and `steps` show that were not sent yet.
    fn news(
        &mut self,
        row: &ExecutionRow,
        steps: &[StepRow],
        outputs: &HashMap<i64, usize>,
    ) -> Vec<Pending> {
        let base = || json!({ "executionId": row.id, "workflowId": row.workflow_id });
        let mut news = Vec::new();
        if !self.run_started {
            self.run_started = true;
            let mut data = base();
            data["at"] = json!(row.created_at);
            data["version"] = json!(row.version);
            news.push(Pending {
                at: row.created_at,
                seq: -1,
                order: 0,
                name: "run.started",
                data,
            });
        }
        for step in steps {
            let Some(started_at) = step.started_at else {
                continue;
            };
            if self.started.get(&step.seq) != Some(&started_at) {
                self.started.insert(step.seq, started_at);
                let mut data = base();
                data["seq"] = json!(step.seq);
                data["node"] = json!(step.node_id);
                data["attempt"] = json!(step.attempt);
                data["iteration"] = json!(step.iteration);
                data["at"] = json!(started_at);
                news.push(Pending {
                    at: started_at,
                    seq: step.seq,
                    order: 1,
                    name: "step.started",
                    data,
                });
            }
            let status = match step.status {
                StepStatus::Done
                | StepStatus::Failed
                | StepStatus::Cancelled
                | StepStatus::Waiting => step.status,
                // Back in the queue after a failed attempt: a retry.
                StepStatus::Ready if step.error.is_some() => step.status,
                _ => continue,
            };
            if self.ended.get(&step.seq) == Some(&(started_at, status)) {
                continue;
            }
            self.ended.insert(step.seq, (started_at, status));
            let at = step.finished_at.unwrap_or(started_at).max(started_at);
            let mut data = base();
            data["seq"] = json!(step.seq);
            data["node"] = json!(step.node_id);
            data["status"] = json!(if status == StepStatus::Ready {
                "retrying"
            } else {
                status.as_str()
            });
            data["attempt"] = json!(step.attempt);
            data["at"] = json!(at);
            data["durationMs"] = json!(at - started_at);
            data["fuel"] = json!(step.usage.fuel);
            data["peakMemoryBytes"] = json!(step.usage.peak_memory_bytes);
            data["outputItems"] = json!(outputs.get(&step.seq));
            data["error"] = step.error.clone().unwrap_or(Value::Null);
            news.push(Pending {
                at,
                seq: step.seq,
                order: 2,
                name: "step.finished",
                data,
            });
        }
        if row.status.is_final() && !self.run_finished {
            self.run_finished = true;
            let at = row.finished_at.unwrap_or(row.created_at);
            let mut data = base();
            data["status"] = json!(row.status.as_str());
            data["at"] = json!(at);
            data["durationMs"] = json!(at - row.created_at);
            data["error"] = row.error.clone().unwrap_or(Value::Null);
            news.push(Pending {
                at: Millis::MAX,
                seq: i64::MAX,
                order: 3,
                name: "run.finished",
                data,
            });
        }
        news.sort_by_key(|p| (p.at, p.seq, p.order));
        news
    }
}

/// Reads run `id` and sends what is new; whether the run is over.
async fn look(
    store: &Store,
    tenant: &str,
    id: &str,
    sent: &mut Sent,
    events: &mpsc::Sender<Event>,
) -> Result<bool, ()> {
    let Ok(row) = store.execution(tenant, id).await else {
        return Err(());
    };
    let steps = store.steps(tenant, id).await.map_err(|_| ())?;
    // Output sizes of the steps that finished since the last look.
    let mut outputs = HashMap::new();
    for step in steps.iter().filter(|s| {
        s.status == StepStatus::Done
            && s.started_at
                .is_some_and(|at| sent.ended.get(&s.seq) != Some(&(at, StepStatus::Done)))
    }) {
        if let Ok(payload) = store.payload(tenant, id, step.seq).await {
            let count = payload
                .output
                .as_ref()
                .and_then(Value::as_object)
                .map(|ports| {
                    ports
                        .values()
                        .filter_map(Value::as_array)
                        .map(Vec::len)
                        .sum()
                })
                .unwrap_or(0);
            outputs.insert(step.seq, count);
        }
    }
    for pending in sent.news(&row, &steps, &outputs) {
        let event = Event::default()
            .event(pending.name)
            .data(pending.data.to_string());
        events.send(event).await.map_err(|_| ())?;
    }
    Ok(sent.run_finished)
}

fn stream(mut events: mpsc::Receiver<Event>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::poll_fn(move |cx| events.poll_recv(cx).map(|e| e.map(Ok)));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /executions/{id}/events`: the run's events so far, then live ones;
/// the stream ends after `run.finished`.
#[utoipa::path(get, path = "/api/v1/executions/{id}/events", tag = "runs", params(("id" = String, Path)), responses((status = 200, description = "SSE: run.started, step.started, step.finished, run.finished; the events so far first", content_type = "text/event-stream")))]
pub(crate) async fn execution_events(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let caller = caller(&extensions)?;
    let engine = state.engine.clone();
    // Subscribed before the first look, so no change falls in between.
    let mut changes = engine.changes();
    engine.store().execution(&caller.tenant, &id).await?;
    let (send, receive) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut sent = Sent::default();
        loop {
            match look(engine.store(), &caller.tenant, &id, &mut sent, &send).await {
                Ok(false) => {}
                Ok(true) | Err(()) => return,
            }
            if !wait_for(&mut changes, &send, |c| {
                c.tenant == caller.tenant && c.execution_id == id
            })
            .await
            {
                return;
            }
        }
    });
    Ok(stream(receive))
}

/// `GET /workflows/{id}/events`: events of the workflow's runs from now on.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/events", tag = "runs", params(("id" = String, Path)), responses((status = 200, description = "SSE: events of the workflow's runs from now on", content_type = "text/event-stream")))]
pub(crate) async fn workflow_events(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let caller = caller(&extensions)?;
    let engine = state.engine.clone();
    let mut changes = engine.changes();
    engine.store().workflow_summary(&caller.tenant, &id).await?;
    let (send, receive) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut runs: HashMap<String, Sent> = HashMap::new();
        loop {
            let change = tokio::select! {
                change = changes.recv() => change,
                _ = send.closed() => return,
            };
            let execution = match change {
                Ok(c) if c.tenant == caller.tenant && c.workflow_id == id => c.execution_id,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Notices were lost: look at every run being followed.
                    let open: Vec<String> = runs.keys().cloned().collect();
                    for run in open {
                        let sent = runs.entry(run.clone()).or_default();
                        if look(engine.store(), &caller.tenant, &run, sent, &send)
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let sent = runs.entry(execution.clone()).or_default();
            match look(engine.store(), &caller.tenant, &execution, sent, &send).await {
                Ok(true) => {
                    runs.remove(&execution);
                }
                Ok(false) => {}
                Err(()) => {
                    if send.is_closed() {
                        return;
                    }
                }
            }
        }
    });
    Ok(stream(receive))
}

/// Waits for a change `wanted` picks, a lag, or the next look; false when
/// the client left or the engine stopped.
async fn wait_for(
    changes: &mut broadcast::Receiver<Change>,
    send: &mpsc::Sender<Event>,
    wanted: impl Fn(&Change) -> bool,
) -> bool {
    let deadline = tokio::time::sleep(LOOK_AGAIN);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(c) if wanted(&c) => return true,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            },
            _ = &mut deadline => return true,
            _ = send.closed() => return false,
        }
    }
}
