//! The engine the import tests run imported workflows on: SQLite, the
//! built-in components built from source, a manual clock.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use n8n_work_engine::{Catalog, Engine, EngineConfig, ManualClock, StaticCredentials};
use n8n_work_runtime::{EgressConfig, Runtime, RuntimeConfig};

/// An engine whose nodes may reach the private addresses in `allow_private`
/// (such as `127.0.0.1` for a loopback server), or none.
pub async fn engine(
    owner: &str,
    allow_private: Option<&str>,
) -> (Engine, n8n_work_store::testing::TestStore) {
    let store = n8n_work_store::testing::sqlite().await.unwrap();
    let mut egress = EgressConfig::default();
    if let Some(list) = allow_private {
        egress.allow_private = list.parse().unwrap();
    }
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join("n8n-work-import-tests-cache")),
        max_instances: 4,
        egress,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let catalog = Catalog::builtins(Arc::new(runtime)).await.unwrap();
    let engine = Engine::new(
        store.store.clone(),
        Arc::new(catalog),
        Arc::new(ManualClock::new(1_800_000_000_000)),
        EngineConfig {
            owner: owner.into(),
            ..EngineConfig::default()
        },
        Arc::new(StaticCredentials::default()),
    );
    (engine, store)
}
