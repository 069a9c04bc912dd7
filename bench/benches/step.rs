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
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bare {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "n8n-work:node/node",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:random": wasmtime_wasi::p2::bindings::random,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "n8n-work:node/binary.writer": super::NoWriter,
        },
    });
}

/// The bare host's imports are stand-ins: the trivial node never calls them.
pub struct NoWriter;

struct Bare {
    table: ResourceTable,
    wasi: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
}

impl wasmtime_wasi_http::WasiHttpView for Bare {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

use bare::n8n_work::node::{binary, credentials, log, state, types};

impl types::Host for Bare {}
impl log::Host for Bare {
    async fn log(&mut self, _: log::Level, _: String) -> wasmtime::Result<()> {
        Ok(())
    }
}
impl credentials::Host for Bare {
    async fn get(&mut self, _: String) -> wasmtime::Result<Result<String, String>> {
        Ok(Err(String::new()))
    }
}
impl state::Host for Bare {
    async fn get(&mut self, _: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    async fn set(&mut self, _: String, _: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        Ok(Ok(()))
    }
    async fn delete(&mut self, _: String) -> wasmtime::Result<()> {
        Ok(())
    }
}
impl binary::Host for Bare {
    async fn read(
        &mut self,
        _: String,
        _: u64,
        _: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(Err(String::new()))
    }
}
impl binary::HostWriter for Bare {
    async fn new(&mut self, _: String, _: Option<String>) -> wasmtime::Result<Resource<NoWriter>> {
        Ok(self.table.push(NoWriter)?)
    }
    async fn append(
        &mut self,
        _: Resource<NoWriter>,
        _: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(Ok(()))
    }
    async fn finish(
        &mut self,
        _: Resource<NoWriter>,
    ) -> wasmtime::Result<Result<types::BinaryRef, String>> {
        Ok(Err(String::new()))
    }
    async fn drop(&mut self, r: Resource<NoWriter>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

fn bare_engine() -> Engine {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(64);
    pool.max_memory_size(1 << 30);
    pool.linear_memory_keep_resident(1 << 20);
    pool.table_keep_resident(1 << 20);
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).expect("engine")
}

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
        let engine = bare_engine();
        let component = Component::new(&engine, wasm).expect("component");
        let mut linker = Linker::<Bare>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
        types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        credentials::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        state::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        binary::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).expect("wasi:http");
        let pre =
            bare::NodePre::new(linker.instantiate_pre(&component).expect("pre")).expect("node pre");
        let ticker_engine = engine.clone();
        std::thread::spawn(move || {
            loop {
                ticker_engine.increment_epoch();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let context = types::Context {
            workflow_id: "w".into(),
            execution_id: "e".into(),
            node_id: "n".into(),
            idempotency_key: "k".into(),
            attempt: 1,
            params: r#"{"mode":"noop"}"#.into(),
            resume: None,
        };
        let bare_step = {
            let (engine, pre, context) = (engine.clone(), pre.clone(), context.clone());
            move || {
                let (engine, pre, context) = (engine.clone(), pre.clone(), context.clone());
                async move {
                    let wasi = WasiCtx::builder().build();
                    let mut store = Store::new(
                        &engine,
                        Bare {
                            table: ResourceTable::new(),
                            wasi,
                            http: Default::default(),
                        },
                    );
                    store.set_fuel(1_000_000_000).unwrap();
                    store.set_epoch_deadline(1000);
                    let node = pre
                        .instantiate_async(&mut store)
                        .await
                        .expect("instantiate");
                    node.call_execute(&mut store, &context, &[])
                        .await
                        .expect("call")
                        .expect("ok");
                }
            }
        };

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
