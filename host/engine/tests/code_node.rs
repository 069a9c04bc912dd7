//! The Code node in a workflow: the engine hands it earlier nodes' output
//! for `$('Name')`, and its items flow on like any node's.

use std::sync::Arc;

use n8n_work_engine::{Catalog, Engine, EngineConfig, ManualClock, StaticCredentials};
use n8n_work_model::Workflow;
use n8n_work_runtime::{Item, Runtime, RuntimeConfig};
use n8n_work_store::testing::TestStore;
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000_000;

async fn engine(store: &TestStore) -> Engine {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("n8n-work-engine-tests-cache")),
        max_instances: 8,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let catalog = Catalog::builtins(Arc::new(runtime)).await.unwrap();
    Engine::new(
        store.store.clone(),
        Arc::new(catalog),
        Arc::new(ManualClock::new(NOW)),
        EngineConfig::default(),
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

n8n_work_store::both_backends! {
    async fn a_code_node_reads_earlier_nodes_and_feeds_the_next(store) {
        let engine = engine(&store).await;
        let id = run(&engine, "
name: code
nodes:
  - {id: start, type: manual}
  - {id: ids, type: set, params: {fields: {id: 7}, keepOnlySet: true}}
  - id: code
    type: builtin:code
    params:
      mode: runOnceForEachItem
      code: |
        console.log('item', $itemIndex);
        return { id: $json.id, name: $('start').first().json.name, doubled: $json.id * 2 };
  - {id: after, type: set, params: {fields: {seen: '{{ $json.doubled }}'}}}
connections:
  - {from: start, to: ids}
  - {from: ids, to: code}
  - {from: code, to: after}
", json!([{ "name": "Ada" }, { "name": "Grace" }])).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Succeeded, "{:?}", row.error);
        let items: Vec<Value> = row.result.as_ref().unwrap()["main"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["json"].clone())
            .collect();
        assert_eq!(
            items,
            vec![
                json!({ "id": 7, "name": "Ada", "doubled": 14, "seen": 14 }),
                json!({ "id": 7, "name": "Ada", "doubled": 14, "seen": 14 })
            ]
        );
    }
}

n8n_work_store::both_backends! {
    async fn a_code_error_fails_the_run_with_the_users_line(store) {
        let engine = engine(&store).await;
        let id = run(&engine, "
name: code-error
nodes:
  - {id: start, type: manual}
  - id: code
    type: builtin:code
    params:
      code: |
        const first = items[0];
        return first.json.missing.deeper;
connections:
  - {from: start, to: code}
", json!([{ "a": 1 }])).await;
        let row = store.execution(T, &id).await.unwrap();
        assert_eq!(row.status, ExecutionStatus::Failed);
        let message = row.error.as_ref().unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("line 2, column"), "{message}");
    }
}
