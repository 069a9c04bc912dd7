//! Node state (`wit/node.wit`'s `state`) outlives the run that wrote it:
//! a step's writes are committed with its result, on the path a run takes
//! where it starts and on the workers' queue, and a failed attempt leaves
//! none of them.

use std::sync::Arc;

use n8n_work_engine::{Catalog, Engine, EngineConfig, ManualClock, StaticCredentials};
use n8n_work_model::Workflow;
use n8n_work_runtime::{Item, Runtime, RuntimeConfig};
use n8n_work_store::testing::TestStore;
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000_000;

async fn engine(store: &TestStore, drives_runs: bool) -> Engine {
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
        Arc::new(ManualClock::new(NOW)),
        EngineConfig {
            owner: "here".into(),
            drives_runs,
            ..EngineConfig::default()
        },
        Arc::new(StaticCredentials::default()),
    )
}

/// The test guest's `state` mode counts its calls in its node's state; a
/// node whose params read the item runs once per item.
const COUNTER: &str = "
name: counter
nodes:
  - {id: start, type: manual}
  - id: count
    type: builtin:test-guest
    params: {mode: '{{ $json.mode }}', message: 'second item fails'}
connections:
  - {from: start, to: count}
";

fn items(modes: &[&str]) -> Vec<Item> {
    modes
        .iter()
        .map(|mode| serde_json::from_value(json!({ "json": { "mode": mode } })).unwrap())
        .collect()
}

/// What the counter node's state says.
async fn counter(store: &TestStore, workflow: &str) -> Option<String> {
    store
        .node_state(T, workflow, "count")
        .await
        .unwrap()
        .get("counter")
        .map(|v| String::from_utf8(v.clone()).unwrap())
}

/// The counters the run's `count` step reported, in item order.
async fn reported(store: &TestStore, run: &str) -> Vec<Value> {
    let outputs = store.outputs(T, run).await.unwrap();
    let (_, output) = outputs.iter().find(|(node, _)| node == "count").unwrap();
    output["main"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["json"]["counter"].clone())
        .collect()
}

n8n_work_store::both_backends! {
    async fn node_state_outlives_the_run_where_it_starts_and_on_the_queue(store) {
        let here = engine(&store, true).await;
        let version = here.deploy(T, &Workflow::from_yaml(COUNTER).unwrap()).await.unwrap();
        let id = version.workflow_id.clone();
        assert_eq!(counter(&store, &id).await, None, "a new node keeps nothing");
        // Runs here, in the caller's task: one append each.
        for expected in 1..=2 {
            let row = here.run_here(T, &id, version.version, "start", items(&["state"])).await.unwrap();
            assert_eq!(row.status, ExecutionStatus::Succeeded, "{row:?}");
            assert_eq!(reported(&store, &row.id).await, vec![json!(expected)]);
        }
        // The same node's state, read and written through the queue by an
        // engine that does not drive runs itself (another process's view).
        let queue = engine(&store, false).await;
        let run = queue.start(T, &version, items(&["state"]), None).await.unwrap();
        queue.run_until_idle().await.unwrap();
        assert_eq!(store.execution(T, &run).await.unwrap().status, ExecutionStatus::Succeeded);
        assert_eq!(reported(&store, &run).await, vec![json!(3)]);
        // Item by item, each call reads what the one before it wrote.
        let row = here.run_here(T, &id, version.version, "start", items(&["state", "state"])).await.unwrap();
        assert_eq!(reported(&store, &row.id).await, vec![json!(4), json!(5)]);
        assert_eq!(counter(&store, &id).await.as_deref(), Some("5"));
        // Kept per workflow and node: another workflow's node starts afresh.
        let other = here
            .deploy(T, &Workflow::from_yaml(&COUNTER.replace("name: counter", "name: other")).unwrap())
            .await
            .unwrap();
        here.run_here(T, &other.workflow_id, other.version, "start", items(&["state"])).await.unwrap();
        assert_eq!(counter(&store, &other.workflow_id).await.as_deref(), Some("1"));
        assert_eq!(counter(&store, &id).await.as_deref(), Some("5"));
        let all = store.workflow_node_state(T, &id).await.unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), vec!["count"]);
    }
}

n8n_work_store::both_backends! {
    async fn a_failed_step_leaves_none_of_its_state_writes(store) {
        for drives_runs in [true, false] {
            let engine = engine(&store, drives_runs).await;
            let workflow = COUNTER.replace("name: counter", &format!("name: failing-{drives_runs}"));
            let version = engine.deploy(T, &Workflow::from_yaml(&workflow).unwrap()).await.unwrap();
            let id = version.workflow_id.clone();
            let ok = engine.run_here(T, &id, version.version, "start", items(&["state"])).await.unwrap();
            assert_eq!(ok.status, ExecutionStatus::Succeeded);
            // The first item's call counts, the second's fails: the step
            // fails, and the first call's write goes with it.
            let run = engine.start(T, &version, items(&["state", "fail"]), None).await.unwrap();
            engine.run_until_idle().await.unwrap();
            let row = store.execution(T, &run).await.unwrap();
            assert_eq!(row.status, ExecutionStatus::Failed, "{row:?}");
            assert_eq!(counter(&store, &id).await.as_deref(), Some("1"), "drives runs: {drives_runs}");
            let failed_here = engine
                .run_here(T, &id, version.version, "start", items(&["state", "fail"]))
                .await
                .unwrap();
            assert_eq!(failed_here.status, ExecutionStatus::Failed);
            assert_eq!(counter(&store, &id).await.as_deref(), Some("1"), "drives runs: {drives_runs}");
        }
    }
}
