//! Workflows run by the engine on SQLite and PostgreSQL, with an injected
//! clock: due times are asserted, never slept for.

use std::sync::Arc;

use n8n_work_engine::{Catalog, Engine, EngineConfig, ManualClock, StaticCredentials};
use n8n_work_model::Workflow;
use n8n_work_runtime::{Item, Runtime, RuntimeConfig};
use n8n_work_store::testing::TestStore;
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus, StepStatus};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000_000;

async fn engine(store: &TestStore, clock: &ManualClock) -> Engine {
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
            owner: "test-worker".into(),
            ..EngineConfig::default()
        },
        Arc::new(StaticCredentials::default()),
    )
}

async fn run(engine: &Engine, yaml: &str, input: Value) -> String {
    let workflow = Workflow::from_yaml(yaml).unwrap();
    let version = engine.deploy(T, &workflow).await.unwrap();
    let items = Item::list_from_value(input).unwrap();
    let id = engine.start(T, &version, items, None).await.unwrap();
    engine.run_until_idle().await.unwrap();
    id
}

/// The JSON of the items on `port` of the run's result.
fn result(row: &n8n_work_store::ExecutionRow, port: &str) -> Vec<Value> {
    row.result.as_ref().unwrap()[port]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["json"].clone())
        .collect()
}

n8n_work_store::both_backends! {
    async fn linear_set_runs_expressions(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: linear
nodes:
  - {id: start, type: manual}
  - id: greet
    type: set
    params:
      fields:
        greeting: 'hello {{ $json.name }}'
        user.upper: '{{ $json.name.toUpperCase() }}'
        first: '{{ $(\"start\").first().json.name }}'
connections:
  - {from: start, to: greet}
", json!({ "name": "Ada" })).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(
            result(&row, "main"),
            vec![json!({ "name": "Ada", "greeting": "hello Ada", "user": { "upper": "ADA" }, "first": "Ada" })]
        );
    }
}

n8n_work_store::both_backends! {
    async fn fan_out_and_merge_modes(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: fan-out
nodes:
  - {id: start, type: manual}
  - {id: a, type: set, params: {fields: {id: 1, a: yes}, keepOnlySet: true}}
  - {id: b, type: set, params: {fields: {id: 1, b: yes}, keepOnlySet: true}}
  - {id: c, type: set, params: {fields: {id: 2, c: yes}, keepOnlySet: true}}
  - {id: append, type: merge, params: {mode: append}}
  - {id: join, type: merge, params: {mode: byKey, key: id}}
  - {id: outer, type: merge, params: {mode: byKey, key: id, join: outer}}
  - {id: all, type: merge, params: {mode: append}}
connections:
  - {from: start, to: a}
  - {from: start, to: b}
  - {from: start, to: c}
  - {from: a, to: append, input: '0'}
  - {from: b, to: append, input: '1'}
  - {from: a, to: join, input: '0'}
  - {from: b, to: join, input: '1'}
  - {from: a, to: outer, input: '0'}
  - {from: c, to: outer, input: '1'}
  - {from: append, to: all, input: '0'}
  - {from: join, to: all, input: '1'}
  - {from: outer, to: all, input: '2'}
", json!({})).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(
            result(&row, "main"),
            vec![
                json!({ "id": 1, "a": "yes" }),
                json!({ "id": 1, "b": "yes" }),
                json!({ "id": 1, "a": "yes", "b": "yes" }),
                json!({ "id": 1, "a": "yes" }),
                json!({ "id": 2, "c": "yes" }),
            ]
        );
        let steps = store.steps(T, &id).await.unwrap();
        // Each merge ran once, with all of its inputs.
        assert_eq!(steps.iter().filter(|s| s.node_id == "all").count(), 1);
    }
}

n8n_work_store::both_backends! {
    async fn if_routes_and_a_merge_gets_what_arrived(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: branching
nodes:
  - {id: start, type: manual}
  - {id: big, type: if, params: {condition: '{{ $json.n > 10 }}'}}
  - {id: yes, type: set, params: {fields: {size: big}}}
  - {id: no, type: set, params: {fields: {size: small}}}
  - {id: both, type: merge}
connections:
  - {from: start, to: big}
  - {from: big, port: true, to: yes}
  - {from: big, port: false, to: no}
  - {from: yes, to: both, input: '0'}
  - {from: no, to: both, input: '1'}
", json!([{ "n": 50 }, { "n": 5 }, { "n": 99 }])).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(
            result(&row, "main"),
            vec![json!({ "n": 50, "size": "big" }), json!({ "n": 99, "size": "big" }), json!({ "n": 5, "size": "small" })]
        );
        let id = run(&engine, "
name: one-branch
nodes:
  - {id: start, type: manual}
  - {id: big, type: if, params: {condition: '{{ $json.n > 10 }}'}}
  - {id: yes, type: set, params: {fields: {size: big}}}
  - {id: no, type: set, params: {fields: {size: small}}}
  - {id: both, type: merge}
connections:
  - {from: start, to: big}
  - {from: big, port: true, to: yes}
  - {from: big, port: false, to: no}
  - {from: yes, to: both, input: '0'}
  - {from: no, to: both, input: '1'}
", json!([{ "n": 1 }])).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(result(&row, "main"), vec![json!({ "n": 1, "size": "small" })]);
        let steps = store.steps(T, &id).await.unwrap();
        assert!(steps.iter().all(|s| s.node_id != "yes"), "the empty branch did not run");
    }
}

const FLAKY: &str = "
name: flaky
nodes:
  - {id: start, type: manual}
  - id: call
    type: builtin:test-guest
    params: {mode: fail, retryable: true, retryAfterMs: RETRY_AFTER}
    retry: {maxAttempts: 3, backoff: {initialMs: 1000, maxMs: 60000}, jitter: false}
connections:
  - {from: start, to: call}
";

n8n_work_store::both_backends! {
    async fn retries_back_off_then_dead_letter_and_replay(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, &FLAKY.replace("RETRY_AFTER", "10"), json!({})).await;
        let call = |steps: Vec<n8n_work_store::StepRow>| steps.into_iter().find(|s| s.node_id == "call").unwrap();
        let step = call(store.steps(T, &id).await.unwrap());
        assert_eq!((step.status, step.attempt), (StepStatus::Ready, 1));
        assert_eq!(step.due_at, Some(NOW + 1_000), "first backoff: the initial delay");
        // Not due yet: nothing runs.
        clock.advance(999);
        engine.run_until_idle().await.unwrap();
        assert_eq!(call(store.steps(T, &id).await.unwrap()).attempt, 1);
        clock.advance(1);
        engine.run_until_idle().await.unwrap();
        let step = call(store.steps(T, &id).await.unwrap());
        assert_eq!(step.attempt, 2);
        assert_eq!(step.due_at, Some(NOW + 1_000 + 2_000), "second backoff doubles");
        clock.advance(2_000);
        engine.run_until_idle().await.unwrap();
        let step = call(store.steps(T, &id).await.unwrap());
        assert_eq!((step.status, step.attempt), (StepStatus::Failed, 3));
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Failed);
        assert_eq!(row.error.unwrap()["node"], "call");
        let letters = store.dead_letters(T).await.unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].node_id, "call");
        // Replay runs the step again, from attempt 1, in the same run.
        engine.replay(T, &letters[0].id).await.unwrap();
        engine.run_until_idle().await.unwrap();
        let step = call(store.steps(T, &id).await.unwrap());
        assert_eq!((step.status, step.attempt), (StepStatus::Ready, 1));
        assert_eq!(store.execution(T, &id).await.unwrap().status, ExecutionStatus::Running);
        assert!(store.replay(T, &letters[0].id, NOW).await.is_err(), "a dead letter replays once");
    }
}

n8n_work_store::both_backends! {
    async fn a_vendor_retry_after_outweighs_the_backoff(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, &FLAKY.replace("RETRY_AFTER", "45000"), json!({})).await;
        let steps = store.steps(T, &id).await.unwrap();
        let step = steps.iter().find(|s| s.node_id == "call").unwrap();
        assert_eq!(step.due_at, Some(NOW + 45_000));
    }
}

#[test]
fn jittered_delays_stay_within_the_backoff() {
    let policy: n8n_work_model::RetryPolicy = serde_json::from_value(
        json!({ "maxAttempts": 5, "backoff": { "initialMs": 100, "maxMs": 350 } }),
    )
    .unwrap();
    for attempt in 1..6 {
        let cap = (100_i64 << (attempt - 1)).min(350);
        for _ in 0..200 {
            let delay = n8n_work_engine::retry_delay(Some(&policy), attempt, None);
            assert!(
                (0..=cap).contains(&delay),
                "attempt {attempt}: {delay} outside 0..={cap}"
            );
        }
    }
}

n8n_work_store::both_backends! {
    async fn continue_and_error_output(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: on-error
nodes:
  - {id: start, type: manual}
  - {id: soft, type: builtin:test-guest, params: {mode: fail}, onError: continue}
  - {id: routed, type: builtin:test-guest, params: {mode: fail, code: E42}, onError: error-output}
  - {id: handled, type: set, params: {fields: {handled: '{{ $json.error.code }}'}}}
connections:
  - {from: start, to: soft}
  - {from: soft, to: routed}
  - {from: routed, port: error, to: handled}
", json!({ "n": 1 })).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        let items = result(&row, "main");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["n"], 1);
        assert_eq!(items[0]["handled"], "E42");
        assert_eq!(items[0]["error"]["node"], "routed");
    }
}

n8n_work_store::both_backends! {
    async fn the_error_workflow_starts_and_compensations_run_latest_first(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let handler = Workflow::from_yaml("
name: on-failure
nodes:
  - {id: start, type: manual}
  - {id: note, type: set, params: {fields: {failed: '{{ $json.execution.error.node }}'}}}
connections:
  - {from: start, to: note}
").unwrap();
        engine.deploy(T, &handler).await.unwrap();
        let id = run(&engine, "
name: booking
settings: {errorWorkflow: on-failure}
nodes:
  - {id: start, type: manual}
  - {id: hotel, type: set, params: {fields: {hotel: booked}}, compensate: cancel-hotel}
  - {id: flight, type: set, params: {fields: {flight: booked}}, compensate: cancel-flight}
  - {id: pay, type: stop-and-error, params: {message: card declined}}
  - {id: cancel-hotel, type: set, params: {fields: {undo: hotel}}}
  - {id: cancel-flight, type: set, params: {fields: {undo: flight}}}
connections:
  - {from: start, to: hotel}
  - {from: hotel, to: flight}
  - {from: flight, to: pay}
", json!({})).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Failed);
        assert_eq!(row.error.as_ref().unwrap()["message"], "card declined");
        let steps = store.steps(T, &id).await.unwrap();
        let compensations: Vec<_> = steps
            .iter()
            .filter(|s| s.kind == n8n_work_store::StepKind::Compensation)
            .map(|s| (s.node_id.as_str(), s.status, s.done_order))
            .collect();
        assert_eq!(compensations.len(), 2);
        assert_eq!(compensations[0].0, "cancel-flight");
        assert_eq!(compensations[1].0, "cancel-hotel");
        assert!(compensations[0].2 < compensations[1].2, "the flight is undone before the hotel");
        assert!(compensations.iter().all(|c| c.1 == StepStatus::Done));
        let handler = store.workflow_by_name(T, "on-failure").await.unwrap();
        let runs = store.executions_of(T, &handler.workflow_id).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, ExecutionStatus::Succeeded);
        assert_eq!(runs[0].result.as_ref().unwrap()["main"][0]["json"]["failed"], "pay");
    }
}

n8n_work_store::both_backends! {
    async fn wait_parks_then_resumes_by_time_and_by_call(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: waits
nodes:
  - {id: start, type: manual}
  - {id: pause, type: wait, params: {amountMs: 60000}}
  - {id: approval, type: wait, params: {resume: call}}
  - {id: after, type: set, params: {fields: {approved: '{{ $json.approved }}'}}}
connections:
  - {from: start, to: pause}
  - {from: pause, to: approval}
  - {from: approval, to: after}
", json!({})).await;
        let steps = store.steps(T, &id).await.unwrap();
        let pause = steps.iter().find(|s| s.node_id == "pause").unwrap();
        assert_eq!((pause.status, pause.due_at), (StepStatus::Waiting, Some(NOW + 60_000)));
        assert_eq!(pause.lease_owner, None, "a parked step holds no worker");
        clock.advance(60_000);
        engine.run_until_idle().await.unwrap();
        let steps = store.steps(T, &id).await.unwrap();
        let approval = steps.iter().find(|s| s.node_id == "approval").unwrap();
        assert_eq!((approval.status, approval.due_at), (StepStatus::Waiting, None));
        let key = n8n_work_store::StepKey { tenant: T.into(), execution_id: id.clone(), seq: approval.seq };
        let token = store.resume_token(&key).await.unwrap().expect("a resume token");
        assert!(engine.resume(T, "not-the-token", json!({})).await.is_err());
        engine.resume(T, &token, json!({ "approved": true })).await.unwrap();
        engine.run_until_idle().await.unwrap();
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(result(&row, "main"), vec![json!({ "approved": true })]);
    }
}

n8n_work_store::both_backends! {
    async fn cancelling_interrupts_a_running_step(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let workflow = Workflow::from_yaml("
name: forever
nodes:
  - {id: start, type: manual}
  - {id: spin, type: builtin:test-guest, params: {mode: loop}, timeoutMs: 600000}
  - {id: never, type: noop}
connections:
  - {from: start, to: spin}
  - {from: spin, to: never}
").unwrap();
        let version = engine.deploy(T, &workflow).await.unwrap();
        let id = engine.start(T, &version, vec![], None).await.unwrap();
        let driver = tokio::spawn({
            let engine = engine.clone();
            async move { engine.run_until_idle().await }
        });
        // Wait until the step is running, by its state in the store.
        loop {
            let steps = store.steps(T, &id).await.unwrap();
            if steps.iter().any(|s| s.node_id == "spin" && s.status == StepStatus::Running) {
                break;
            }
            assert!(!store.execution(T, &id).await.unwrap().status.is_final(), "{steps:?}");
            tokio::task::yield_now().await;
        }
        engine.cancel(T, &id).await.unwrap();
        driver.await.unwrap().unwrap();
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Cancelled);
        let steps = store.steps(T, &id).await.unwrap();
        let spin = steps.iter().find(|s| s.node_id == "spin").unwrap();
        assert_eq!(spin.status, StepStatus::Cancelled);
        assert!(steps.iter().all(|s| s.node_id != "never"));
    }
}

n8n_work_store::both_backends! {
    async fn loops_give_each_iteration_its_own_key(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: batches
nodes:
  - {id: start, type: manual}
  - {id: each, type: loop, params: {batchSize: 2}}
  - {id: work, type: builtin:test-guest, params: {mode: echo}}
  - {id: keep, type: filter, params: {condition: '{{ $json.n !== undefined }}'}}
  - {id: done, type: noop}
connections:
  - {from: start, to: each}
  - {from: each, port: loop, to: work}
  - {from: work, to: keep}
  - {from: keep, to: each}
  - {from: each, port: done, to: done}
", json!([{ "n": 1 }, { "n": 2 }, { "n": 3 }])).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded);
        assert_eq!(result(&row, "main"), vec![json!({ "n": 1 }), json!({ "n": 2 }), json!({ "n": 3 })]);
        let steps = store.steps(T, &id).await.unwrap();
        let keys: Vec<_> = steps.iter().filter(|s| s.node_id == "work").map(|s| s.idempotency_key.clone()).collect();
        assert_eq!(keys, vec![format!("{id}/work/1"), format!("{id}/work/2")]);
    }
}

n8n_work_store::both_backends! {
    async fn hostile_expressions_fail_the_step_cleanly(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        for (expr, needle) in [
            ("{{ this.constructor.constructor('return process')() }}", ""),
            ("{{ 'x'.repeat(1e9) }}", ""),
            ("{{ (function f(){ return f() })() }}", ""),
            ("{{ $json.a.b.c }}", "$json.a.b.c"),
        ] {
            let yaml = format!(
                "name: hostile\nnodes:\n  - {{id: start, type: manual}}\n  - {{id: bad, type: set, params: {{fields: {{x: \"{expr}\"}}}}}}\nconnections:\n  - {{from: start, to: bad}}\n"
            );
            let id = run(&engine, &yaml, json!({})).await;
            let row = store.execution(T, &id).await.unwrap();
            assert_eq!(row.status, ExecutionStatus::Failed, "{expr}");
            let error = row.error.unwrap();
            assert_eq!(error["code"], "expression", "{expr}: {error}");
            assert!(error["message"].as_str().unwrap().contains(needle), "{expr}: {error}");
        }
    }
}

n8n_work_store::both_backends! {
    async fn retention_prunes_by_count_and_by_age(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let yaml = "
name: kept
settings: {retention: {maxCount: 2, maxAgeDays: 1}}
nodes:
  - {id: start, type: manual}
";
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(run(&engine, yaml, json!({})).await);
            clock.advance(1_000);
        }
        assert_eq!(engine.prune().await.unwrap(), 2);
        let version = store.workflow_by_name(T, "kept").await.unwrap();
        let left: Vec<_> = store.executions_of(T, &version.workflow_id).await.unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(left, vec![ids[3].clone(), ids[2].clone()], "the newest are kept");
        assert!(store.execution(T, &ids[0]).await.is_err());
        assert!(store.steps(T, &ids[0]).await.unwrap().is_empty(), "steps go with their run");
        clock.advance(86_400_000);
        assert_eq!(engine.prune().await.unwrap(), 2);
        assert!(store.executions_of(T, &version.workflow_id).await.unwrap().is_empty());
    }
}

n8n_work_store::both_backends! {
    async fn n8n_v1_order_runs_one_branch_at_a_time_top_first(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: v1
settings: {executionOrder: n8n-v1}
nodes:
  - {id: start, type: manual}
  - {id: low1, type: noop, position: {x: 200, y: 300}}
  - {id: low2, type: noop, position: {x: 400, y: 300}}
  - {id: top1, type: noop, position: {x: 200, y: 100}}
  - {id: top2, type: noop, position: {x: 400, y: 100}}
  - {id: mid1, type: noop, position: {x: 200, y: 200}}
  - {id: mid2, type: noop, position: {x: 400, y: 200}}
connections:
  - {from: start, to: low1}
  - {from: start, to: top1}
  - {from: start, to: mid1}
  - {from: low1, to: low2}
  - {from: top1, to: top2}
  - {from: mid1, to: mid2}
", json!({})).await;
        let mut steps = store.steps(T, &id).await.unwrap();
        steps.sort_by_key(|s| s.done_order);
        let order: Vec<_> = steps.iter().map(|s| s.node_id.as_str()).collect();
        assert_eq!(order, vec!["start", "top1", "top2", "mid1", "mid2", "low1", "low2"]);
    }
}

n8n_work_store::both_backends! {
    async fn a_run_past_its_timeout_fails_at_the_next_step(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: slow
settings: {runTimeoutMs: 5000}
nodes:
  - {id: start, type: manual}
  - {id: pause, type: wait, params: {amountMs: 60000}}
  - {id: after, type: noop}
connections:
  - {from: start, to: pause}
  - {from: pause, to: after}
", json!({})).await;
        clock.advance(60_000);
        engine.run_until_idle().await.unwrap();
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Failed);
        assert_eq!(row.error.unwrap()["code"], "run-timeout");
    }
}

n8n_work_store::both_backends! {
    async fn merge_by_position_and_wait_for_both(store) {
        let clock = ManualClock::new(NOW);
        let engine = engine(&store, &clock).await;
        let id = run(&engine, "
name: merges
nodes:
  - {id: start, type: manual}
  - {id: names, type: set, params: {fields: {name: '{{ $json.n == 1 ? \"ada\" : \"alan\" }}'}, keepOnlySet: true}}
  - {id: ages, type: set, params: {fields: {age: '{{ $json.n * 10 }}'}, keepOnlySet: true}}
  - {id: paired, type: merge, params: {mode: position}}
  - {id: second, type: merge, params: {mode: wait, output: '1'}}
  - {id: all, type: merge, params: {mode: append}}
connections:
  - {from: start, to: names}
  - {from: start, to: ages}
  - {from: names, to: paired, input: '0'}
  - {from: ages, to: paired, input: '1'}
  - {from: names, to: second, input: '0'}
  - {from: ages, to: second, input: '1'}
  - {from: paired, to: all, input: '0'}
  - {from: second, to: all, input: '1'}
", json!([{ "n": 1 }, { "n": 2 }])).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(
            result(&row, "main"),
            vec![
                json!({ "name": "ada", "age": 10 }),
                json!({ "name": "alan", "age": 20 }),
                json!({ "age": 10 }),
                json!({ "age": 20 }),
            ]
        );
    }
}
