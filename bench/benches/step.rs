//! Instantiate + execute of a trivial component: n8n-work's
//! `Runtime::run_step` next to bare wasmtime (`InstancePre`, a fresh
//! `Store` with fuel and an epoch deadline, one call of the same export),
//! measured in the same run with the same pooling settings.
//!
//! Run with `cargo bench -p n8n-work-bench --bench step`.

#![allow(missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use n8n_work_runtime::{Runtime, RuntimeConfig, StepRequest};

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

fn figures(mut samples: Vec<Duration>, wall: Duration) -> Figures {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Figures {
        p50: at(0.50),
        p99: at(0.99),
        per_second: samples.len() as f64 / wall.as_secs_f64(),
    }
}

/// Runs `step` `iters` times on each of `threads` tasks; returns latencies
/// and wall time.
async fn measure<F, Fut>(threads: usize, iters: usize, step: F) -> Figures
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    for _ in 0..iters.min(500) {
        step().await;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..threads)
        .map(|_| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(iters);
                for _ in 0..iters {
                    let t = Instant::now();
                    step().await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.expect("bench task"));
    }
    figures(samples, started.elapsed())
}

fn main() {
    let iters: usize = std::env::var("STEP_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async move {
        let wasm = n8n_work_builtins::TEST_GUEST;

        // Bare wasmtime.
        let bare_step = n8n_work_bench::bare::step(wasm, r#"{"mode":"noop"}"#);

        // n8n-work.
        let runtime = Arc::new(
            Runtime::new(RuntimeConfig {
                max_instances: 64,
                ..RuntimeConfig::default()
            })
            .expect("runtime"),
        );
        let node = runtime.load(wasm).await.expect("load");
        let ours_step = move || {
            let (runtime, node) = (runtime.clone(), node.clone());
            async move {
                let report = runtime
                    .run_step(
                        &node,
                        StepRequest::new("n", serde_json::json!({"mode": "noop"})),
                    )
                    .await;
                report.result.expect("step ok");
            }
        };

        println!("instantiate + execute of a trivial component ({iters} steps per task)");
        println!("{:<34} {:>10} {:>10} {:>12}", "", "p50", "p99", "steps/s");
        for tasks in [1, threads] {
            let bare = measure(tasks, iters, bare_step.clone()).await;
            let ours = measure(tasks, iters, ours_step.clone()).await;
            for (name, f) in [("bare wasmtime", &bare), ("n8n-work run_step", &ours)] {
                println!(
                    "{:<34} {:>8.1}µs {:>8.1}µs {:>12.0}",
                    format!("{name}, {tasks} task(s)"),
                    f.p50.as_secs_f64() * 1e6,
                    f.p99.as_secs_f64() * 1e6,
                    f.per_second
                );
            }
            println!(
                "  ratio n8n-work/bare: {:.2}x throughput, +{:.1}µs p50 per step",
                ours.per_second / bare.per_second,
                (ours.p50.as_secs_f64() - bare.p50.as_secs_f64()) * 1e6
            );
        }
    });
}
