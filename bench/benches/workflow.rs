//! W3 (a 10-step chain of component nodes) and W4 (one trigger, 100
//! parallel branches, a Merge) from docs/performance.md, on the durable embedded
//! store (SQLite, WAL, `synchronous=FULL`), next to bare wasmtime
//! instantiate + call of the same component measured in the same run.
//!
//! Run with `cargo bench -p n8n-work-bench --bench workflow`;
//! `WORKFLOW_BENCH_RUNS` (default 300) sets the concurrent W3 runs.

#![allow(missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use n8n_work_engine::{Catalog, Engine, EngineConfig, StaticCredentials, SystemClock};
use n8n_work_model::Workflow;
use n8n_work_runtime::{Runtime, RuntimeConfig};
use n8n_work_store::{DEFAULT_TENANT as T, ExecutionStatus, Store};
use tokio_util::sync::CancellationToken;

const NOOP: &str = r#"{"mode":"noop"}"#;

fn chain(steps: usize) -> String {
    let mut yaml = String::from("name: w3\nnodes:\n  - {id: start, type: manual}\n");
    for i in 0..steps {
        yaml.push_str(&format!(
            "  - {{id: s{i}, type: builtin:test-guest, params: {NOOP}}}\n"
        ));
    }
    yaml.push_str("connections:\n  - {from: start, to: s0}\n");
    for i in 1..steps {
        yaml.push_str(&format!("  - {{from: s{}, to: s{i}}}\n", i - 1));
    }
    yaml
}

fn fan_out(branches: usize) -> String {
    let mut yaml = String::from(
        "name: w4\nnodes:\n  - {id: start, type: manual}\n  - {id: all, type: merge}\n",
    );
    for i in 0..branches {
        yaml.push_str(&format!(
            "  - {{id: b{i}, type: builtin:test-guest, params: {NOOP}}}\n"
        ));
    }
    yaml.push_str("connections:\n");
    for i in 0..branches {
        yaml.push_str(&format!(
            "  - {{from: start, to: b{i}}}\n  - {{from: b{i}, to: all, input: '{i}'}}\n"
        ));
    }
    yaml
}

/// An engine on `store`; `starts_here` runs each run in the process that
/// starts it, as `serve` does on one machine, else through the workers'
/// queue, as API processes do.
async fn engine(store: Store, starts_here: bool) -> Engine {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 256,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let catalog = Catalog::builtins(Arc::new(runtime)).await.expect("catalog");
    Engine::new(
        store,
        Arc::new(catalog),
        Arc::new(SystemClock),
        EngineConfig {
            concurrency: 128,
            starts_here,
            ..EngineConfig::default()
        },
        Arc::new(StaticCredentials::default()),
    )
}

/// Starts `runs` runs of `yaml` at once and waits for all; returns the wall time.
async fn fire(engine: &Engine, yaml: &str, runs: usize) -> Duration {
    let workflow = Workflow::from_yaml(yaml).expect("workflow");
    let version = engine.deploy(T, &workflow).await.expect("deploy");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(runs);
    let starts: Vec<_> = (0..runs)
        .map(|_| {
            let (engine, version) = (engine.clone(), version.clone());
            tokio::spawn(async move {
                engine
                    .start(T, &version, vec![], None)
                    .await
                    .expect("start")
            })
        })
        .collect();
    for start in starts {
        ids.push(start.await.expect("start task"));
    }
    for id in ids {
        let row = engine.wait(T, &id).await.expect("wait");
        assert_eq!(row.status, ExecutionStatus::Succeeded, "{:?}", row.error);
    }
    started.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("WORKFLOW_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async move {
        // The peer: bare instantiate + call of the same component.
        let bare = n8n_work_bench::bare::step(n8n_work_builtins::TEST_GUEST, NOOP);
        for _ in 0..200 {
            bare().await;
        }
        let mut samples = Vec::new();
        for _ in 0..2_000 {
            let t = Instant::now();
            bare().await;
            samples.push(t.elapsed());
        }
        let bare_p50 = median(samples);
        println!("W3: 10-step chain of component nodes (plus the trigger), SQLite synchronous=FULL");
        println!("  bare wasmtime instantiate + call, p50:        {:>9.1} µs", bare_p50.as_secs_f64() * 1e6);

        for (starts_here, path) in [
            (false, "runs through the workers' queue (API processes)"),
            (true, "runs driven where they start (serve on one machine)"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open_sqlite(&dir.path().join("bench.db")).await.expect("store");
            let engine = engine(store.clone(), starts_here).await;
            let shutdown = CancellationToken::new();
            let worker = tokio::spawn({
                let (engine, shutdown) = (engine.clone(), shutdown.clone());
                async move { engine.serve(shutdown).await }
            });
            println!("  {path}:");
            // One run at a time: what a step costs the engine end to end.
            let w3 = chain(10);
            fire(&engine, &w3, 1).await;
            let mut per_step = Vec::new();
            for _ in 0..30 {
                per_step.push(fire(&engine, &w3, 1).await / 11);
            }
            let per_step = median(per_step);
            // Many runs at once: durable steps per second.
            let before = store.stats();
            let wall = fire(&engine, &w3, runs).await;
            let after = store.stats();
            let steps = runs * 11;
            println!("    one run at a time, per step (median of 30): {:>9.1} µs", per_step.as_secs_f64() * 1e6);
            println!(
                "    engine overhead per step above bare:        {:>9.1} µs  ({:.1}x bare)",
                (per_step.as_secs_f64() - bare_p50.as_secs_f64()) * 1e6,
                per_step.as_secs_f64() / bare_p50.as_secs_f64()
            );
            println!(
                "    {runs} runs at once: {steps} durable steps in {:.2} s = {:.0} steps/s ({} writes in {} commits)",
                wall.as_secs_f64(),
                steps as f64 / wall.as_secs_f64(),
                after.writes - before.writes,
                after.commits - before.commits,
            );
            if !starts_here {
                shutdown.cancel();
                worker.await.expect("worker").expect("engine");
                continue;
            }

            // W4: one trigger, 100 branches, a Merge.
            let w4 = fan_out(100);
            fire(&engine, &w4, 1).await;
            let mut times = Vec::new();
            for _ in 0..10 {
                times.push(fire(&engine, &w4, 1).await);
            }
            let w4_time = median(times);
            println!("W4: one trigger -> 100 parallel component branches -> Merge");
            println!(
                "  time to completion (median of 10):            {:>9.1} ms  = {:.0} steps/s; {:.1}x the bare cost of its 100 calls done one after another",
                w4_time.as_secs_f64() * 1e3,
                102.0 / w4_time.as_secs_f64(),
                w4_time.as_secs_f64() / (bare_p50.as_secs_f64() * 100.0),
            );
            shutdown.cancel();
            worker.await.expect("worker").expect("engine");
        }
    });
}
