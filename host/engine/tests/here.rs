//! Runs that execute where they start ([`Engine::run_here`]): the same
//! results and the same journal as runs the workers drive from the queue,
//! one append for a run of control nodes, and a hand-over to the workers
//! for what only they do (retries, waits, failures).

use std::sync::Arc;

use n8n_work_engine::{Catalog, Engine, EngineConfig, ManualClock, StaticCredentials};
use n8n_work_model::Workflow;
use n8n_work_runtime::{Item, Runtime, RuntimeConfig};
use n8n_work_store::testing::TestStore;
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus, StepRow, StepStatus};
use serde_json::json;

const NOW: i64 = 1_800_000_000_000;

async fn engine(store: &TestStore, clock: &ManualClock, owner: &str) -> Engine {
    engine_with(store, clock, owner, true).await
}

async fn engine_with(
    store: &TestStore,
    clock: &ManualClock,
    owner: &str,
    drives_runs: bool,
) -> Engine {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("n8n-work-engine-tests-cache")),
        max_instances: 16,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let catalog = Catalog::builtins(Arc::new(runtime)).await.unwrap();
    Engine::new(
        store.store.clone(),
        Arc::new(catalog),
        Arc::new(clock.clone()),
        EngineConfig {
            owner: owner.into(),
            drives_runs,
            ..EngineConfig::default()
        },
        Arc::new(StaticCredentials::default()),
    )
}

/// What a run's journal says, independent of the order concurrent steps
/// happened to take: each step's node, iteration, status, attempt and key,
/// sorted.
fn journal(steps: &[StepRow]) -> Vec<(String, i64, &'static str, i64, String)> {
    let mut rows: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.node_id.clone(),
                s.iteration,
                s.status.as_str(),
                s.attempt,
                // run/node/iteration[#n]: all but the run's id.
                s.idempotency_key
                    .split_once('/')
                    .map_or(String::new(), |(_, key)| key.to_owned()),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// `value` as JSON text with the run's id left out (a node may echo its
/// idempotency key, which names the run).
fn without(value: &Option<serde_json::Value>, run: &str) -> String {
    serde_json::to_string(value).unwrap().replace(run, "RUN")
}

// One leaf each: a run's result is its last completed step's output, and
// which of two leaves completes last is up to scheduling.
const WORKFLOWS: &[&str] = &[
    "
name: linear
nodes:
  - {id: start, type: manual}
  - id: greet
    type: set
    params:
      fields:
        greeting: 'hello {{ $json.name }}'
        first: '{{ $(\"start\").first().json.name }}'
connections:
  - {from: start, to: greet}
",
    "
name: fan-out
nodes:
  - {id: start, type: manual}
  - {id: a, type: set, params: {fields: {id: 1, a: yes}, keepOnlySet: true}}
  - {id: b, type: set, params: {fields: {id: 1, b: yes}, keepOnlySet: true}}
  - {id: append, type: merge, params: {mode: append}}
  - {id: join, type: merge, params: {mode: byKey, key: id}}
  - {id: all, type: merge, params: {mode: append}}
connections:
  - {from: start, to: a}
  - {from: start, to: b}
  - {from: a, to: append, input: '0'}
  - {from: b, to: append, input: '1'}
  - {from: a, to: join, input: '0'}
  - {from: b, to: join, input: '1'}
  - {from: append, to: all, input: '0'}
  - {from: join, to: all, input: '1'}
",
    "
name: v1
settings: {executionOrder: n8n-v1}
nodes:
  - {id: start, type: manual}
  - {id: low1, type: noop, position: {x: 200, y: 300}}
  - {id: low2, type: noop, position: {x: 400, y: 300}}
  - {id: top1, type: noop, position: {x: 200, y: 100}}
  - {id: top2, type: noop, position: {x: 400, y: 100}}
connections:
  - {from: start, to: low1}
  - {from: start, to: top1}
  - {from: low1, to: low2}
  - {from: top1, to: top2}
",
    "
name: branches
nodes:
  - {id: start, type: manual}
  - {id: check, type: if, params: {condition: '{{ $json.n > 1 }}'}}
  - {id: big, type: set, params: {fields: {size: big}}}
  - {id: small, type: set, params: {fields: {size: small}}}
  - {id: both, type: merge, params: {mode: append}}
  - {id: call, type: 'builtin:test-guest', params: {mode: echo}}
connections:
  - {from: start, to: check}
  - {from: check, port: true, to: big}
  - {from: check, port: false, to: small}
  - {from: big, to: both, input: '0'}
  - {from: small, to: both, input: '1'}
  - {from: both, to: call}
",
];

n8n_work_store::both_backends! {
    async fn a_run_here_gives_the_workers_result_and_journal(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock, "here").await;
        // Every step through the queue, one transition at a time.
        let queue = engine_with(&store, &clock, "queue", false).await;
        let input = json!([{ "name": "Ada", "n": 1 }, { "name": "Bo", "n": 2 }]);
        for yaml in WORKFLOWS {
            let workflow = Workflow::from_yaml(yaml).unwrap();
            let version = engine.deploy(T, &workflow).await.unwrap();
            let items = || Item::list_from_value(input.clone()).unwrap();
            let queued = queue.start(T, &version, items(), None).await.unwrap();
            queue.run_until_idle().await.unwrap();
            let here = engine
                .run_here(T, &version.workflow_id, version.version, "start", items())
                .await
                .unwrap();
            let expected = store.execution(T, &queued).await.unwrap();
            assert_eq!(expected.status, ExecutionStatus::Succeeded, "{}", workflow.name);
            assert_eq!(here.status, ExecutionStatus::Succeeded, "{}", workflow.name);
            assert_eq!(
                without(&here.result, &here.id),
                without(&expected.result, &queued),
                "{}",
                workflow.name
            );
            // What it returned is what the store holds.
            let stored = store.execution(T, &here.id).await.unwrap();
            assert_eq!((stored.status, &stored.result), (here.status, &here.result));
            assert_eq!(
                journal(&store.steps(T, &here.id).await.unwrap()),
                journal(&store.steps(T, &queued).await.unwrap()),
                "{}",
                workflow.name
            );
            for step in store.steps(T, &here.id).await.unwrap() {
                let payload = store.payload(T, &here.id, step.seq).await.unwrap();
                let queued_step = store
                    .steps(T, &queued)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|s| s.node_id == step.node_id && s.iteration == step.iteration)
                    .unwrap();
                let queued_payload = store.payload(T, &queued, queued_step.seq).await.unwrap();
                assert_eq!(
                    without(&payload.output, &here.id),
                    without(&queued_payload.output, &queued),
                    "{}: {}",
                    workflow.name,
                    step.node_id
                );
                assert!(step.finished_at.is_some() && step.lease_owner.is_none());
            }
        }
    }
}

n8n_work_store::both_backends! {
    async fn a_worker_drives_a_run_it_has_alone_with_one_write_per_durable_point(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock, "worker").await;
        let workflow = Workflow::from_yaml(WORKFLOWS[3]).unwrap();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let items = Item::list_from_value(json!([{ "n": 1 }, { "n": 2 }])).unwrap();
        let id = engine.start(T, &version, items, None).await.unwrap();
        let before = store.stats();
        engine.run_until_idle().await.unwrap();
        let after = store.stats();
        assert_eq!(store.execution(T, &id).await.unwrap().status, ExecutionStatus::Succeeded);
        // The append before the component, and the one at the end; the
        // transitions of the control nodes before it cost no write.
        assert_eq!(after.appends - before.appends, 2, "{before:?} → {after:?}");
    }
}

n8n_work_store::both_backends! {
    async fn a_run_of_control_nodes_costs_one_write(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock, "here").await;
        let workflow = Workflow::from_yaml(WORKFLOWS[1]).unwrap();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let before = store.stats();
        let row = engine
            .run_here(T, &version.workflow_id, version.version, "start", vec![])
            .await
            .unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        let after = store.stats();
        assert_eq!(after.writes - before.writes, 1, "one append for the whole run");
    }
}

const FLAKY: &str = "
name: flaky
nodes:
  - {id: start, type: manual}
  - {id: before, type: set, params: {fields: {seen: yes}}}
  - id: call
    type: builtin:test-guest
    params: {mode: fail, retryable: true}
    retry: {maxAttempts: 2, backoff: {initialMs: 1000, maxMs: 60000}, jitter: false}
connections:
  - {from: start, to: before}
  - {from: before, to: call}
";

n8n_work_store::both_backends! {
    async fn a_retry_hands_the_run_to_the_workers_with_its_key(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock, "here").await;
        let workflow = Workflow::from_yaml(FLAKY).unwrap();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let waiting = tokio::spawn({
            let engine = engine.clone();
            async move {
                engine
                    .run_here(T, &version.workflow_id, version.version, "start", vec![])
                    .await
            }
        });
        // The first attempt failed here; the retry is the queue's, due later.
        let (id, call) = loop {
            let runs = store.list_executions(T, &Default::default(), 10).await.unwrap();
            if let Some(run) = runs.first() {
                let steps = store.steps(T, &run.id).await.unwrap();
                if let Some(call) = steps.into_iter().find(|s| s.node_id == "call" && s.status == StepStatus::Ready) {
                    break (run.id.clone(), call);
                }
            }
            tokio::task::yield_now().await;
        };
        assert_eq!((call.attempt, call.due_at), (1, Some(NOW + 1_000)));
        assert!(call.lease_owner.is_none(), "no longer held here");
        let before = store
            .steps(T, &id)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.node_id == "before")
            .unwrap();
        assert_eq!(before.status, StepStatus::Done);
        clock.advance(1_000);
        engine.run_until_idle().await.unwrap();
        let row = waiting.await.unwrap().unwrap();
        assert_eq!(row.status, ExecutionStatus::Failed);
        let steps = store.steps(T, &id).await.unwrap();
        let call_after = steps.iter().find(|s| s.node_id == "call").unwrap();
        assert_eq!((call_after.attempt, &call_after.idempotency_key), (2, &call.idempotency_key));
        assert_eq!(steps.iter().filter(|s| s.node_id == "before").count(), 1, "not run again");
        assert_eq!(store.dead_letters(T).await.unwrap().len(), 1);
    }
}

n8n_work_store::both_backends! {
    async fn a_run_whose_process_died_is_resumed_from_its_journal(store) {
        // The process that started the run is gone at a durable point: its
        // step in flight is held under its lease. Another worker takes it
        // over once the lease lapses and runs it, not what was done before.
        let clock = ManualClock::new(NOW);
        let first = engine(&store, &clock, "first").await;
        let workflow = Workflow::from_yaml("
name: resumable
nodes:
  - {id: start, type: manual}
  - {id: before, type: set, params: {fields: {seen: yes}}}
  - {id: spin, type: 'builtin:test-guest', params: {mode: loop}, timeoutMs: 600000}
connections:
  - {from: start, to: before}
  - {from: before, to: spin}
").unwrap();
        let version = first.deploy(T, &workflow).await.unwrap();
        let running = tokio::spawn({
            let first = first.clone();
            let version = version.clone();
            async move {
                first
                    .run_here(T, &version.workflow_id, version.version, "start", vec![])
                    .await
            }
        });
        let (id, spin) = loop {
            let runs = store.list_executions(T, &Default::default(), 10).await.unwrap();
            if let Some(run) = runs.first() {
                let steps = store.steps(T, &run.id).await.unwrap();
                if let Some(spin) = steps.into_iter().find(|s| s.node_id == "spin" && s.status == StepStatus::Running) {
                    break (run.id.clone(), spin);
                }
            }
            tokio::task::yield_now().await;
        };
        assert_eq!((spin.attempt, spin.lease_owner.as_deref()), (1, Some("first")));
        // The process dies: its task ends where it stands.
        running.abort();
        let _ = running.await;
        // Before the lease lapses, no other worker takes the step.
        let second = engine(&store, &clock, "second").await;
        second.run_until_idle().await.unwrap();
        assert_eq!(store.steps(T, &id).await.unwrap().iter().find(|s| s.node_id == "spin").unwrap().attempt, 1);
        clock.advance(EngineConfig::default().lease_ms + 1);
        assert_eq!(store.reclaim(clock_now(&clock), None).await.unwrap(), 1);
        let steps = store.steps(T, &id).await.unwrap();
        let spin_again = steps.iter().find(|s| s.node_id == "spin").unwrap();
        assert_eq!(spin_again.status, StepStatus::Ready);
        assert_eq!(spin_again.idempotency_key, spin.idempotency_key);
        let before = steps.iter().find(|s| s.node_id == "before").unwrap();
        assert_eq!(before.status, StepStatus::Done, "recorded before the call out");
        // The run can still be cancelled from its journal.
        second.cancel(T, &id).await.unwrap();
        assert_eq!(store.execution(T, &id).await.unwrap().status, ExecutionStatus::Cancelled);
    }
}

fn clock_now(clock: &ManualClock) -> i64 {
    use n8n_work_engine::Clock;
    clock.now()
}

n8n_work_store::both_backends! {
    async fn a_cancelled_run_here_is_not_written_over(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock, "here").await;
        let workflow = Workflow::from_yaml("
name: forever
nodes:
  - {id: start, type: manual}
  - {id: spin, type: 'builtin:test-guest', params: {mode: loop}, timeoutMs: 600000}
  - {id: never, type: noop}
connections:
  - {from: start, to: spin}
  - {from: spin, to: never}
").unwrap();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let running = tokio::spawn({
            let engine = engine.clone();
            async move {
                engine
                    .run_here(T, &version.workflow_id, version.version, "start", vec![])
                    .await
            }
        });
        let id = loop {
            let runs = store.list_executions(T, &Default::default(), 10).await.unwrap();
            if let Some(run) = runs.first() {
                let steps = store.steps(T, &run.id).await.unwrap();
                if steps.iter().any(|s| s.node_id == "spin" && s.status == StepStatus::Running) {
                    break run.id.clone();
                }
            }
            tokio::task::yield_now().await;
        };
        engine.cancel(T, &id).await.unwrap();
        let row = running.await.unwrap().unwrap();
        assert_eq!(row.status, ExecutionStatus::Cancelled);
        let steps = store.steps(T, &id).await.unwrap();
        assert!(steps.iter().all(|s| s.node_id != "never"), "{steps:?}");
        assert_eq!(store.execution(T, &id).await.unwrap().status, ExecutionStatus::Cancelled);
    }
}

const PAUSED: &str = "
name: paused
nodes:
  - {id: start, type: manual}
  - {id: pause, type: wait, params: {amountMs: 1000}}
  - {id: shape, type: set, params: {fields: {woke: yes}}}
  - {id: again, type: set, params: {fields: {twice: yes}}}
connections:
  - {from: start, to: pause}
  - {from: pause, to: shape}
  - {from: shape, to: again}
";

n8n_work_store::both_backends! {
    async fn a_run_woken_from_its_wait_is_driven_to_its_end_with_one_append(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock, "worker").await;
        let workflow = Workflow::from_yaml(PAUSED).unwrap();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let items = Item::list_from_value(json!([{ "n": 1 }])).unwrap();
        let id = engine.start(T, &version, items, None).await.unwrap();
        engine.run_until_idle().await.unwrap();
        let parked = store.steps(T, &id).await.unwrap();
        assert!(parked.iter().any(|s| s.node_id == "pause" && s.status == StepStatus::Waiting), "{parked:?}");
        clock.advance(1000);
        let before = store.stats();
        engine.run_until_idle().await.unwrap();
        let after = store.stats();
        let run = store.execution(T, &id).await.unwrap();
        assert_eq!(run.status, ExecutionStatus::Succeeded, "{:?}", run.error);
        assert_eq!(run.result, Some(json!({ "main": [{ "json": { "n": 1, "woke": "yes", "twice": "yes" } }] })));
        // One append for the wait and both Sets: the woken wait neither
        // parks again nor goes step by step through the queue. Besides it,
        // the wait's claim and the worker loop's own writes (a reclaim or
        // a heartbeat, when one falls due meanwhile): at most 5 in all,
        // where completing the woken wait through the queue and claiming
        // the next step made 6 (SQLite) or 7 (PostgreSQL).
        assert_eq!(after.appends - before.appends, 1, "{before:?} → {after:?}");
        let writes = after.writes - before.writes;
        assert!(writes <= 5, "{writes} writes: {before:?} → {after:?}");
        let steps = journal(&store.steps(T, &id).await.unwrap());
        assert_eq!(
            steps.iter().map(|s| (s.0.as_str(), s.2, s.3)).collect::<Vec<_>>(),
            [("again", "done", 1), ("pause", "done", 1), ("shape", "done", 1), ("start", "done", 1)]
        );
    }
}
